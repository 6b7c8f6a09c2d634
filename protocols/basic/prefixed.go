package basic

import (
	"bytes"
	"fmt"

	"github.com/gyre-go/gyre"
)

// DefaultMaxStringLength is the longest string a PrefixedStringReceiver or a
// NetstringReceiver accepts when its MaxLength is 0.
const DefaultMaxStringLength = 99999

// keepBuffer is the largest buffer a receiver keeps for reuse after
// delivering a string that arrived in pieces.
const keepBuffer = 64 << 10

// Prefix is the type of the length prefix of a PrefixedStringReceiver: its
// size (1, 2 or 4 bytes) is the size of the prefix.
type Prefix interface {
	uint8 | uint16 | uint32
}

// Int8StringReceiver, Int16StringReceiver and Int32StringReceiver receive
// strings each preceded by its length as an unsigned big-endian integer of
// 1, 2 or 4 bytes.
type (
	Int8StringReceiver  = PrefixedStringReceiver[uint8]
	Int16StringReceiver = PrefixedStringReceiver[uint16]
	Int32StringReceiver = PrefixedStringReceiver[uint32]
)

// PrefixedStringReceiver is a gyre.Protocol that receives strings each
// preceded by its length, an unsigned big-endian integer of the size of P,
// and hands each string to String. Use it through Int8StringReceiver,
// Int16StringReceiver or Int32StringReceiver, as it is or embedded in a type
// of your own; the fields must not change once the connection is made.
//
// A prefix announcing more than MaxLength bytes is an error: the receiver
// delivers nothing more, calls Failed with an error wrapping
// ErrStringTooLong, and closes the connection with the transport's
// LoseConnection. Err then returns that error, and the reason passed to Lost
// wraps it too.
//
// String gets a slice that is valid only until String returns: when the whole
// string was inside one chunk of received data it points into that chunk,
// which the reactor reuses; otherwise into the receiver's buffer. Copy what
// must be kept.
type PrefixedStringReceiver[P Prefix] struct {
	// MaxLength is the longest string accepted. 0 (or less) means
	// DefaultMaxStringLength. The prefix may bound it further (255 bytes
	// for a one-byte prefix).
	MaxLength int

	// String is called with each string received. nil discards them.
	String func(s []byte)
	// Failed, if not nil, is called once when the peer breaks the format
	// (announces a string over MaxLength), with the error, just before the
	// connection is closed; it may still write to the transport.
	Failed func(err error)
	// Connected, if not nil, is called by ConnectionMade with the transport.
	Connected func(t gyre.Transport)
	// Lost, if not nil, is called by ConnectionLost with the reason, which
	// also wraps the receiver's error if the receiver closed the
	// connection because of one.
	Lost func(reason error)

	transport gyre.Transport

	head    [4]byte // the prefix being received
	nhead   int     // bytes of it received
	inBody  bool    // the prefix has been read, the string is being received
	want    int     // length of the string being received
	body    []byte  // the part of the string received in earlier chunks
	later   [][]byte
	running bool
	stopped bool
	lost    bool
	err     error
}

var _ gyre.Protocol = (*Int32StringReceiver)(nil)

// PrefixSize returns the size of the length prefix in bytes: 1, 2 or 4.
func (r *PrefixedStringReceiver[P]) PrefixSize() int { return prefixSize[P]() }

func prefixSize[P Prefix]() int {
	switch any(P(0)).(type) {
	case uint8:
		return 1
	case uint16:
		return 2
	default:
		return 4
	}
}

// maxPrefixed returns the largest length the prefix can hold.
func maxPrefixed[P Prefix]() uint64 { return uint64(^P(0)) }

func (r *PrefixedStringReceiver[P]) maxLength() int {
	if r.MaxLength <= 0 {
		return DefaultMaxStringLength
	}
	return r.MaxLength
}

// ConnectionMade implements gyre.Protocol: it keeps t (see Transport) and
// calls Connected.
func (r *PrefixedStringReceiver[P]) ConnectionMade(t gyre.Transport) {
	r.transport = t
	if r.Connected != nil {
		r.Connected(t)
	}
}

// DataReceived implements gyre.Protocol: it delivers the strings that data
// completes and keeps the start of an unfinished one for the next call. It
// does nothing once the receiver has stopped (after an error,
// LoseConnection or ConnectionLost).
func (r *PrefixedStringReceiver[P]) DataReceived(data []byte) {
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

func (r *PrefixedStringReceiver[P]) parse(data []byte) {
	size := prefixSize[P]()
	for len(data) > 0 && !r.stopped {
		if !r.inBody {
			var head []byte
			if r.nhead == 0 && len(data) >= size {
				head, data = data[:size], data[size:]
			} else {
				n := copy(r.head[r.nhead:size], data)
				r.nhead += n
				data = data[n:]
				if r.nhead < size {
					return
				}
				head = r.head[:size]
				r.nhead = 0
			}
			var n uint64
			for _, b := range head {
				n = n<<8 | uint64(b)
			}
			if n > uint64(r.maxLength()) {
				r.fail(fmt.Errorf("%w: %d bytes announced, limit %d", ErrStringTooLong, n, r.maxLength()))
				return
			}
			if n == 0 {
				r.deliver([]byte{})
				continue
			}
			r.want = int(n)
			r.inBody = true
			continue
		}
		if len(r.body) == 0 && len(data) >= r.want {
			s := data[:r.want]
			data = data[r.want:]
			r.inBody = false
			r.deliver(s)
			continue
		}
		n := min(r.want-len(r.body), len(data))
		r.body = append(r.body, data[:n]...)
		data = data[n:]
		if len(r.body) == r.want {
			s := r.body
			r.body = nil
			r.inBody = false
			r.deliver(s)
			if !r.stopped && cap(s) <= keepBuffer {
				r.body = s[:0]
			}
		}
	}
}

func (r *PrefixedStringReceiver[P]) deliver(s []byte) {
	if r.String != nil {
		r.String(s)
	}
}

func (r *PrefixedStringReceiver[P]) stop() {
	r.stopped = true
	r.body = nil
	r.later = nil
}

func (r *PrefixedStringReceiver[P]) fail(err error) {
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
// unfinished string and calls Lost.
func (r *PrefixedStringReceiver[P]) ConnectionLost(reason error) {
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
func (r *PrefixedStringReceiver[P]) Transport() gyre.Transport { return r.transport }

// Err returns the error that made the receiver close the connection (one
// wrapping ErrStringTooLong), or nil.
func (r *PrefixedStringReceiver[P]) Err() error { return r.err }

// LoseConnection stops the receiver, so that no more strings are delivered,
// not even those already received, and closes the connection with the
// transport's LoseConnection (what was written is still sent).
func (r *PrefixedStringReceiver[P]) LoseConnection() {
	r.stop()
	if r.transport != nil {
		r.transport.LoseConnection()
	}
}

// SendString writes s preceded by its length. It returns an error wrapping
// ErrStringTooLong, and writes nothing, when the length does not fit the
// prefix; gyre.ErrNotConnected before ConnectionMade; and otherwise what the
// transport's WriteSequence returns.
func (r *PrefixedStringReceiver[P]) SendString(s []byte) error {
	if uint64(len(s)) > maxPrefixed[P]() {
		return fmt.Errorf("%w: %d bytes do not fit a %d-byte prefix", ErrStringTooLong, len(s), prefixSize[P]())
	}
	if r.transport == nil {
		return gyre.ErrNotConnected
	}
	size := prefixSize[P]()
	var head [4]byte
	for i, n := size-1, len(s); i >= 0; i, n = i-1, n>>8 {
		head[i] = byte(n)
	}
	return r.transport.WriteSequence([][]byte{head[:size], s})
}
