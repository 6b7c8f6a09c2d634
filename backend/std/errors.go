package std

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/gyre-go/gyre"
)

// reasonError is a connection error: one of gyre's sentinel reasons, wrapping
// the system's error that caused it, so that errors.Is finds both.
type reasonError struct {
	kind error
	err  error
}

func (e *reasonError) Error() string { return e.kind.Error() + ": " + e.err.Error() }

func (e *reasonError) Unwrap() []error { return []error{e.kind, e.err} }

func wrap(kind, err error) error {
	if err == nil {
		return kind
	}
	return &reasonError{kind: kind, err: err}
}

// lostError is the reason for a connection that broke while reading or
// writing (reset by the peer, a write to a vanished peer, ...).
func lostError(err error) error { return wrap(gyre.ErrConnectionLost, err) }

// panicError is the reason for a connection aborted because a callback
// panicked.
func panicError(v any) error {
	return fmt.Errorf("%w: panic in callback: %v", gyre.ErrConnectionAborted, v)
}

// dialError maps the outcome of a failed connection attempt to its reason.
// ctxErr is the attempt's context's error when the dial returned, bind tells
// whether a local address was asked for.
func dialError(err, ctxErr error, bind bool) error {
	var dnsErr *net.DNSError
	var sysErr *os.SyscallError
	switch {
	case errors.Is(ctxErr, context.DeadlineExceeded):
		return wrap(gyre.ErrTimeout, err)
	case errors.As(err, &dnsErr):
		return wrap(gyre.ErrDNSLookup, err)
	case errors.As(err, &sysErr) && sysErr.Syscall == "bind":
		return wrap(gyre.ErrBind, err)
	case isRefused(err):
		return wrap(gyre.ErrConnectionRefused, err)
	case bind && (errors.Is(err, errAddrInUse) || errors.Is(err, errAddrNotAvail)):
		return wrap(gyre.ErrBind, err)
	case isTimeout(err):
		return wrap(gyre.ErrTimeout, err)
	}
	return wrap(gyre.ErrConnectionLost, err)
}

// isRefused reports whether nothing listens at the address: the connection
// was refused or, for a Unix socket, the file does not exist.
func isRefused(err error) bool {
	return errors.Is(err, errConnRefused) || errors.Is(err, errNoEnt) || isRefusedOS(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// listenError is the error returned when a listening socket cannot be made.
func listenError(err error) error { return wrap(gyre.ErrBind, err) }

// addressError is the error for an address that cannot be used as given.
func addressError(addr, why string) error {
	return fmt.Errorf("%w %q: %s", gyre.ErrAddress, addr, why)
}

// isResourceShortage reports whether accept failed for lack of descriptors
// or memory, which waiting may cure.
func isResourceShortage(err error) bool {
	return errors.Is(err, errMFile) || errors.Is(err, errNFile) ||
		errors.Is(err, errNoBufs) || errors.Is(err, errNoMem)
}
