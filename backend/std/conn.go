package std

import (
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/gyre-go/gyre"
)

const (
	// readBufSize is the size of each connection's read buffer.
	readBufSize = 32 << 10
	// highWater and lowWater bound the unsent bytes at which a streaming
	// producer is paused and resumed.
	highWater = 64 << 10
	lowWater  = 16 << 10
	// keepBufCap is the largest write buffer kept for reuse once drained.
	keepBufCap = 256 << 10
)

type connState uint8

const (
	csOpen    connState = iota
	csClosing           // LoseConnection (or the peer's end of file): flushing, then closing
	csClosed            // socket closed, ConnectionLost on its way
	csLost              // ConnectionLost has been called
)

// readSlot is one read of the reader goroutine: the bytes buf[:n], the
// descriptors that came with them and the error that ended the read.
type readSlot struct {
	buf []byte
	n   int
	fds []int
	err error
}

// fdMark attaches descriptors to the bytes [off, end) of a write buffer.
type fdMark struct {
	off, end int
	fds      []int
}

// conn is one stream connection; tcpConn and unixConn are its transports.
type conn struct {
	r     *Reactor
	seq   uint64
	nc    net.Conn
	uc    *net.UnixConn // for Unix connections, which may carry descriptors
	self  gyre.Transport
	laddr net.Addr
	raddr net.Addr
	proto gyre.Protocol
	half  gyre.HalfCloseableProtocol
	wcn   gyre.WriteCloseNotifier
	fdr   gyre.FDReceiver
	cn    *connector // the connector of an outgoing connection

	state       connState
	closeReason error         // the reason a csClosing connection will end with
	lostReason  error         // the reason passed to ConnectionLost, for lostFn
	done        chan struct{} // closed with the socket: the goroutines exit

	// Reading. The reader goroutine fills the two slots in turn, taking a
	// token from tokens before each read, and queues a deliver for each.
	// The loop gives a slot's token back once it has delivered the slot,
	// unless the protocol has paused, so the reader runs at most one read
	// ahead of the protocol and never has to wait for the loop in a
	// ping-pong exchange. The queue orders the slot's contents, the tokens
	// their reuse. A slot's buffer is allocated on its first use.
	slots     [2]readSlot
	oob       []byte
	tokens    chan struct{}
	dnext     int // the slot deliver takes next
	arrived   int // slots whose deliver has run but that are not delivered yet
	withheld  int // tokens kept back while paused or closing
	paused    bool
	readEOF   bool
	deliverFn func()
	drainFn   func()

	// Writing. pending belongs to the loop; inflight to the writer while
	// writing is true. Where the platform allows (rc not nil), a write with
	// nothing queued first goes straight to the socket without blocking,
	// and only what the socket does not take is queued.
	rc         syscall.RawConn
	dbuf       []byte
	dn         int
	derr       error
	directFn   func(fd uintptr) bool
	pending    []byte
	pfds       []fdMark
	inflight   []byte
	ifds       []fdMark
	writing    bool
	writer     bool // the writer goroutine has started
	werr       error
	wkick      chan struct{}
	wroteFn    func()
	shutWrite  bool // LoseWriteConnection asked for
	writeShut  bool // the sending side is shut down
	finishFn   func()
	shutFn     func()
	lostFn     func()
	producer   gyre.Producer
	streaming  bool
	push       gyre.PushProducer // producer, when it is streaming
	prodPaused bool
	pullQueued bool // pullFn is queued
	pullFn     func()
	eofClosing bool // closing because the peer finished: no producer to wait for
}

func (r *Reactor) newConn(nc net.Conn, proto gyre.Protocol, cn *connector) *conn {
	c := &conn{
		r:      r,
		seq:    r.nextSeq(),
		nc:     nc,
		laddr:  nc.LocalAddr(),
		raddr:  nc.RemoteAddr(),
		proto:  proto,
		cn:     cn,
		done:   make(chan struct{}),
		tokens: make(chan struct{}, len(conn{}.slots)),
		wkick:  make(chan struct{}, 1),
	}
	for range c.slots {
		c.tokens <- struct{}{}
	}
	c.slots[0].buf = make([]byte, readBufSize)
	c.half, _ = proto.(gyre.HalfCloseableProtocol)
	c.wcn, _ = proto.(gyre.WriteCloseNotifier)
	c.fdr, _ = proto.(gyre.FDReceiver)
	c.deliverFn = c.deliver
	c.drainFn = c.drain
	c.wroteFn = c.wrote
	c.finishFn = c.finish
	c.shutFn = c.doShutWrite
	c.lostFn = c.notifyLost
	c.pullFn = c.pull
	c.directFn = c.direct
	c.rc = rawConn(nc)
	switch t := nc.(type) {
	case *net.TCPConn:
		c.self = &tcpConn{conn: c, tc: t}
	case *net.UnixConn:
		c.uc = t
		c.self = &unixConn{conn: c}
		c.oob = newOOB()
		if c.raddr == nil || isNilAddr(c.raddr) {
			c.raddr = &net.UnixAddr{Net: "unix"}
		}
		if c.laddr == nil || isNilAddr(c.laddr) {
			c.laddr = &net.UnixAddr{Net: "unix"}
		}
	default:
		c.self = c
	}
	return c
}

func isNilAddr(a net.Addr) bool {
	u, ok := a.(*net.UnixAddr)
	return ok && u == nil
}

// remoteAddr is the peer's address as a factory's BuildProtocol gets it.
func remoteAddr(nc net.Conn) net.Addr {
	a := nc.RemoteAddr()
	if _, ok := nc.(*net.UnixConn); ok && (a == nil || isNilAddr(a)) {
		return &net.UnixAddr{Net: "unix"}
	}
	return a
}

// start registers the connection, starts its reader and tells the protocol.
func (c *conn) start() {
	c.r.conns[c] = struct{}{}
	c.r.wg.Add(1)
	go c.readLoop()
	defer c.recoverAbort()
	c.proto.ConnectionMade(c.self)
}

// readLoop is the reader goroutine.
func (c *conn) readLoop() {
	defer c.r.wg.Done()
	for i := 0; ; i ^= 1 {
		select {
		case <-c.tokens:
		default:
			select {
			case <-c.tokens:
			case <-c.done:
				return
			}
		}
		s := &c.slots[i]
		if s.buf == nil {
			s.buf = make([]byte, readBufSize)
		}
		s.n, s.fds, s.err = c.read(s.buf)
		if c.r.CallFromThread(c.deliverFn) != nil {
			closeFDs(s.fds)
			return
		}
		if s.err != nil {
			return
		}
	}
}

func (c *conn) read(b []byte) (int, []int, error) {
	if c.uc != nil && c.oob != nil {
		return c.readMsg(b)
	}
	n, err := c.nc.Read(b)
	return n, nil, err
}

// deliver runs on the loop once for every slot the reader has filled.
func (c *conn) deliver() {
	c.arrived++
	c.drain()
}

// drain delivers the slots that have arrived, in order, for as long as the
// protocol takes data.
func (c *conn) drain() {
	if c.state >= csClosed {
		c.discardArrived()
		return
	}
	defer c.recoverAbort()
	for c.arrived > 0 && !c.paused && c.state == csOpen {
		s := &c.slots[c.dnext]
		c.dnext ^= 1
		c.arrived--
		n, err := s.n, s.err
		if fds := s.fds; len(fds) > 0 {
			s.fds = nil
			if c.fdr != nil {
				c.fdr.FileDescriptorsReceived(fds)
			} else {
				closeFDs(fds)
			}
			if c.state >= csClosed {
				c.discardArrived()
				return
			}
		}
		if n > 0 {
			c.proto.DataReceived(s.buf[:n])
		}
		if err != nil {
			c.readFailed(err)
			return
		}
		switch {
		case c.state >= csClosed:
			c.discardArrived()
			return
		case c.paused || c.state == csClosing:
			c.withheld++
		default:
			c.tokens <- struct{}{} // never blocks: one token per slot
		}
	}
}

// discardArrived closes the descriptors of the slots that have arrived
// but will never be delivered, the connection being closed.
func (c *conn) discardArrived() {
	for ; c.arrived > 0; c.arrived-- {
		s := &c.slots[c.dnext]
		c.dnext ^= 1
		closeFDs(s.fds)
		s.fds = nil
	}
}

// readFailed handles the reader's final error, end of file included.
func (c *conn) readFailed(err error) {
	if c.state >= csClosed {
		return
	}
	if !errors.Is(err, io.EOF) {
		c.lose(lostError(err))
		return
	}
	c.readEOF = true
	if c.half != nil {
		c.half.ReadConnectionLost()
		if c.state == csOpen && c.writeShut {
			c.lose(gyre.ErrConnectionDone) // both directions are finished
		}
		return
	}
	// The peer has finished: send what is still buffered, then close.
	c.closeReason = gyre.ErrConnectionDone
	c.eofClosing = true
	c.state = csClosing
	c.finish()
}

// writable tells whether Write may add data: on an open connection until
// LoseWriteConnection, and after LoseConnection for as long as a producer is
// registered.
func (c *conn) writable() bool {
	switch {
	case c.shutWrite:
		return false
	case c.state == csOpen:
		return true
	case c.state == csClosing:
		return c.producer != nil && !c.eofClosing
	}
	return false
}

// Write implements gyre.Transport.
func (c *conn) Write(b []byte) error {
	if !c.writable() {
		return gyre.ErrNotConnected
	}
	if len(b) == 0 {
		return nil
	}
	c.send(b)
	c.afterWrite()
	return nil
}

// WriteSequence implements gyre.Transport. The slices are gathered into the
// pending buffer, which one write then sends.
func (c *conn) WriteSequence(bufs [][]byte) error {
	if !c.writable() {
		return gyre.ErrNotConnected
	}
	direct := c.canWriteDirect()
	for _, b := range bufs {
		c.pending = append(c.pending, b...)
	}
	if direct && len(c.pending) > 0 {
		n, err := c.tryWrite(c.pending)
		if err != nil {
			c.loseLater(lostError(err))
			return nil
		}
		c.pending = c.pending[:copy(c.pending, c.pending[n:])]
	}
	c.afterWrite()
	return nil
}

// canWriteDirect tells whether a write may go straight to the socket from
// the loop: the platform allows it and nothing is queued before it.
func (c *conn) canWriteDirect() bool {
	return c.rc != nil && !c.writing && len(c.pending) == 0
}

// send writes what the socket takes at once, if nothing is queued, and
// queues the rest.
func (c *conn) send(b []byte) {
	if c.canWriteDirect() {
		n, err := c.tryWrite(b)
		if err != nil {
			// Reported on a later callback, as if the writer had found it.
			c.loseLater(lostError(err))
			return
		}
		b = b[n:]
		if len(b) == 0 {
			return
		}
	}
	c.pending = append(c.pending, b...)
}

// tryWrite makes one non-blocking write of b on the loop.
func (c *conn) tryWrite(b []byte) (int, error) {
	c.dbuf = b
	err := c.rc.Write(c.directFn)
	n, derr := c.dn, c.derr
	c.dbuf, c.dn, c.derr = nil, 0, nil
	if err != nil {
		return 0, err
	}
	return n, derr
}

// afterWrite follows an addition to the pending buffer: start the writer,
// pause a streaming producer above the high water mark, and ask a pull
// producer for more if everything went out at once.
func (c *conn) afterWrite() {
	if c.state >= csClosed {
		return
	}
	c.kick()
	if c.push != nil && !c.prodPaused && c.buffered() > highWater {
		c.prodPaused = true
		c.push.PauseProducing()
	}
	c.queuePull()
}

// queuePull asks a pull producer for more on a later callback, if the
// buffer is empty.
func (c *conn) queuePull() {
	if c.producer != nil && !c.streaming && !c.pullQueued && c.buffered() == 0 {
		c.pullQueued = true
		c.r.later(c.pullFn)
	}
}

func (c *conn) pull() {
	c.pullQueued = false
	if c.producer != nil && !c.streaming && c.buffered() == 0 && c.writable() {
		defer c.recoverAbort()
		c.producer.ResumeProducing()
	}
}

func (c *conn) buffered() int {
	n := len(c.pending)
	if c.writing {
		n += len(c.inflight)
	}
	return n
}

// kick hands the pending buffer to the writer if it is idle.
func (c *conn) kick() {
	if c.writing || len(c.pending) == 0 || c.state >= csClosed {
		return
	}
	c.pending, c.inflight = c.inflight[:0], c.pending
	c.pfds, c.ifds = c.ifds[:0], c.pfds
	c.writing = true
	if !c.writer {
		c.writer = true
		c.r.wg.Add(1)
		go c.writeLoop()
	}
	c.wkick <- struct{}{}
}

// writeLoop is the writer goroutine.
func (c *conn) writeLoop() {
	defer c.r.wg.Done()
	for {
		select {
		case <-c.wkick:
		case <-c.done:
			return
		}
		c.werr = c.flush()
		if c.r.CallFromThread(c.wroteFn) != nil {
			return
		}
	}
}

// flush writes the inflight buffer, attaching descriptors where marked.
func (c *conn) flush() error {
	buf := c.inflight
	var err error
	off := 0
	for i := range c.ifds {
		m := &c.ifds[i]
		if err == nil && m.off > off {
			_, err = c.nc.Write(buf[off:m.off])
		}
		if err == nil {
			err = c.writeMsg(buf[m.off:m.end], m.fds)
		}
		closeFDs(m.fds)
		m.fds = nil
		off = m.end
	}
	if err == nil && off < len(buf) {
		_, err = c.nc.Write(buf[off:])
	}
	return err
}

// wrote runs on the loop when the writer has written the inflight buffer.
func (c *conn) wrote() {
	c.writing = false
	if c.state >= csClosed {
		return
	}
	defer c.recoverAbort()
	if err := c.werr; err != nil {
		c.werr = nil
		if c.closeReason != nil && c.readEOF && c.half == nil {
			c.lose(c.closeReason) // the peer had closed first
		} else {
			c.lose(lostError(err))
		}
		return
	}
	if cap(c.inflight) > keepBufCap {
		c.inflight = nil
	} else {
		c.inflight = c.inflight[:0]
	}
	c.ifds = c.ifds[:0]
	c.kick()
	if c.writable() {
		switch {
		case c.push != nil:
			if c.prodPaused && c.buffered() < lowWater {
				c.prodPaused = false
				c.push.ResumeProducing()
			}
		case !c.streaming && c.producer != nil && c.buffered() == 0 && !c.pullQueued:
			c.producer.ResumeProducing()
		}
		if c.state >= csClosed {
			return
		}
	}
	if c.writing || len(c.pending) > 0 {
		return
	}
	switch {
	case c.state == csClosing:
		c.finish()
	case c.shutWrite && !c.writeShut:
		c.doShutWrite()
	}
}

// finish closes a closing connection once everything is written and no
// producer is registered.
func (c *conn) finish() {
	if c.state != csClosing || c.writing || len(c.pending) > 0 || (c.producer != nil && !c.eofClosing) {
		return
	}
	c.lose(c.closeReason)
}

// LoseConnection implements gyre.Transport.
func (c *conn) LoseConnection() {
	if c.state != csOpen {
		return
	}
	c.state = csClosing
	c.closeReason = gyre.ErrConnectionDone
	if !c.writing && len(c.pending) == 0 && c.producer == nil {
		c.r.later(c.finishFn)
	}
}

// AbortConnection implements gyre.Transport.
func (c *conn) AbortConnection() { c.loseLater(gyre.ErrConnectionAborted) }

// LoseWriteConnection implements gyre.Transport.
func (c *conn) LoseWriteConnection() {
	if c.state != csOpen || c.shutWrite {
		return
	}
	c.shutWrite = true
	if !c.writing && len(c.pending) == 0 {
		c.r.later(c.shutFn)
	}
}

// doShutWrite shuts down the sending side once everything is written.
func (c *conn) doShutWrite() {
	if c.state != csOpen || c.writeShut || c.writing || len(c.pending) > 0 {
		return
	}
	defer c.recoverAbort()
	c.writeShut = true
	if err := closeWrite(c.nc); err != nil && !c.readEOF {
		c.lose(lostError(err))
		return
	}
	if c.wcn != nil {
		c.wcn.WriteConnectionLost()
	}
	if c.state == csOpen && c.readEOF {
		c.lose(gyre.ErrConnectionDone) // both directions are finished
	}
}

func closeWrite(nc net.Conn) error {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return gyre.ErrNotSupported
}

// LocalAddr implements gyre.Transport.
func (c *conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr implements gyre.Transport.
func (c *conn) RemoteAddr() net.Addr { return c.raddr }

// RegisterProducer implements gyre.Transport.
func (c *conn) RegisterProducer(p gyre.Producer, streaming bool) error {
	if c.producer != nil {
		return gyre.ErrProducerRegistered
	}
	if c.state >= csClosed {
		return gyre.ErrNotConnected
	}
	c.producer = p
	c.streaming = streaming
	c.push = nil
	c.prodPaused = false
	if streaming {
		c.push, _ = p.(gyre.PushProducer)
		if c.push != nil && c.buffered() > highWater {
			c.prodPaused = true
			c.push.PauseProducing()
		}
		return nil
	}
	if c.writable() && c.buffered() == 0 {
		p.ResumeProducing()
	}
	return nil
}

// UnregisterProducer implements gyre.Transport.
func (c *conn) UnregisterProducer() {
	if c.producer == nil {
		return
	}
	c.producer, c.push, c.prodPaused, c.streaming = nil, nil, false, false
	if c.state == csClosing && !c.writing && len(c.pending) == 0 {
		c.r.later(c.finishFn)
	}
}

// PauseProducing implements gyre.Transport: no more DataReceived until
// ResumeProducing.
func (c *conn) PauseProducing() {
	if c.state < csClosed {
		c.paused = true
	}
}

// ResumeProducing implements gyre.Transport.
func (c *conn) ResumeProducing() {
	if !c.paused {
		return
	}
	c.paused = false
	if c.state != csOpen {
		return
	}
	for ; c.withheld > 0; c.withheld-- {
		c.tokens <- struct{}{}
	}
	if c.arrived > 0 {
		c.r.later(c.drainFn)
	}
}

// StopProducing implements gyre.Transport: the connection closes as with
// LoseConnection, so what it has buffered is still sent.
func (c *conn) StopProducing() { c.LoseConnection() }

// closeSocket closes the socket and releases what the loop holds; the
// goroutines exit. It makes no callback.
func (c *conn) closeSocket() {
	if c.state >= csClosed {
		return
	}
	c.state = csClosed
	close(c.done)
	_ = c.nc.Close()
	c.discardArrived()
	for _, m := range c.pfds {
		closeFDs(m.fds)
	}
	c.pending, c.pfds = nil, nil
}

// lose closes the connection and calls ConnectionLost now: for use in a
// callback that is itself later than whatever caused the loss.
func (c *conn) lose(reason error) {
	if c.state >= csClosed {
		return
	}
	c.closeSocket()
	c.connectionLost(reason)
}

// loseLater closes the connection now and calls ConnectionLost in a later
// callback.
func (c *conn) loseLater(reason error) {
	if c.state >= csClosed {
		return
	}
	c.closeSocket()
	c.lostReason = reason
	c.r.later(c.lostFn)
}

func (c *conn) notifyLost() {
	if c.state == csClosed {
		c.connectionLost(c.lostReason)
	}
}

// connectionLost tells the producer, the protocol and the connector, once.
func (c *conn) connectionLost(reason error) {
	if c.state == csLost {
		return
	}
	c.state = csLost
	delete(c.r.conns, c)
	if p := c.producer; p != nil {
		c.producer, c.push = nil, nil
		c.r.safely(p.StopProducing)
	}
	c.r.safely(func() { c.proto.ConnectionLost(reason) })
	if c.cn != nil {
		c.cn.connectionLost(reason)
	}
}

// recoverAbort is deferred by the loop's entry points into a connection: a
// callback that panics is logged and the connection aborted.
func (c *conn) recoverAbort() {
	if v := recover(); v != nil {
		c.r.logPanic(v)
		c.loseLater(panicError(v))
	}
}

// shutdown closes the connection for the reactor's shutdown: at once, with
// ErrConnectionDone (or the reason already on its way).
func (c *conn) shutdown() {
	switch c.state {
	case csLost:
		return
	case csClosed:
		c.connectionLost(c.lostReason)
	default:
		c.closeSocket()
		c.connectionLost(gyre.ErrConnectionDone)
	}
}

// tcpConn is the transport of a TCP connection.
type tcpConn struct {
	*conn
	tc *net.TCPConn
}

var _ gyre.TCPTransport = (*tcpConn)(nil)

// SetNoDelay implements gyre.TCPTransport.
func (t *tcpConn) SetNoDelay(on bool) error {
	if t.state >= csClosed {
		return gyre.ErrNotConnected
	}
	return t.tc.SetNoDelay(on)
}

// SetKeepAlive implements gyre.TCPTransport.
func (t *tcpConn) SetKeepAlive(on bool) error {
	if t.state >= csClosed {
		return gyre.ErrNotConnected
	}
	return t.tc.SetKeepAlive(on)
}

// unixConn is the transport of a Unix domain stream connection.
type unixConn struct {
	*conn
}

var _ gyre.UnixTransport = (*unixConn)(nil)

// PeerCredentials implements gyre.UnixTransport.
func (t *unixConn) PeerCredentials() (gyre.Credentials, error) {
	if t.state >= csClosed {
		return gyre.Credentials{}, gyre.ErrNotConnected
	}
	return peerCredentials(t.uc)
}

// SendFDs implements gyre.UnixTransport.
func (t *unixConn) SendFDs(fds []int, data []byte) error {
	if len(data) == 0 {
		return errors.New("gyre: SendFDs needs at least one byte of data")
	}
	if !t.writable() {
		return gyre.ErrNotConnected
	}
	if len(fds) == 0 {
		return t.Write(data)
	}
	if t.canWriteDirect() {
		// Straight to the socket: the caller's descriptors need no copies,
		// and they are in the kernel's hands before the peer can see them.
		n, err := t.trySendFDs(data, fds)
		if err != nil {
			t.loseLater(lostError(err))
			return nil
		}
		if n > 0 {
			if n < len(data) {
				t.pending = append(t.pending, data[n:]...)
			}
			t.afterWrite()
			return nil
		}
	}
	dups, err := dupFDs(fds)
	if err != nil {
		return err
	}
	off := len(t.pending)
	t.pending = append(t.pending, data...)
	t.pfds = append(t.pfds, fdMark{off: off, end: len(t.pending), fds: dups})
	t.afterWrite()
	return nil
}
