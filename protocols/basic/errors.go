package basic

import (
	"errors"
	"fmt"
)

// Errors reported when the peer breaks a framing rule. The value a receiver
// reports wraps one of them with detail; compare with errors.Is.
var (
	// ErrLineTooLong: a line (or the start of one) is longer than the
	// LineReceiver's MaxLength.
	ErrLineTooLong = errors.New("basic: line too long")
	// ErrStringTooLong: a length-prefixed string or a netstring announces
	// more bytes than the receiver's MaxLength; from SendString: the string
	// does not fit the prefix.
	ErrStringTooLong = errors.New("basic: string too long")
	// ErrBadNetstring: the bytes received are not a well-formed netstring
	// (a length that is empty, has a leading zero or a non-digit, or data
	// not followed by a comma).
	ErrBadNetstring = errors.New("basic: malformed netstring")
)

// lostReason returns the reason a receiver passes to its Lost hook: reason
// itself, or, when the receiver closed the connection because of protocolErr,
// an error wrapping both (errors.Is works for each).
func lostReason(protocolErr, reason error) error {
	if protocolErr == nil {
		return reason
	}
	return fmt.Errorf("%w; %w", protocolErr, reason)
}
