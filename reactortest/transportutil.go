package reactortest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gyre-go/gyre"
)

// Helpers for the transport cases (cases_transport.go).
//
// A case builds a trEnv, which remembers the loop goroutine, listens with the
// reactor, and runs "peers": plain net.Conn values driven by goroutines of
// their own, so that the peer can misbehave on purpose (stop reading, reset
// the connection). Peers report to the loop only through CallFromThread. The
// protocol under test is a trProto, which checks on every call the rules that
// hold for every connection (loop goroutine, nothing after ConnectionLost,
// nothing from inside a transport method, nothing while reading is paused).

// trNet picks the kind of stream socket a case runs over.
type trNet int

const (
	trTCP trNet = iota
	trUnix
)

func (n trNet) String() string {
	if n == trUnix {
		return "unix"
	}
	return "tcp"
}

// trPeerDeadline bounds every blocking operation of a peer, so that a reactor
// that never answers fails the case instead of hanging it.
const trPeerDeadline = 20 * time.Second

// trEnv is the state of one transport case.
type trEnv struct {
	c       *C
	net     trNet
	loopID  uint64
	dir     string // temporary directory for Unix socket files
	pending int    // events still awaited before the reactor is stopped
	stopped bool

	timers []gyre.DelayedCall
	seq    int           // names Unix socket files
	quit   chan struct{} // closed by finish: peers still waiting give up

	mu        sync.Mutex
	peers     []*trPeer
	lns       []net.Listener
	finishing bool
}

// trStart starts a transport case on network n. Call it from the case's own
// goroutine, the one that will run the reactor.
func trStart(c *C, n trNet) *trEnv {
	c.Helper()
	e := &trEnv{c: c, net: n, loopID: trGoID(), quit: make(chan struct{})}
	if n == trUnix {
		dir, err := os.MkdirTemp("", "gyre-tr")
		if err != nil {
			c.Fatalf("temporary directory: %v", err)
		}
		e.dir = dir
	}
	return e
}

// trGoID returns the id of the calling goroutine, read from the header of its
// stack ("goroutine 42 [running]:").
func trGoID() uint64 {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	if i := strings.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	id, _ := strconv.ParseUint(s, 10, 64)
	return id
}

// onLoop fails the case unless it is called on the loop goroutine.
func (e *trEnv) onLoop(what string) {
	if id := trGoID(); id != e.loopID {
		e.c.Errorf("%s ran on goroutine %d, not on the loop goroutine %d", what, id, e.loopID)
	}
}

// expect adds n to the events the case waits for.
func (e *trEnv) expect(n int) { e.pending += n }

// done marks one awaited event; when none is left the reactor is stopped.
// Call it on the loop.
func (e *trEnv) done() {
	e.pending--
	if e.pending == 0 && !e.stopped {
		e.stopped = true
		e.c.NoErr(e.c.R.Stop(), "Stop")
	}
	if e.pending < 0 {
		e.c.Errorf("more events than the case expected")
	}
}

// join returns a function that runs f on its n-th call. Cases use it to act
// once both the protocol and the peer are ready, whichever comes first.
func (e *trEnv) join(n int, f func()) func() {
	return func() {
		n--
		if n == 0 {
			f()
		}
	}
}

// toLoop runs f on the loop; it may be called from any goroutine. A reactor
// that has stopped already drops f.
func (e *trEnv) toLoop(f func()) {
	_ = e.c.Threads.CallFromThread(f)
}

// run runs the reactor, then closes every peer and waits for their
// goroutines, reporting what they found.
func (e *trEnv) run() {
	e.c.Helper()
	e.c.NoErr(e.c.Run(), "Run")
	e.finish()
}

// finish closes the peers and listeners, waits for the peers' goroutines and
// reports their errors. run calls it; a case that runs the reactor itself
// calls it afterwards.
func (e *trEnv) finish() {
	e.c.Helper()
	for _, dc := range e.timers {
		if dc.Active() {
			_ = dc.Cancel()
		}
	}
	e.mu.Lock()
	e.finishing = true
	peers := append([]*trPeer(nil), e.peers...)
	lns := append([]net.Listener(nil), e.lns...)
	var conns []net.Conn
	for _, p := range peers {
		if p.conn != nil {
			conns = append(conns, p.conn)
		}
	}
	e.mu.Unlock()
	close(e.quit)
	for _, ln := range lns {
		ln.Close()
	}
	for _, conn := range conns {
		conn.Close()
	}
	for _, p := range peers {
		select {
		case <-p.exited:
		case <-time.After(trPeerDeadline):
			e.c.Errorf("peer %s did not finish", p.name)
		}
		if p.err != nil {
			e.c.Errorf("peer %s: %v", p.name, p.err)
		}
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}

// addr returns a fresh address to listen on.
func (e *trEnv) addr() string {
	if e.net == trUnix {
		e.seq++
		return filepath.Join(e.dir, fmt.Sprintf("s%d", e.seq))
	}
	return "127.0.0.1:0"
}

// later runs f on the loop after d; finish cancels it if it is still pending.
func (e *trEnv) later(d time.Duration, f func()) gyre.DelayedCall {
	e.c.Helper()
	dc := e.c.Later(d, f)
	e.timers = append(e.timers, dc)
	return dc
}

// wait blocks a peer until ch is closed; it gives up when the case finishes
// or after trPeerDeadline.
func (e *trEnv) wait(ch <-chan struct{}, what string) error {
	select {
	case <-ch:
		return nil
	case <-e.quit:
		return fmt.Errorf("the case ended while the peer waited for %s", what)
	case <-time.After(trPeerDeadline):
		return fmt.Errorf("gave up waiting for %s", what)
	}
}

// listen makes the reactor listen and build a protocol with mk for each
// connection; it returns the address to dial.
func (e *trEnv) listen(mk func() gyre.Protocol) string {
	e.c.Helper()
	f := gyre.FactoryFunc(func(net.Addr) gyre.Protocol {
		e.onLoop("BuildProtocol")
		return mk()
	})
	var p gyre.Port
	var err error
	addr := e.addr()
	if e.net == trUnix {
		p, err = e.c.Unix.ListenUnix(addr, f)
	} else {
		p, err = e.c.TCP.ListenTCP(addr, f)
	}
	if err != nil {
		e.c.Fatalf("listen on %s %s: %v", e.net, addr, err)
	}
	return p.Addr().String()
}

// connect makes the reactor connect to addr and build a protocol with mk; a
// failed attempt fails the case.
func (e *trEnv) connect(addr string, mk func() gyre.Protocol) gyre.Connector {
	e.c.Helper()
	cf := &gyre.ClientCallbacks{
		Build: func(net.Addr) gyre.Protocol {
			e.onLoop("BuildProtocol")
			return mk()
		},
		Started: func(gyre.Connector) { e.onLoop("StartedConnecting") },
		Failed: func(_ gyre.Connector, err error) {
			e.onLoop("ClientConnectionFailed")
			e.c.Errorf("connecting to %s: %v", addr, err)
			e.stopNow()
		},
		Lost: func(gyre.Connector, error) { e.onLoop("ClientConnectionLost") },
	}
	var cn gyre.Connector
	var err error
	if e.net == trUnix {
		cn, err = e.c.Unix.ConnectUnix(addr, cf)
	} else {
		cn, err = e.c.TCP.ConnectTCP(addr, cf)
	}
	if err != nil {
		e.c.Fatalf("connect to %s: %v", addr, err)
	}
	return cn
}

// stopNow stops the reactor at once, abandoning what the case waited for.
func (e *trEnv) stopNow() {
	if !e.stopped {
		e.stopped = true
		_ = e.c.R.Stop()
	}
}

// rawListen listens with the standard library, for cases where the reactor
// connects out; accepted connections arrive on the channel.
func (e *trEnv) rawListen() (string, <-chan net.Conn) {
	e.c.Helper()
	var ln net.Listener
	var err error
	if e.net == trUnix {
		ln, err = net.Listen("unix", e.addr())
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		e.c.Fatalf("raw listen: %v", err)
	}
	e.mu.Lock()
	e.lns = append(e.lns, ln)
	e.mu.Unlock()
	ch := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		ln.Close()
		if err == nil {
			ch <- conn
		}
		close(ch)
	}()
	return ln.Addr().String(), ch
}

// dial connects a plain socket to addr. rcvbuf > 0 sets SO_RCVBUF before
// connecting, to keep a peer that does not read from soaking up much data.
// A failure fails the case and stops the reactor.
func (e *trEnv) dial(addr string, rcvbuf int) net.Conn {
	e.c.Helper()
	d := net.Dialer{Timeout: trPeerDeadline}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = setRcvbuf(fd, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	network := "tcp"
	if e.net == trUnix {
		network = "unix"
	}
	conn, err := d.Dial(network, addr)
	if err != nil {
		// dial may run on the loop while the reactor runs, where Fatalf
		// must not end the goroutine: report, stop, and hand back a
		// connection that fails at once.
		e.c.Errorf("dial %s %s: %v", network, addr, err)
		e.stopNow()
		a, b := net.Pipe()
		b.Close()
		a.Close()
		return a
	}
	return conn
}

// trPeer is a plain socket at the other end of a connection, driven by a
// goroutine of its own.
type trPeer struct {
	name   string
	conn   net.Conn
	err    error // what went wrong, for finish to report
	exited chan struct{}
}

// goPeer runs f on conn in a new goroutine. The case waits for it (expect
// counts it); when f returns, its error is kept for finish to report and the
// loop is told.
func (e *trEnv) goPeer(name string, conn net.Conn, f func(conn net.Conn) error) *trPeer {
	p := &trPeer{name: name, conn: conn, exited: make(chan struct{})}
	e.mu.Lock()
	e.peers = append(e.peers, p)
	e.mu.Unlock()
	e.expect(1)
	_ = conn.SetDeadline(time.Now().Add(trPeerDeadline))
	go func() {
		err := f(conn)
		p.err = err
		close(p.exited)
		e.toLoop(e.done)
	}()
	return p
}

// goAccepted is goPeer for the connection a rawListen listener accepts.
func (e *trEnv) goAccepted(name string, ch <-chan net.Conn, f func(conn net.Conn) error) {
	p := &trPeer{name: name, exited: make(chan struct{})}
	e.mu.Lock()
	e.peers = append(e.peers, p)
	e.mu.Unlock()
	e.expect(1)
	go func() {
		var conn net.Conn
		select {
		case conn = <-ch:
		case <-time.After(trPeerDeadline):
		}
		e.mu.Lock()
		p.conn = conn
		late := e.finishing
		e.mu.Unlock()
		switch {
		case conn == nil:
			p.err = errors.New("no connection was accepted")
		case late:
			conn.Close()
			p.err = errors.New("the connection was accepted after the case ended")
		default:
			_ = conn.SetDeadline(time.Now().Add(trPeerDeadline))
			p.err = f(conn)
		}
		close(p.exited)
		e.toLoop(e.done)
	}()
}

// The test streams. Stream seed is a window on one pseudo-random sequence
// whose period, trPeriod, is no multiple of any buffer or chunk size, so that
// bytes lost, repeated or out of order show. The sequence is computed once and
// copied, so that making and checking megabytes stays cheap under -race.
const trPeriod = 1<<20 + 7

var trTable = sync.OnceValue(func() []byte {
	b := make([]byte, 2*trPeriod)
	x := uint64(0x9E3779B97F4A7C15)
	for i := 0; i < trPeriod; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x >> 32)
	}
	copy(b[trPeriod:], b[:trPeriod])
	return b
})

// trPos returns where byte off of stream seed is in the sequence.
func trPos(seed uint64, off int) int {
	return int((seed*104729 + uint64(off)) % trPeriod)
}

// trData returns n bytes of the test stream with seed, from offset off.
func trData(seed uint64, off, n int) []byte {
	t := trTable()
	b := make([]byte, n)
	for i := 0; i < n; {
		pos := trPos(seed, off+i)
		i += copy(b[i:], t[pos:pos+trPeriod])
	}
	return b
}

// trCheck checks bytes as they arrive against the test stream with seed.
type trCheck struct {
	seed uint64
	n    int   // bytes seen
	bad  error // first mismatch
}

func (k *trCheck) feed(b []byte) {
	if k.bad == nil {
		t := trTable()
		for i := 0; i < len(b) && k.bad == nil; {
			pos := trPos(k.seed, k.n+i)
			m := min(len(b)-i, trPeriod)
			want := t[pos : pos+m]
			if !bytes.Equal(b[i:i+m], want) {
				for j := range want {
					if b[i+j] != want[j] {
						k.bad = fmt.Errorf("byte %d is %#x, want %#x", k.n+i+j, b[i+j], want[j])
						break
					}
				}
			}
			i += m
		}
	}
	k.n += len(b)
}

// result describes what arrived against the want bytes expected.
func (k *trCheck) result(want int) error {
	switch {
	case k.bad != nil:
		return k.bad
	case k.n != want:
		return fmt.Errorf("got %d bytes, want %d", k.n, want)
	}
	return nil
}

// trReadStream reads the test stream with seed from conn until want bytes
// have arrived, checking each; then, if eof, it expects the end of file.
func trReadStream(conn net.Conn, seed uint64, want int, eof bool) error {
	k := trCheck{seed: seed}
	buf := make([]byte, 64<<10)
	for k.n < want {
		// Never read past want: what follows is not ours to take.
		n, err := conn.Read(buf[:min(len(buf), want-k.n)])
		k.feed(buf[:n])
		if k.bad != nil {
			return k.bad
		}
		if err != nil {
			return fmt.Errorf("after %d of %d bytes: %w", k.n, want, err)
		}
	}
	if k.n > want {
		return fmt.Errorf("got %d bytes, want %d", k.n, want)
	}
	if eof {
		return trExpectEOF(conn)
	}
	return nil
}

// trExpectEOF reads from conn and expects a clean end of file.
func trExpectEOF(conn net.Conn) error {
	var b [1024]byte
	n, err := conn.Read(b[:])
	if n > 0 {
		return fmt.Errorf("got %d more bytes (%q...) where the end of file was due", n, b[:min(n, 16)])
	}
	if err != io.EOF {
		return fmt.Errorf("reading the end of file: %v", err)
	}
	return nil
}

// trReadAll reads from conn until end of file or an error, and returns what
// arrived and the error (nil for a clean end of file).
func trReadAll(conn net.Conn) ([]byte, error) {
	var out bytes.Buffer
	_, err := io.Copy(&out, conn)
	return out.Bytes(), err
}

// trWriteStream writes n bytes of the test stream with seed in chunks.
func trWriteStream(conn net.Conn, seed uint64, n, chunk int) error {
	for off := 0; off < n; off += chunk {
		m := min(chunk, n-off)
		if _, err := conn.Write(trData(seed, off, m)); err != nil {
			return fmt.Errorf("writing at %d of %d: %w", off, n, err)
		}
	}
	return nil
}

// trCloseWrite shuts down the sending side of a plain socket.
func trCloseWrite(conn net.Conn) error {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("%T cannot shut down its sending side", conn)
}

// trReset closes a TCP socket with SO_LINGER 0, so that the peer gets a reset.
func trReset(conn net.Conn) error {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return fmt.Errorf("%T is not a TCP connection", conn)
	}
	if err := tc.SetLinger(0); err != nil {
		return err
	}
	return tc.Close()
}

// trBroken reports whether err is what reading from or writing to a connection
// the other side abandoned gives: a reset, a broken pipe, or end of file.
func trBroken(err error) bool {
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// trKind selects which optional protocol interfaces a trProto exposes.
type trKind int

const (
	trPlain     trKind = 0
	trHalfClose trKind = 1 << iota // HalfCloseableProtocol
	trNotifier                     // WriteCloseNotifier
)

// trProto is a protocol under test. It records what happens and checks the
// rules that hold for every connection; the hooks give each case its
// behaviour.
type trProto struct {
	e    *trEnv
	name string
	kind trKind
	t    gyre.Transport

	made, lost, readLost, writeLost int
	reason                          error
	received                        int
	check                           *trCheck // if set, received bytes are checked against it
	keep                            bool     // keep a copy of received bytes in got
	got                             []byte
	inCall                          string // the transport method being called, if any
	paused                          bool   // reading paused through pause
	lostDone                        bool   // call e.done when ConnectionLost arrives

	onMade      func(p *trProto)
	onData      func(p *trProto, b []byte)
	onReadLost  func(p *trProto)
	onWriteLost func(p *trProto)
	onLost      func(p *trProto, reason error)
}

// proto returns a trProto with the interfaces its kind asks for.
func (e *trEnv) proto(name string, kind trKind) *trProto {
	return &trProto{e: e, name: name, kind: kind}
}

// trHalfProto, trNotifyProto and trHalfNotifyProto add the optional
// interfaces to a trProto.
type trHalfProto struct{ *trProto }
type trNotifyProto struct{ *trProto }
type trHalfNotifyProto struct{ *trProto }

func (h trHalfProto) ReadConnectionLost()        { h.readConnectionLost() }
func (h trNotifyProto) WriteConnectionLost()     { h.writeConnectionLost() }
func (h trHalfNotifyProto) ReadConnectionLost()  { h.readConnectionLost() }
func (h trHalfNotifyProto) WriteConnectionLost() { h.writeConnectionLost() }
func (p *trProto) errorf(f string, args ...any)  { p.e.c.Errorf(p.name+": "+f, args...) }
func (p *trProto) setCheck(seed uint64) *trProto { p.check = &trCheck{seed: seed}; return p }
func (p *trProto) stopOnLost() *trProto          { p.lostDone = true; p.e.expect(1); return p }
func (p *trProto) keepData() *trProto            { p.keep = true; return p }

// as returns p as a gyre.Protocol with the optional interfaces of its kind.
func (p *trProto) as() gyre.Protocol {
	switch p.kind {
	case trHalfClose:
		return trHalfProto{p}
	case trNotifier:
		return trNotifyProto{p}
	case trHalfClose | trNotifier:
		return trHalfNotifyProto{p}
	}
	return p
}

// enter checks what holds on entry to every protocol method.
func (p *trProto) enter(method string) {
	p.e.onLoop(p.name + "." + method)
	if p.inCall != "" {
		p.errorf("%s was called from inside Transport.%s", method, p.inCall)
	}
	if p.lost > 0 {
		p.errorf("%s was called after ConnectionLost", method)
	}
	if p.made == 0 && method != "ConnectionMade" {
		p.errorf("%s was called before ConnectionMade", method)
	}
}

func (p *trProto) ConnectionMade(t gyre.Transport) {
	p.enter("ConnectionMade")
	p.made++
	if p.made > 1 {
		p.errorf("ConnectionMade was called %d times", p.made)
	}
	if t == nil {
		p.errorf("ConnectionMade was given a nil transport")
	}
	p.t = t
	if p.onMade != nil {
		p.onMade(p)
	}
}

func (p *trProto) DataReceived(b []byte) {
	p.enter("DataReceived")
	if len(b) == 0 {
		p.errorf("DataReceived was called with no data")
	}
	if p.paused {
		p.errorf("DataReceived was called with %d bytes while reading was paused", len(b))
	}
	if p.readLost > 0 {
		p.errorf("DataReceived was called after ReadConnectionLost")
	}
	p.received += len(b)
	if p.check != nil {
		p.check.feed(b)
	}
	if p.keep {
		p.got = append(p.got, b...)
	}
	if p.onData != nil {
		p.onData(p, b)
	}
}

func (p *trProto) readConnectionLost() {
	p.enter("ReadConnectionLost")
	if p.paused {
		p.errorf("ReadConnectionLost was called while reading was paused")
	}
	p.readLost++
	if p.readLost > 1 {
		p.errorf("ReadConnectionLost was called %d times", p.readLost)
	}
	if p.onReadLost != nil {
		p.onReadLost(p)
	}
}

func (p *trProto) writeConnectionLost() {
	p.enter("WriteConnectionLost")
	p.writeLost++
	if p.writeLost > 1 {
		p.errorf("WriteConnectionLost was called %d times", p.writeLost)
	}
	if p.onWriteLost != nil {
		p.onWriteLost(p)
	}
}

func (p *trProto) ConnectionLost(reason error) {
	p.enter("ConnectionLost")
	p.lost++
	p.reason = reason
	if reason == nil {
		p.errorf("ConnectionLost was called with a nil reason")
	}
	if p.lostDone && p.lost == 1 {
		// Deferred, so that a hook that panics on purpose still counts.
		defer p.e.done()
	}
	if p.onLost != nil {
		p.onLost(p, reason)
	}
}

// call runs a transport method, marking that the protocol must not be called
// meanwhile.
func (p *trProto) call(method string, f func()) {
	if p.t == nil {
		p.errorf("Transport.%s called before ConnectionMade", method)
		return
	}
	outer := p.inCall
	p.inCall = method
	defer func() { p.inCall = outer }()
	f()
}

func (p *trProto) write(b []byte) (err error) {
	p.call("Write", func() { err = p.t.Write(b) })
	return err
}

func (p *trProto) writeSeq(bufs [][]byte) (err error) {
	p.call("WriteSequence", func() { err = p.t.WriteSequence(bufs) })
	return err
}

// mustWrite writes and fails the case if Write does not return nil.
func (p *trProto) mustWrite(b []byte) {
	if err := p.write(b); err != nil {
		p.errorf("Write(%d bytes): %v", len(b), err)
	}
}

func (p *trProto) lose()      { p.call("LoseConnection", func() { p.t.LoseConnection() }) }
func (p *trProto) abort()     { p.call("AbortConnection", func() { p.t.AbortConnection() }) }
func (p *trProto) loseWrite() { p.call("LoseWriteConnection", func() { p.t.LoseWriteConnection() }) }
func (p *trProto) stopProducing() {
	p.call("StopProducing", func() { p.t.StopProducing() })
}

func (p *trProto) pause() {
	p.paused = true
	p.call("PauseProducing", func() { p.t.PauseProducing() })
}

func (p *trProto) resume() {
	p.paused = false
	p.call("ResumeProducing", func() { p.t.ResumeProducing() })
}

// factory returns a function that builds p for the first connection and
// fails the case for any other.
func (p *trProto) once() func() gyre.Protocol {
	used := false
	return func() gyre.Protocol {
		if used {
			p.errorf("a second connection arrived")
			return nil
		}
		used = true
		return p.as()
	}
}

// trProducer records the calls a transport makes to a producer. Its hooks
// give it behaviour; it implements PushProducer, so that a case can check
// that a pull producer is never paused.
type trProducer struct {
	e                     *trEnv
	name                  string
	pauses, resumes, stop int
	paused                bool
	seq                   []string // "pause", "resume", "stop" in order
	onPause               func()
	onResume              func()
	onStop                func()
}

func (q *trProducer) PauseProducing() {
	q.e.onLoop(q.name + ".PauseProducing")
	q.pauses++
	q.paused = true
	q.seq = append(q.seq, "pause")
	if q.onPause != nil {
		q.onPause()
	}
}

func (q *trProducer) ResumeProducing() {
	q.e.onLoop(q.name + ".ResumeProducing")
	q.resumes++
	q.paused = false
	q.seq = append(q.seq, "resume")
	if q.onResume != nil {
		q.onResume()
	}
}

func (q *trProducer) StopProducing() {
	q.e.onLoop(q.name + ".StopProducing")
	q.stop++
	q.seq = append(q.seq, "stop")
	if q.onStop != nil {
		q.onStop()
	}
}

// trTCPTransport returns t as a TCPTransport, failing the case if it is not
// one.
func trTCPTransport(c *C, t gyre.Transport) gyre.TCPTransport {
	c.Helper()
	tt, ok := t.(gyre.TCPTransport)
	if !ok {
		c.Errorf("the transport of a TCP connection (%T) does not implement gyre.TCPTransport", t)
	}
	return tt
}

// trNeeds returns the facets a case over n needs.
func trNeeds(n trNet) Need {
	if n == trUnix {
		return NeedUnix | NeedClock | NeedThreads
	}
	return NeedTCP | NeedClock | NeedThreads
}
