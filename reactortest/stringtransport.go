package reactortest

import (
	"errors"
	"net"

	"github.com/gyre-go/gyre"
)

// StringTransport is an in-memory gyre.TCPTransport for unit-testing a
// protocol without sockets or a reactor. It keeps every byte written to it
// (Value, Clear) and records what the protocol asked of it: closing
// (Disconnecting, Aborted, WriteClosed), pausing the reading side (Paused),
// the registered producer (Producer) and the socket options set (NoDelay,
// KeepAlive). Nothing is sent anywhere and no callback is made on its own:
// the test drives the protocol, either by calling its methods directly or
// through Receive and Lose, which also keep the protocol to the rules a real
// reactor follows.
//
// The zero value is ready to use and reports the default addresses;
// NewStringTransport and Connect return one as well. Set Local and Remote
// before use to report other addresses.
//
// Write and WriteSequence return gyre.ErrNotConnected once LoseConnection,
// AbortConnection, StopProducing or LoseWriteConnection has been called, or
// once Lose has ended the connection, and record nothing then.
//
// A StringTransport is not safe for concurrent use: use it from one
// goroutine, as a reactor's loop goroutine would.
type StringTransport struct {
	// Local and Remote are the addresses LocalAddr and RemoteAddr report.
	// When nil, LocalAddr reports 127.0.0.1:0 and RemoteAddr 127.0.0.1:12345.
	Local, Remote net.Addr

	proto gyre.Protocol
	out   []byte

	disconnecting bool
	aborted       bool
	writeClosed   bool
	lost          bool
	paused        bool

	producer  gyre.Producer
	streaming bool

	noDelay, keepAlive bool
}

var _ gyre.TCPTransport = (*StringTransport)(nil)

// DefaultLocalAddr and DefaultRemoteAddr are the addresses a StringTransport
// reports when Local or Remote is nil.
var (
	DefaultLocalAddr  net.Addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0}
	DefaultRemoteAddr net.Addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 12345}
)

// NewStringTransport returns an empty StringTransport with the default
// addresses. It is not attached to a protocol: Receive and Lose need one
// attached by Connect or Attach.
func NewStringTransport() *StringTransport { return &StringTransport{} }

// Connect returns a new StringTransport attached to p, after calling
// p.ConnectionMade with it, as a reactor does when a connection is made.
func Connect(p gyre.Protocol) *StringTransport {
	t := &StringTransport{}
	t.Attach(p)
	return t
}

// Attach makes p the protocol that Receive and Lose drive and calls
// p.ConnectionMade(t).
func (t *StringTransport) Attach(p gyre.Protocol) {
	t.proto = p
	p.ConnectionMade(t)
}

// Protocol returns the attached protocol, or nil.
func (t *StringTransport) Protocol() gyre.Protocol { return t.proto }

// errNoProtocol is the panic value of Receive and Lose without a protocol.
var errNoProtocol = errors.New("reactortest: StringTransport has no protocol attached (use Connect or Attach)")

// Receive hands data to the attached protocol's DataReceived as a reactor
// would: the protocol gets a private copy of data, which Receive overwrites
// with 0xEE bytes once DataReceived returns, so a protocol that keeps a
// reference to received bytes beyond the call (which it must not) sees them
// change and its test fails. Receive does nothing once Lose has ended the
// connection, and panics if no protocol is attached.
func (t *StringTransport) Receive(data []byte) {
	if t.proto == nil {
		panic(errNoProtocol)
	}
	if t.lost {
		return
	}
	scratch := append([]byte(nil), data...)
	t.proto.DataReceived(scratch)
	for i := range scratch {
		scratch[i] = 0xEE
	}
}

// Lose ends the connection as a reactor would once it has closed: it calls
// the attached protocol's ConnectionLost(reason), then StopProducing on the
// registered producer, if any. A nil reason means gyre.ErrConnectionAborted
// if the protocol aborted the connection and gyre.ErrConnectionDone
// otherwise. Only the first call does anything; Write fails afterwards. Lose
// panics if no protocol is attached.
func (t *StringTransport) Lose(reason error) {
	if t.proto == nil {
		panic(errNoProtocol)
	}
	if t.lost {
		return
	}
	t.lost = true
	if reason == nil {
		reason = gyre.ErrConnectionDone
		if t.aborted {
			reason = gyre.ErrConnectionAborted
		}
	}
	p := t.producer
	t.producer = nil
	t.proto.ConnectionLost(reason)
	if p != nil {
		p.StopProducing()
	}
}

// Lost reports whether Lose has been called.
func (t *StringTransport) Lost() bool { return t.lost }

// Value returns a copy of the bytes written since the transport was made or
// last cleared.
func (t *StringTransport) Value() []byte { return append([]byte(nil), t.out...) }

// Clear forgets the bytes written so far.
func (t *StringTransport) Clear() { t.out = t.out[:0] }

// closed reports whether writes are refused.
func (t *StringTransport) closed() bool {
	return t.disconnecting || t.aborted || t.writeClosed || t.lost
}

// Write implements gyre.Transport: it records data.
func (t *StringTransport) Write(data []byte) error {
	if t.closed() {
		return gyre.ErrNotConnected
	}
	t.out = append(t.out, data...)
	return nil
}

// WriteSequence implements gyre.Transport: it records the slices in order.
func (t *StringTransport) WriteSequence(data [][]byte) error {
	if t.closed() {
		return gyre.ErrNotConnected
	}
	for _, b := range data {
		t.out = append(t.out, b...)
	}
	return nil
}

// LoseConnection implements gyre.Transport: it records the request
// (Disconnecting reports it).
func (t *StringTransport) LoseConnection() { t.disconnecting = true }

// AbortConnection implements gyre.Transport: it records the request (Aborted
// reports it).
func (t *StringTransport) AbortConnection() { t.aborted = true }

// LoseWriteConnection implements gyre.Transport: it records the request
// (WriteClosed reports it).
func (t *StringTransport) LoseWriteConnection() { t.writeClosed = true }

// Disconnecting reports whether LoseConnection has been called.
func (t *StringTransport) Disconnecting() bool { return t.disconnecting }

// Aborted reports whether AbortConnection or StopProducing has been called.
func (t *StringTransport) Aborted() bool { return t.aborted }

// WriteClosed reports whether LoseWriteConnection has been called.
func (t *StringTransport) WriteClosed() bool { return t.writeClosed }

// LocalAddr implements gyre.Transport: Local, or DefaultLocalAddr.
func (t *StringTransport) LocalAddr() net.Addr {
	if t.Local == nil {
		return DefaultLocalAddr
	}
	return t.Local
}

// RemoteAddr implements gyre.Transport: Remote, or DefaultRemoteAddr.
func (t *StringTransport) RemoteAddr() net.Addr {
	if t.Remote == nil {
		return DefaultRemoteAddr
	}
	return t.Remote
}

// RegisterProducer implements gyre.Transport: it records p and streaming. It
// returns gyre.ErrProducerRegistered if a producer is registered already.
// The transport never pauses or resumes the producer itself.
func (t *StringTransport) RegisterProducer(p gyre.Producer, streaming bool) error {
	if t.producer != nil {
		return gyre.ErrProducerRegistered
	}
	t.producer, t.streaming = p, streaming
	return nil
}

// UnregisterProducer implements gyre.Transport.
func (t *StringTransport) UnregisterProducer() { t.producer, t.streaming = nil, false }

// Producer returns the registered producer and whether it was registered as
// a streaming one; it returns nil, false when none is registered.
func (t *StringTransport) Producer() (gyre.Producer, bool) { return t.producer, t.streaming }

// PauseProducing implements gyre.Transport: Paused reports true until
// ResumeProducing.
func (t *StringTransport) PauseProducing() { t.paused = true }

// ResumeProducing implements gyre.Transport.
func (t *StringTransport) ResumeProducing() { t.paused = false }

// Paused reports whether the protocol has paused reading (PauseProducing
// without a later ResumeProducing).
func (t *StringTransport) Paused() bool { return t.paused }

// StopProducing implements gyre.Transport: as AbortConnection.
func (t *StringTransport) StopProducing() { t.AbortConnection() }

// SetNoDelay implements gyre.TCPTransport: it records on (NoDelay reports it)
// and returns nil.
func (t *StringTransport) SetNoDelay(on bool) error {
	t.noDelay = on
	return nil
}

// SetKeepAlive implements gyre.TCPTransport: it records on (KeepAlive
// reports it) and returns nil.
func (t *StringTransport) SetKeepAlive(on bool) error {
	t.keepAlive = on
	return nil
}

// NoDelay reports the last value passed to SetNoDelay (false before any).
func (t *StringTransport) NoDelay() bool { return t.noDelay }

// KeepAlive reports the last value passed to SetKeepAlive (false before any).
func (t *StringTransport) KeepAlive() bool { return t.keepAlive }
