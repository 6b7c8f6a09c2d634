package reactortest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// Helpers shared by the TCP and Unix cases (cases_tcp.go, cases_unix.go):
// protocols and factories that record what the reactor does to them, waits
// on the loop, and peers written with package net that run in goroutines of
// their own. Everything named net* here is used on the loop goroutine unless
// its comment says otherwise.

// netWaitLimit bounds a netUntil wait; it is below the watchdog of C.Run so
// that a wait that never ends names what it waited for.
const netWaitLimit = 8 * time.Second

// netLog records, in order, what protocols and factories saw.
type netLog struct{ items []string }

func (l *netLog) add(format string, args ...any) {
	if l != nil {
		l.items = append(l.items, fmt.Sprintf(format, args...))
	}
}

func (l *netLog) String() string { return strings.Join(l.items, " ") }

// index returns the position of the first item equal to s, or -1.
func (l *netLog) index(s string) int {
	for i, it := range l.items {
		if it == s {
			return i
		}
	}
	return -1
}

// hasPrefix fails the case unless the log begins with want.
func (l *netLog) hasPrefix(c *C, want, what string) {
	c.Helper()
	if got := l.String(); !strings.HasPrefix(got, want) {
		c.Errorf("%s: got %s, want it to begin with %s", what, got, want)
	}
}

// netGoID returns the id of the calling goroutine.
func netGoID() uint64 {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	if i := strings.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	id, _ := strconv.ParseUint(s, 10, 64)
	return id
}

// netGoCheck records calls made off the goroutine it was set up for.
type netGoCheck struct {
	g   uint64 // 0: no check
	off []string
}

func (k *netGoCheck) check(what string) {
	if k != nil && k.g != 0 {
		if g := netGoID(); g != k.g {
			k.off = append(k.off, fmt.Sprintf("%s on goroutine %d", what, g))
		}
	}
}

// netRecorder is a Protocol that records what happens to it, and checks the
// order of the calls it gets.
type netRecorder struct {
	name   string
	log    *netLog
	g      *netGoCheck
	t      gyre.Transport
	made   int
	lost   int
	data   []byte
	reason error
	bad    []string // calls that broke the protocol contract
	local  net.Addr // the transport's addresses, read in ConnectionMade
	remote net.Addr

	onMade func(p *netRecorder)
	onData func(p *netRecorder, b []byte)
	onLost func(p *netRecorder, reason error)
}

func (p *netRecorder) ConnectionMade(t gyre.Transport) {
	p.g.check(p.name + ".ConnectionMade")
	if p.made > 0 || p.lost > 0 {
		p.bad = append(p.bad, "ConnectionMade called again")
	}
	if t == nil {
		p.bad = append(p.bad, "ConnectionMade with a nil transport")
	}
	p.made++
	p.t = t
	if t != nil {
		p.local, p.remote = t.LocalAddr(), t.RemoteAddr()
	}
	p.log.add("%s.made", p.name)
	if p.onMade != nil {
		p.onMade(p)
	}
}

func (p *netRecorder) DataReceived(b []byte) {
	p.g.check(p.name + ".DataReceived")
	if p.made == 0 || p.lost > 0 {
		p.bad = append(p.bad, "DataReceived outside the connection's life")
	}
	p.data = append(p.data, b...)
	if p.onData != nil {
		p.onData(p, b)
	}
}

func (p *netRecorder) ConnectionLost(reason error) {
	p.g.check(p.name + ".ConnectionLost")
	if p.made == 0 || p.lost > 0 {
		p.bad = append(p.bad, fmt.Sprintf("ConnectionLost(%v) without a made connection, or again", reason))
	}
	if reason == nil {
		p.bad = append(p.bad, "ConnectionLost with a nil reason")
	}
	p.lost++
	p.reason = reason
	p.log.add("%s.lost", p.name)
	if p.onLost != nil {
		p.onLost(p, reason)
	}
}

// write writes s and reports an error to the case.
func (p *netRecorder) write(c *C, s string) {
	c.Helper()
	if p.t == nil {
		c.Errorf("%s: write before ConnectionMade", p.name)
		return
	}
	c.NoErr(p.t.Write([]byte(s)), p.name+": Write")
}

// netCheckProtos fails the case for every contract breach the recorders saw.
func netCheckProtos(c *C, ps ...*netRecorder) {
	c.Helper()
	for _, p := range ps {
		if p == nil {
			continue
		}
		for _, b := range p.bad {
			c.Errorf("%s: %s", p.name, b)
		}
	}
}

// netFDRecorder is a netRecorder that accepts descriptors.
type netFDRecorder struct {
	*netRecorder
	fds [][]int // each FileDescriptorsReceived call
	at  []int   // bytes delivered before each call
}

func (p *netFDRecorder) FileDescriptorsReceived(fds []int) {
	p.g.check(p.name + ".FileDescriptorsReceived")
	if p.made == 0 || p.lost > 0 {
		p.bad = append(p.bad, "FileDescriptorsReceived outside the connection's life")
	}
	p.fds = append(p.fds, append([]int(nil), fds...))
	p.at = append(p.at, len(p.data))
	p.log.add("%s.fds", p.name)
}

// closeFDs closes every descriptor the protocol received.
func (p *netFDRecorder) closeFDs() {
	for _, fds := range p.fds {
		for _, fd := range fds {
			netCloseFD(fd)
		}
	}
	p.fds = nil
}

// netServer is a Factory (and FactoryStarter) for ports. By default it
// builds a netRecorder per connection; build, if set, replaces that.
type netServer struct {
	name    string
	log     *netLog
	g       *netGoCheck
	build   func(addr net.Addr) gyre.Protocol
	onProto func(p *netRecorder)
	// logStarts adds StartFactory and StopFactory to the log.
	logStarts bool

	addrs  []net.Addr
	protos []*netRecorder
	starts int
	stops  int
}

func (f *netServer) BuildProtocol(addr net.Addr) gyre.Protocol {
	f.g.check(f.name + ".BuildProtocol")
	f.addrs = append(f.addrs, addr)
	f.log.add("%s.build", f.name)
	if f.build != nil {
		return f.build(addr)
	}
	return f.newProto()
}

// newProto makes the next recorder of the factory.
func (f *netServer) newProto() *netRecorder {
	p := &netRecorder{name: fmt.Sprintf("%s%d", f.protoPrefix(), len(f.protos)), log: f.log, g: f.g}
	f.protos = append(f.protos, p)
	if f.onProto != nil {
		f.onProto(p)
	}
	return p
}

func (f *netServer) protoPrefix() string {
	if f.name == "" {
		return "sp"
	}
	return f.name + ".p"
}

func (f *netServer) StartFactory() {
	f.g.check(f.name + ".StartFactory")
	f.starts++
	if f.logStarts {
		f.log.add("%s.start", f.name)
	}
}

func (f *netServer) StopFactory() {
	f.g.check(f.name + ".StopFactory")
	f.stops++
	if f.logStarts {
		f.log.add("%s.stop", f.name)
	}
}

// proto returns the i-th protocol built, or nil.
func (f *netServer) proto(i int) *netRecorder {
	if i < len(f.protos) {
		return f.protos[i]
	}
	return nil
}

// netClient is a ClientFactory (and FactoryStarter) that records every call.
type netClient struct {
	netServer
	onStarted func(cn gyre.Connector)
	onFailed  func(cn gyre.Connector, reason error)
	onLost    func(cn gyre.Connector, reason error)

	started []gyre.Connector
	failed  []error
	lost    []error
	failedC []gyre.Connector
	lostC   []gyre.Connector
	inCall  bool // set by the case around a call that must not report failure
	early   []string
}

func (f *netClient) protoPrefix() string {
	if f.name == "" {
		return "cp"
	}
	return f.name + ".p"
}

func (f *netClient) BuildProtocol(addr net.Addr) gyre.Protocol {
	f.g.check(f.name + ".BuildProtocol")
	f.addrs = append(f.addrs, addr)
	f.log.add("%s.build", f.name)
	if f.build != nil {
		return f.build(addr)
	}
	p := &netRecorder{name: fmt.Sprintf("%s%d", f.protoPrefix(), len(f.protos)), log: f.log, g: f.g}
	f.protos = append(f.protos, p)
	if f.onProto != nil {
		f.onProto(p)
	}
	return p
}

func (f *netClient) StartedConnecting(cn gyre.Connector) {
	f.g.check(f.name + ".StartedConnecting")
	f.started = append(f.started, cn)
	f.log.add("%s.started", f.name)
	if f.onStarted != nil {
		f.onStarted(cn)
	}
}

func (f *netClient) ClientConnectionFailed(cn gyre.Connector, reason error) {
	f.g.check(f.name + ".ClientConnectionFailed")
	if f.inCall {
		f.early = append(f.early, fmt.Sprintf("ClientConnectionFailed(%v)", reason))
	}
	f.failed = append(f.failed, reason)
	f.failedC = append(f.failedC, cn)
	f.log.add("%s.failed", f.name)
	if f.onFailed != nil {
		f.onFailed(cn, reason)
	}
}

func (f *netClient) ClientConnectionLost(cn gyre.Connector, reason error) {
	f.g.check(f.name + ".ClientConnectionLost")
	if f.inCall {
		f.early = append(f.early, fmt.Sprintf("ClientConnectionLost(%v)", reason))
	}
	f.lost = append(f.lost, reason)
	f.lostC = append(f.lostC, cn)
	f.log.add("%s.clientlost", f.name)
	if f.onLost != nil {
		f.onLost(cn, reason)
	}
}

// call runs f with inCall set: a failure reported meanwhile is recorded in
// early.
func (f *netClient) call(fn func()) {
	f.inCall = true
	defer func() { f.inCall = false }()
	fn()
}

// netCheckEarly fails the case if f reported an outcome from inside a call.
func netCheckEarly(c *C, f *netClient, what string) {
	c.Helper()
	for _, e := range f.early {
		c.Errorf("%s: %s was called before the call returned", what, e)
	}
}

// netSame reports whether a and b are the same value; values that cannot be
// compared are never the same.
func netSame(a, b any) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// netNil reports whether v is nil, or an interface holding a nil pointer.
func netNil(v any) bool {
	if v == nil {
		return true
	}
	defer func() { _ = recover() }()
	return fmt.Sprintf("%p", v) == "0x0"
}

// netReasons are the reasons a connection ends or fails.
var netReasons = []error{
	gyre.ErrConnectionDone, gyre.ErrConnectionLost, gyre.ErrConnectionRefused, gyre.ErrTimeout,
	gyre.ErrDNSLookup, gyre.ErrBind, gyre.ErrConnectionAborted, gyre.ErrUserCancelled,
}

// netReason fails the case unless reason wraps want and no other reason of
// netReasons.
func netReason(c *C, reason, want error, what string) {
	c.Helper()
	if reason == nil {
		c.Errorf("%s: reason is nil, want %v", what, want)
		return
	}
	if !errors.Is(reason, want) {
		c.Errorf("%s: reason %q does not wrap %q", what, reason, want)
	}
	for _, o := range netReasons {
		if o != want && errors.Is(reason, o) {
			c.Errorf("%s: reason %q wraps %q as well as %q", what, reason, o, want)
		}
	}
}

// netUntil calls then on the loop once cond holds, checking every
// millisecond. If cond does not hold within netWaitLimit the case fails,
// naming what it waited for, and the reactor is stopped.
func netUntil(c *C, what string, cond func() bool, then func()) {
	deadline := time.Now().Add(netWaitLimit)
	var poll func()
	poll = func() {
		if cond() {
			then()
			return
		}
		if time.Now().After(deadline) {
			c.Errorf("timed out waiting for %s", what)
			_ = c.R.Stop()
			return
		}
		if _, err := c.Clock.CallLater(time.Millisecond, poll); err != nil {
			c.Errorf("waiting for %s: CallLater: %v", what, err)
			_ = c.R.Stop()
		}
	}
	poll()
}

// netStopWhen stops the reactor once cond holds.
func netStopWhen(c *C, what string, cond func() bool) {
	netUntil(c, what, cond, func() { netStop(c) })
}

// netStop stops the reactor, failing the case if Stop fails.
func netStop(c *C) {
	c.Helper()
	if err := c.R.Stop(); err != nil {
		c.Errorf("Stop: %v", err)
	}
}

// netFail fails the case and stops the reactor: for failures inside loop
// callbacks, where Fatalf must not be used.
func netFail(c *C, format string, args ...any) {
	c.Helper()
	c.Errorf(format, args...)
	_ = c.R.Stop()
}

// netDial dials addr with package net from a loop callback; on failure it
// fails the case, stops the reactor and returns nil.
func netDial(c *C, network, addr string) *netRaw {
	c.Helper()
	r, err := netRawDial(network, addr)
	if err != nil {
		netFail(c, "dial %s %s: %v", network, addr, err)
		return nil
	}
	return r
}

// netWhenRunning calls f once the reactor runs.
func netWhenRunning(c *C, f func()) {
	c.Helper()
	if _, err := c.R.CallWhenRunning(f); err != nil {
		c.Fatalf("CallWhenRunning: %v", err)
	}
}

// netRun runs the reactor and fails the case if Run fails.
func netRun(c *C) {
	c.Helper()
	c.NoErr(c.Run(), "Run")
}

// netListen listens on addr with f, failing the case on error. Call it
// before Run, or from a callback only where a failure may end the case.
func netListen(c *C, addr string, f gyre.Factory, opts ...gyre.ListenOption) gyre.Port {
	c.Helper()
	p, err := c.TCP.ListenTCP(addr, f, opts...)
	if err != nil {
		c.Fatalf("ListenTCP(%q): %v", addr, err)
	}
	return p
}

// netTCPAddr returns a port's address as a *net.TCPAddr, failing the case if
// it is not one.
func netTCPAddr(c *C, p gyre.Port) *net.TCPAddr {
	c.Helper()
	a, ok := p.Addr().(*net.TCPAddr)
	if !ok {
		c.Fatalf("Port.Addr() is %T (%v), want *net.TCPAddr", p.Addr(), p.Addr())
	}
	return a
}

// netLoopback returns "127.0.0.1:<port>" for a port listening on any address.
func netLoopback(c *C, p gyre.Port) string {
	c.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(netTCPAddr(c, p).Port))
}

// netConnect starts connecting to addr, failing the case on error.
func netConnect(c *C, addr string, f gyre.ClientFactory, opts ...gyre.ConnectOption) gyre.Connector {
	c.Helper()
	cn, err := c.TCP.ConnectTCP(addr, f, opts...)
	if err != nil {
		c.Fatalf("ConnectTCP(%q): %v", addr, err)
	}
	return cn
}

// netOnFire calls f with the outcome of d once it fires.
func netOnFire(d *deferred.Deferred, f func(v any, err error)) {
	d.AddCallbacks(func(v any) any {
		f(v, nil)
		return nil
	}, func(err error) any {
		f(nil, err)
		return nil
	})
}

// netAddrEqual reports whether two addresses name the same endpoint.
func netAddrEqual(a, b net.Addr) bool {
	if a == nil || b == nil {
		return false
	}
	switch x := a.(type) {
	case *net.TCPAddr:
		y, ok := b.(*net.TCPAddr)
		return ok && x.IP.Equal(y.IP) && x.Port == y.Port
	case *net.UnixAddr:
		y, ok := b.(*net.UnixAddr)
		return ok && x.Name == y.Name
	}
	return a.Network() == b.Network() && a.String() == b.String()
}

// netAddrIs fails the case unless got is a *net.TCPAddr (or *net.UnixAddr,
// matching want) naming the same endpoint as want.
func netAddrIs(c *C, got, want net.Addr, what string) {
	c.Helper()
	if !netAddrEqual(got, want) {
		c.Errorf("%s: got %T %v, want %T %v", what, got, got, want, want)
	}
}

// netRaw is a connection made with package net, read by a goroutine of its
// own until it ends. Its methods may be called from any goroutine.
type netRaw struct {
	conn net.Conn
	mu   sync.Mutex
	data []byte
	err  error // what ended reading: io.EOF for a clean close
	done chan struct{}
}

func netRawStart(conn net.Conn) *netRaw {
	r := &netRaw{conn: conn, done: make(chan struct{})}
	go r.read()
	return r
}

func (r *netRaw) read() {
	defer close(r.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := r.conn.Read(buf)
		r.mu.Lock()
		r.data = append(r.data, buf[:n]...)
		if err != nil {
			r.err = err
		}
		r.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// ended reports whether reading has ended.
func (r *netRaw) ended() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// received returns how many bytes have arrived.
func (r *netRaw) received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.data)
}

// bytes returns what has arrived so far.
func (r *netRaw) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.data...)
}

// readErr returns what ended reading, or nil while it goes on.
func (r *netRaw) readErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// write writes s to the connection.
func (r *netRaw) write(s string) error {
	_, err := r.conn.Write([]byte(s))
	return err
}

// reset closes the connection with a reset (TCP only).
func (r *netRaw) reset() error {
	if tc, ok := r.conn.(*net.TCPConn); ok {
		if err := tc.SetLinger(0); err != nil {
			return err
		}
	}
	return r.conn.Close()
}

// close closes the connection and waits for its reader to end.
func (r *netRaw) close() {
	if r == nil {
		return
	}
	_ = r.conn.Close()
	<-r.done
}

// netRawDial connects with package net. Dialing a loopback address that
// listens does not wait for the reactor, so it may be done on the loop.
func netRawDial(network, addr string) (*netRaw, error) {
	conn, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return netRawStart(conn), nil
}

// netRawListener is a listener made with package net that accepts in a
// goroutine of its own and reads every connection it accepts.
type netRawListener struct {
	l     net.Listener
	mu    sync.Mutex
	conns []*netRaw
	taken int
	done  chan struct{}
}

func netRawListen(c *C, network, addr string) *netRawListener {
	c.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		c.Fatalf("net.Listen(%q, %q): %v", network, addr, err)
	}
	return netRawServe(l)
}

func netRawServe(l net.Listener) *netRawListener {
	rl := &netRawListener{l: l, done: make(chan struct{})}
	go func() {
		defer close(rl.done)
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			r := netRawStart(conn)
			rl.mu.Lock()
			rl.conns = append(rl.conns, r)
			rl.mu.Unlock()
		}
	}()
	return rl
}

func (rl *netRawListener) addr() string { return rl.l.Addr().String() }

// count returns how many connections have been accepted.
func (rl *netRawListener) count() int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return len(rl.conns)
}

// next returns the next accepted connection not yet returned, or nil.
func (rl *netRawListener) next() *netRaw {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.taken < len(rl.conns) {
		rl.taken++
		return rl.conns[rl.taken-1]
	}
	return nil
}

// waitCount waits, blocking, until n connections have been accepted or d has
// passed, and reports whether they were.
func (rl *netRawListener) waitCount(n int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for rl.count() < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// allEnded reports whether every accepted connection has ended.
func (rl *netRawListener) allEnded() bool {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	for _, r := range rl.conns {
		if !r.ended() {
			return false
		}
	}
	return true
}

// close stops listening and closes every accepted connection.
func (rl *netRawListener) close() {
	if rl == nil {
		return
	}
	_ = rl.l.Close()
	<-rl.done
	rl.mu.Lock()
	conns := rl.conns
	rl.mu.Unlock()
	for _, r := range conns {
		r.close()
	}
}

// netIPv6 skips the case unless ::1 can be listened on.
func netIPv6(c *C) {
	c.Helper()
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		c.Skipf("IPv6 loopback ::1 is not available here: %v", err)
	}
	_ = l.Close()
}

// netTempDir returns a new directory for socket files (with a short path, as
// socket paths are limited to about 100 bytes) and a function that removes
// it.
func netTempDir(c *C) (string, func()) {
	c.Helper()
	base := os.TempDir()
	if len(base) > 40 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "gyre")
	if err != nil {
		c.Fatalf("MkdirTemp: %v", err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }
}

// netSockPath returns the path of a socket file named name in dir.
func netSockPath(dir, name string) string { return filepath.Join(dir, name) }

// netMade reports whether p exists and its connection was made.
func netMade(p *netRecorder) bool { return p != nil && p.made > 0 }

// netGone reports whether p exists and its connection was lost.
func netGone(p *netRecorder) bool { return p != nil && p.lost > 0 }

// netPattern returns n bytes of a repeating, position-dependent pattern.
func netPattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// waitEnded waits, blocking, until reading has ended or d has passed, and
// reports whether it ended. For use off the loop, after Run.
func (r *netRaw) waitEnded(d time.Duration) bool {
	if r == nil {
		return false
	}
	select {
	case <-r.done:
		return true
	case <-time.After(d):
		return false
	}
}

// netListenUnix listens on path with f, failing the case on error.
func netListenUnix(c *C, path string, f gyre.Factory, opts ...gyre.ListenOption) gyre.Port {
	c.Helper()
	p, err := c.Unix.ListenUnix(path, f, opts...)
	if err != nil {
		c.Fatalf("ListenUnix(%q): %v", path, err)
	}
	return p
}

// netConnectUnix starts connecting to path, failing the case on error.
func netConnectUnix(c *C, path string, f gyre.ClientFactory, opts ...gyre.ConnectOption) gyre.Connector {
	c.Helper()
	cn, err := c.Unix.ConnectUnix(path, f, opts...)
	if err != nil {
		c.Fatalf("ConnectUnix(%q): %v", path, err)
	}
	return cn
}

// netBadName is a host name that cannot resolve (RFC 6761 reserves .invalid).
const netBadName = "gyre-conformance.invalid"

// netNeedDNSFailure skips the case unless looking up netBadName fails
// promptly here, as a resolver without network access or a proper one does.
func netNeedDNSFailure(c *C) {
	c.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := net.DefaultResolver.LookupIPAddr(ctx, netBadName)
	if err == nil {
		c.Skipf("the resolver here gives addresses for %s", netBadName)
	}
	var de *net.DNSError
	if !errors.As(err, &de) || de.IsTimeout || ctx.Err() != nil {
		c.Skipf("looking up %s does not fail promptly here: %v", netBadName, err)
	}
}

// netNeedLocalhost skips the case unless "localhost" resolves to 127.0.0.1.
func netNeedLocalhost(c *C) {
	c.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, "localhost")
	if err != nil {
		c.Skipf("localhost does not resolve here: %v", err)
	}
	for _, ip := range ips {
		if ip.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			return
		}
	}
	c.Skipf("localhost does not resolve to 127.0.0.1 here (%v)", ips)
}
