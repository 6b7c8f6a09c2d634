//go:build unix

package fdio

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
)

// Write buffer limits: a streaming producer is paused above highWater bytes
// queued and resumed below lowWater; an emptied buffer larger than keepBuf is
// given back rather than kept for reuse.
const (
	highWater = 64 << 10
	lowWater  = 16 << 10
	keepBuf   = 64 << 10
)

type connFlags uint16

const (
	fReadPaused     connFlags = 1 << iota // PauseProducing
	fReadClosed                           // the peer's end of file was seen
	fDisconnecting                        // LoseConnection: close once flushed
	fShutWrPending                        // LoseWriteConnection: shut down once flushed
	fWriteShut                            // the sending side is shut down
	fLosing                               // loss decided; reported by finish
	fClosed                               // ConnectionLost has been called
	fStreaming                            // the producer is a streaming one
	fProducerPaused                       // we paused the streaming producer
	fUnix                                 // a Unix socket: recvmsg, descriptor passing
	fStarted                              // ConnectionMade has been called
	fPullPending                          // the pull producer wrote: ask it for more once drained
	fEOFClosing                           // the peer finished: flush, then close, whatever the producer
	fStdio                                // a standard I/O transport: two descriptors (stdio.go)
)

// conn is a stream connection over a non-blocking socket. It is the Handler
// registered for its descriptor; tcpConn and unixConn give it the methods of
// the two transport interfaces. A standard I/O transport (stdioConn, flagged
// fStdio) is a conn too, over two descriptors: see stdio.go.
type conn struct {
	n        *Net
	fd       int
	flags    connFlags
	interest Interest
	proto    gyre.Protocol
	w        *wbuf      // what the socket has not taken yet; nil when idle
	x        *connExtra // what most connections never need
	producer gyre.Producer
	client   *connector // the connector that made it, for outgoing connections
}

// connExtra holds the rarely used parts of a connection, so that an idle
// connection stays small.
type connExtra struct {
	marks []fdMark // descriptors to send with bytes of w (Unix sockets)
	peer  net.Addr // the peer's address, kept when the socket closes
	stdio *stdioEnds
}

func (c *conn) extra() *connExtra {
	if c.x == nil {
		c.x = &connExtra{}
	}
	return c.x
}

func (c *conn) hasMarks() bool { return c.x != nil && len(c.x.marks) > 0 }

// wbuf is a connection's queue of unsent bytes. It exists only while there
// is something queued, or kept for reuse after a burst, so that an idle
// connection holds no buffer.
type wbuf struct {
	b   []byte
	off int
}

func (c *conn) has(f connFlags) bool { return c.flags&f != 0 }

// start registers the connection and tells the protocol, which sees t (the
// tcpConn or unixConn around c).
func (c *conn) start(proto gyre.Protocol, t gyre.Transport) error {
	c.proto = proto
	if err := c.n.p.Add(c.fd, c, In); err != nil {
		return err
	}
	c.interest = In
	c.flags |= fStarted
	c.guard(func() { proto.ConnectionMade(t) })
	return nil
}

// guard runs a protocol callback; a panic is logged and aborts the
// connection.
func (c *conn) guard(f func()) {
	defer func() {
		if r := recover(); r != nil {
			c.n.l.Logger().Error("gyre: panic in protocol callback", "panic", r, "stack", stack())
			c.abortWith(fmt.Errorf("%w: protocol panicked: %v", gyre.ErrConnectionAborted, r))
		}
	}()
	f()
}

// setInterest updates what the poller watches for.
func (c *conn) setInterest(in Interest) {
	if in == c.interest || c.has(fLosing) {
		return
	}
	c.interest = in
	if c.has(fStdio) {
		c.stdioInterest(in)
		return
	}
	if err := c.n.p.Modify(c.fd, in); err != nil {
		c.loseWith(fmt.Errorf("%w: %w", gyre.ErrConnectionLost, err))
	}
}

func (c *conn) wantRead() Interest {
	if c.has(fReadPaused | fReadClosed | fDisconnecting) {
		return 0
	}
	return In
}

// wantWrite watches for writability while data is queued, and also when a
// close or a shutdown of the sending side waits only for its turn: the
// writable event then finishes it on a pass of its own, never inside the
// protocol's call.
func (c *conn) wantWrite() Interest {
	if c.buffered() > 0 || c.has(fShutWrPending|fPullPending) || (c.has(fDisconnecting) && (c.producer == nil || c.has(fEOFClosing))) {
		return Out
	}
	return 0
}

// closedForWrites reports whether Write must refuse: the connection is
// going, unless LoseConnection is only waiting for a registered producer,
// which may still write until it unregisters.
func (c *conn) closedForWrites() bool {
	if c.has(fShutWrPending | fWriteShut | fLosing) {
		return true
	}
	return c.has(fDisconnecting) && (c.producer == nil || c.has(fEOFClosing))
}

// wrote notes a write, so that a pull producer is asked for more once the
// socket has taken it.
func (c *conn) wrote() {
	if c.producer != nil && !c.has(fStreaming) && !c.has(fPullPending) {
		c.flags |= fPullPending
		c.updateInterest()
	}
}

func (c *conn) updateInterest() { c.setInterest(c.wantRead() | c.wantWrite()) }

// Ready implements Handler.
func (c *conn) Ready(ev Interest) {
	if ev&In != 0 && c.interest&In != 0 {
		c.readOnce()
	}
	if ev&Out != 0 && c.interest&Out != 0 && !c.has(fLosing) {
		c.flush()
	}
}

func (c *conn) readOnce() {
	buf := c.n.readBuf()
	var n int
	var err error
	var fds []int
	if c.has(fUnix) {
		n, fds, err = c.recvWithFDs(buf)
	} else {
		n, err = unix.Read(c.readFD(), buf)
	}
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return
	case err != nil:
		c.loseNow(lostErr("read", err))
		return
	case n == 0:
		c.readEOF()
		return
	}
	if len(fds) > 0 {
		if r, ok := c.proto.(gyre.FDReceiver); ok {
			c.guard(func() { r.FileDescriptorsReceived(fds) })
		} else {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
	}
	if c.has(fLosing) {
		return
	}
	c.guard(func() { c.proto.DataReceived(buf[:n]) })
}

// readEOF handles the peer's end of file.
func (c *conn) readEOF() {
	h, ok := c.proto.(gyre.HalfCloseableProtocol)
	if !ok && c.buffered() > 0 && !c.has(fWriteShut) {
		// Send what is queued first: the peer may still be reading.
		c.flags |= fReadClosed | fDisconnecting | fEOFClosing
		c.updateInterest()
		return
	}
	if !ok || c.has(fWriteShut) {
		c.loseNow(gyre.ErrConnectionDone)
		return
	}
	c.flags |= fReadClosed
	c.updateInterest()
	c.guard(h.ReadConnectionLost)
}

// Write implements gyre.Transport.
func (c *conn) Write(data []byte) error {
	if c.closedForWrites() {
		return gyre.ErrNotConnected
	}
	if len(data) == 0 {
		return nil
	}
	c.wrote()
	if c.buffered() == 0 {
		n, err := unix.Write(c.fd, data)
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			c.loseWith(lostErr("write", err))
			return nil
		}
		if n < 0 {
			n = 0
		}
		data = data[n:]
		if len(data) == 0 {
			return nil
		}
	}
	c.queue(data)
	return nil
}

// WriteSequence implements gyre.Transport.
func (c *conn) WriteSequence(data [][]byte) error {
	if c.closedForWrites() {
		return gyre.ErrNotConnected
	}
	c.wrote()
	if c.buffered() == 0 && len(data) > 1 {
		n, err := writev(c.fd, data)
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			c.loseWith(lostErr("writev", err))
			return nil
		}
		for _, b := range data {
			if n >= len(b) {
				n -= len(b)
				continue
			}
			c.queue(b[n:])
			n = 0
		}
		return nil
	}
	for _, b := range data {
		if err := c.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// queue copies data to the write buffer and waits for the socket to take it.
func (c *conn) queue(data []byte) {
	w := c.w
	if w == nil {
		w = &wbuf{}
		c.w = w
	}
	if w.off > 0 && w.off >= len(w.b)/2 && !c.hasMarks() {
		// Slide the unsent part to the front rather than grow.
		k := copy(w.b, w.b[w.off:])
		w.b, w.off = w.b[:k], 0
	}
	w.b = append(w.b, data...)
	c.updateInterest()
	c.checkHighWater()
}

func (c *conn) buffered() int {
	if c.w == nil {
		return 0
	}
	return len(c.w.b) - c.w.off
}

func (c *conn) checkHighWater() {
	if c.producer != nil && c.has(fStreaming) && !c.has(fProducerPaused) && c.buffered() > highWater {
		c.flags |= fProducerPaused
		if p, ok := c.producer.(gyre.PushProducer); ok {
			c.guard(p.PauseProducing)
		}
	}
}

// flush writes what the socket takes, then acts on a drained buffer.
func (c *conn) flush() {
	for c.buffered() > 0 {
		var n int
		var err error
		if c.hasMarks() {
			n, err = c.sendMarked()
		} else {
			n, err = unix.Write(c.fd, c.w.b[c.w.off:])
		}
		if err == unix.EAGAIN || err == unix.EINTR {
			break
		}
		if err != nil {
			if c.has(fEOFClosing) {
				c.loseNow(gyre.ErrConnectionDone) // the peer had closed first
			} else {
				c.loseNow(lostErr("write", err))
			}
			return
		}
		c.w.off += n
		if n == 0 {
			break
		}
	}
	if c.buffered() > 0 {
		if c.has(fProducerPaused) && c.buffered() < lowWater {
			c.resumeProducer()
		}
		return
	}
	if w := c.w; w != nil {
		if cap(w.b) > keepBuf {
			c.w = nil
		} else {
			w.b, w.off = w.b[:0], 0
		}
	}
	c.drained()
	c.updateInterest()
}

// drained acts on an empty write buffer: feed producers, finish closing.
func (c *conn) drained() {
	if c.producer != nil && (!c.has(fStreaming) || c.has(fProducerPaused)) {
		c.flags &^= fPullPending
		c.resumeProducer()
	}
	if c.buffered() > 0 || c.has(fLosing) {
		return
	}
	switch {
	case c.has(fDisconnecting):
		// LoseConnection waits for UnregisterProducer; an end of file
		// from the peer does not.
		if c.producer == nil || c.has(fEOFClosing) {
			c.loseNow(gyre.ErrConnectionDone)
		}
	case c.has(fShutWrPending):
		c.flags &^= fShutWrPending
		c.flags |= fWriteShut
		if err := c.shutWrite(); err != nil {
			c.loseNow(lostErr("shutdown", err))
			return
		}
		if w, ok := c.proto.(gyre.WriteCloseNotifier); ok {
			c.guard(w.WriteConnectionLost)
		}
		if c.has(fReadClosed) && !c.has(fLosing) {
			c.loseNow(gyre.ErrConnectionDone)
		}
	}
}

func (c *conn) resumeProducer() {
	c.flags &^= fProducerPaused
	if p := c.producer; p != nil {
		c.guard(p.ResumeProducing)
	}
}

// LoseConnection implements gyre.Transport.
func (c *conn) LoseConnection() {
	if c.has(fDisconnecting | fLosing) {
		return
	}
	c.flags |= fDisconnecting
	c.updateInterest()
}

// AbortConnection implements gyre.Transport.
func (c *conn) AbortConnection() { c.abortWith(gyre.ErrConnectionAborted) }

func (c *conn) abortWith(reason error) {
	if c.has(fLosing) {
		return
	}
	c.w = nil
	c.dropMarks()
	c.loseWith(reason)
}

// LoseWriteConnection implements gyre.Transport.
func (c *conn) LoseWriteConnection() {
	if c.has(fDisconnecting | fShutWrPending | fWriteShut | fLosing) {
		return
	}
	c.flags |= fShutWrPending
	c.updateInterest()
}

// LocalAddr implements gyre.Transport.
func (c *conn) LocalAddr() net.Addr {
	if c.has(fLosing) && c.fd < 0 {
		return nil
	}
	sa, err := unix.Getsockname(c.fd)
	if err != nil {
		return nil
	}
	return sockaddrToAddr(sa, c.has(fUnix))
}

// RemoteAddr implements gyre.Transport. The kernel is asked while the
// connection is open; the address is kept when it closes.
func (c *conn) RemoteAddr() net.Addr {
	if c.x != nil && c.x.peer != nil {
		return c.x.peer
	}
	if c.fd < 0 {
		return nil
	}
	sa, err := unix.Getpeername(c.fd)
	if err != nil {
		return nil
	}
	return sockaddrToAddr(sa, c.has(fUnix))
}

// RegisterProducer implements gyre.Transport.
func (c *conn) RegisterProducer(p gyre.Producer, streaming bool) error {
	if c.producer != nil {
		return gyre.ErrProducerRegistered
	}
	if c.has(fLosing) {
		return gyre.ErrNotConnected
	}
	c.producer = p
	c.flags &^= fStreaming | fProducerPaused
	if streaming {
		c.flags |= fStreaming
		c.checkHighWater()
	} else {
		c.guard(p.ResumeProducing)
	}
	return nil
}

// UnregisterProducer implements gyre.Transport.
func (c *conn) UnregisterProducer() {
	if c.producer == nil {
		return
	}
	c.producer = nil
	c.flags &^= fStreaming | fProducerPaused | fPullPending
	c.updateInterest()
}

// PauseProducing implements gyre.Transport: stop reading.
func (c *conn) PauseProducing() {
	c.flags |= fReadPaused
	c.updateInterest()
}

// ResumeProducing implements gyre.Transport: read again.
func (c *conn) ResumeProducing() {
	c.flags &^= fReadPaused
	c.updateInterest()
}

// StopProducing implements gyre.Transport: the connection closes as with
// LoseConnection, so what it has buffered is still sent.
func (c *conn) StopProducing() { c.LoseConnection() }

// loseWith decides the connection is lost and reports it on a later pass.
func (c *conn) loseWith(reason error) {
	if c.has(fLosing) {
		return
	}
	c.flags |= fLosing
	c.release()
	c.n.later(c, reason)
}

// loseNow decides the connection is lost and reports it at once: for use
// from the loop's own callbacks, never inside a call the protocol made.
func (c *conn) loseNow(reason error) {
	if c.has(fLosing) {
		return
	}
	c.flags |= fLosing
	c.release()
	c.finish(reason)
}

// closeWith is used by shutdown: lose the connection and report it now.
func (c *conn) closeWith(reason error) {
	if !c.has(fLosing) {
		c.loseNow(reason)
	}
}

// release gives the descriptor back.
func (c *conn) release() {
	if c.has(fStdio) {
		c.releaseStdio()
		return
	}
	if c.fd < 0 {
		return
	}
	if c.x == nil || c.x.peer == nil {
		if a := c.RemoteAddr(); a != nil {
			c.extra().peer = a
		}
	}
	c.n.p.Remove(c.fd)
	unix.Close(c.fd)
	c.fd = -1
	c.w = nil
	c.dropMarks()
}

// finish reports the loss: once, and last.
func (c *conn) finish(reason error) {
	if c.has(fClosed) {
		return
	}
	c.flags |= fClosed
	if p := c.producer; p != nil {
		c.producer = nil
		c.n.l.Call(p.StopProducing)
	}
	if c.has(fStarted) {
		c.n.l.Call(func() { c.proto.ConnectionLost(reason) })
	}
	if c.client != nil {
		c.client.connectionLost(reason)
	}
}

func (c *conn) setsockopt(level, opt int, on bool) error {
	if c.fd < 0 {
		return gyre.ErrNotConnected
	}
	v := 0
	if on {
		v = 1
	}
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(c.fd, level, opt, v))
}

// tcpConn is the transport of a TCP connection.
type tcpConn struct{ conn }

// SetNoDelay implements gyre.TCPTransport.
func (c *tcpConn) SetNoDelay(on bool) error {
	return c.setsockopt(unix.IPPROTO_TCP, unix.TCP_NODELAY, on)
}

// SetKeepAlive implements gyre.TCPTransport.
func (c *tcpConn) SetKeepAlive(on bool) error {
	return c.setsockopt(unix.SOL_SOCKET, unix.SO_KEEPALIVE, on)
}

// unixConn is the transport of a Unix stream connection.
type unixConn struct{ conn }

var (
	_ gyre.TCPTransport  = (*tcpConn)(nil)
	_ gyre.UnixTransport = (*unixConn)(nil)
)

// newConn wraps an open, non-blocking socket, and returns it with the
// transport its protocol will see.
func (n *Net) newConn(fd int, isUnix bool) (*conn, gyre.Transport) {
	if isUnix {
		u := &unixConn{conn{n: n, fd: fd, flags: fUnix}}
		return &u.conn, u
	}
	t := &tcpConn{conn{n: n, fd: fd}}
	return &t.conn, t
}
