package basic

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/gyre-go/gyre"
)

// NetstringReceiver is a gyre.Protocol that receives netstrings: each string
// is sent as its length in decimal, a colon, the bytes, and a comma
// ("5:hello,"), and handed to String. Use it as it is or embedded in a type
// of your own; the fields must not change once the connection is made.
//
// Parsing is strict. A length that is empty, has a leading zero (only "0"
// itself may start with 0) or a byte other than a decimal digit before the
// colon, or a string not followed by a comma, is an error wrapping
// ErrBadNetstring; a length over MaxLength is an error wrapping
// ErrStringTooLong, found as soon as the digits received exceed it. On an
// error the receiver delivers nothing more, calls Failed, and closes the
// connection with the transport's LoseConnection. Err then returns the
// error, and the reason passed to Lost wraps it too.
//
// A string is delivered once its comma has arrived. String gets a slice that
// is valid only until String returns: when the whole string and its comma were
// inside one chunk of received data it points into that chunk, which the
// reactor reuses; otherwise into the receiver's buffer. Copy what must be
// kept.
type NetstringReceiver struct {
	// MaxLength is the longest string accepted. 0 (or less) means
	// DefaultMaxStringLength.
	MaxLength int

	// String is called with each string received. nil discards them.
	String func(s []byte)
	// Failed, if not nil, is called once when the peer breaks the format,
	// with the error, just before the connection is closed; it may still
	// write to the transport.
	Failed func(err error)
	// Connected, if not nil, is called by ConnectionMade with the transport.
	Connected func(t gyre.Transport)
	// Lost, if not nil, is called by ConnectionLost with the reason, which
	// also wraps the receiver's error if the receiver closed the
	// connection because of one.
	Lost func(reason error)

	transport gyre.Transport

	state   netstringState
	ndigits int    // digits of the length received
	want    int    // the length (so far, while reading digits)
	body    []byte // the part of the string received in earlier chunks
	later   [][]byte
	running bool
	stopped bool
	lost    bool
	err     error
}

type netstringState uint8

const (
	nsLength netstringState = iota // reading the digits and the colon
	nsBody                         // reading the string
	nsComma                        // the string is in body; waiting for the comma
)

var _ gyre.Protocol = (*NetstringReceiver)(nil)

func (r *NetstringReceiver) maxLength() int {
	if r.MaxLength <= 0 {
		return DefaultMaxStringLength
	}
	return r.MaxLength
}

// ConnectionMade implements gyre.Protocol: it keeps t (see Transport) and
// calls Connected.
func (r *NetstringReceiver) ConnectionMade(t gyre.Transport) {
	r.transport = t
	if r.Connected != nil {
		r.Connected(t)
	}
}

// DataReceived implements gyre.Protocol: it delivers the netstrings that data
// completes and keeps the start of an unfinished one for the next call. It
// does nothing once the receiver has stopped (after an error,
// LoseConnection or ConnectionLost).
func (r *NetstringReceiver) DataReceived(data []byte) {
	if r.stopped || len(data) == 0 {
		return
	}
	if r.running {
		// From inside String: handle these bytes after the current ones.
		r.later = append(r.later, bytes.Clone(data))
		return
	}
	r.running = true
	done := false
	defer func() {
		r.running = false
		if !done {
			r.stop() // String panicked
		}
	}()
	r.parse(data)
	for len(r.later) > 0 && !r.stopped {
		next := r.later[0]
		r.later[0] = nil
		r.later = r.later[1:]
		r.parse(next)
	}
	r.later = nil
	done = true
}

func (r *NetstringReceiver) parse(data []byte) {
	limit := r.maxLength()
	for len(data) > 0 && !r.stopped {
		switch r.state {
		case nsLength:
			c := data[0]
			data = data[1:]
			switch {
			case c == ':':
				if r.ndigits == 0 {
					r.fail(fmt.Errorf("%w: empty length", ErrBadNetstring))
					return
				}
				r.state = nsBody
			case c >= '0' && c <= '9':
				d := int(c - '0')
				if r.ndigits > 0 && r.want == 0 {
					r.fail(fmt.Errorf("%w: leading zero in length", ErrBadNetstring))
					return
				}
				// want*10 + d > limit, written so that it cannot overflow.
				if limit < d || r.want > (limit-d)/10 {
					r.fail(fmt.Errorf("%w: length over %d", ErrStringTooLong, limit))
					return
				}
				r.want = r.want*10 + d
				r.ndigits++
			default:
				r.fail(fmt.Errorf("%w: byte %q in length", ErrBadNetstring, c))
				return
			}
		case nsBody:
			if len(r.body) == 0 && len(data) > r.want {
				// The whole string and its comma are here.
				s := data[:r.want]
				if data[r.want] != ',' {
					r.fail(fmt.Errorf("%w: byte %q where the comma belongs", ErrBadNetstring, data[r.want]))
					return
				}
				data = data[r.want+1:]
				r.reset()
				r.deliver(s)
				continue
			}
			n := min(r.want-len(r.body), len(data))
			r.body = append(r.body, data[:n]...)
			data = data[n:]
			if len(r.body) == r.want {
				r.state = nsComma
			}
		case nsComma:
			c := data[0]
			data = data[1:]
			if c != ',' {
				r.fail(fmt.Errorf("%w: byte %q where the comma belongs", ErrBadNetstring, c))
				return
			}
			s := r.body
			r.body = nil
			r.reset()
			r.deliver(s)
			if !r.stopped && cap(s) <= keepBuffer {
				r.body = s[:0]
			}
		}
	}
}

// reset prepares for the next netstring.
func (r *NetstringReceiver) reset() {
	r.state = nsLength
	r.ndigits = 0
	r.want = 0
}

func (r *NetstringReceiver) deliver(s []byte) {
	if r.String != nil {
		r.String(s)
	}
}

func (r *NetstringReceiver) stop() {
	r.stopped = true
	r.body = nil
	r.later = nil
}

func (r *NetstringReceiver) fail(err error) {
	r.err = err
	r.stop()
	if r.Failed != nil {
		r.Failed(err)
	}
	if r.transport != nil {
		r.transport.LoseConnection()
	}
}

// ConnectionLost implements gyre.Protocol: it stops the receiver, drops an
// unfinished netstring and calls Lost.
func (r *NetstringReceiver) ConnectionLost(reason error) {
	if r.lost {
		return
	}
	r.lost = true
	r.stop()
	if r.Lost != nil {
		r.Lost(lostReason(r.err, reason))
	}
}

// Transport returns the transport given to ConnectionMade, or nil before it.
func (r *NetstringReceiver) Transport() gyre.Transport { return r.transport }

// Err returns the error that made the receiver close the connection (one
// wrapping ErrBadNetstring or ErrStringTooLong), or nil.
func (r *NetstringReceiver) Err() error { return r.err }

// LoseConnection stops the receiver, so that no more strings are delivered,
// not even those already received, and closes the connection with the
// transport's LoseConnection (what was written is still sent).
func (r *NetstringReceiver) LoseConnection() {
	r.stop()
	if r.transport != nil {
		r.transport.LoseConnection()
	}
}

// SendString writes s as a netstring. It returns gyre.ErrNotConnected before
// ConnectionMade, and otherwise what the transport's WriteSequence returns.
func (r *NetstringReceiver) SendString(s []byte) error {
	if r.transport == nil {
		return gyre.ErrNotConnected
	}
	var head [24]byte
	h := strconv.AppendInt(head[:0], int64(len(s)), 10)
	h = append(h, ':')
	return r.transport.WriteSequence([][]byte{h, s, {','}})
}
