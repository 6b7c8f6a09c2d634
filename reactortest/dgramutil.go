package reactortest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// Helpers shared by the datagram cases (cases_udp.go, cases_multicast.go,
// cases_unixdgram.go): a protocol that records what the reactor does to it,
// and peers written with package net that read in goroutines of their own.
// Everything named dg* is used on the loop goroutine unless its comment says
// otherwise.

// dgDatagram is one datagram as a protocol or a raw peer saw it.
type dgDatagram struct {
	data string
	addr net.Addr
}

// dgProto is a DatagramProtocol that records what happens to it and checks
// the order of the calls it gets.
type dgProto struct {
	name string
	log  *netLog
	g    *netGoCheck

	port    gyre.DatagramPort
	started bool // between StartProtocol and StopProtocol
	starts  int
	stops   int
	got     []dgDatagram
	bad     []string
	// inCall is set by the case around a call (ListenUDP, StopListening)
	// inside which no protocol method may run.
	inCall string

	onStart func(p *dgProto)
	onData  func(p *dgProto, data []byte, addr net.Addr)
	onStop  func(p *dgProto)
}

func (p *dgProto) StartProtocol(port gyre.DatagramPort) {
	p.g.check(p.name + ".StartProtocol")
	if p.inCall != "" {
		p.bad = append(p.bad, "StartProtocol called inside "+p.inCall)
	}
	if p.started {
		p.bad = append(p.bad, "StartProtocol called twice without StopProtocol")
	}
	if port == nil {
		p.bad = append(p.bad, "StartProtocol with a nil port")
	}
	p.started = true
	p.starts++
	p.port = port
	p.log.add("%s.start", p.name)
	if p.onStart != nil {
		p.onStart(p)
	}
}

func (p *dgProto) DatagramReceived(data []byte, addr net.Addr) {
	p.g.check(p.name + ".DatagramReceived")
	if p.inCall != "" {
		p.bad = append(p.bad, "DatagramReceived called inside "+p.inCall)
	}
	if !p.started {
		p.bad = append(p.bad, "DatagramReceived outside StartProtocol..StopProtocol")
	}
	p.got = append(p.got, dgDatagram{data: string(data), addr: addr})
	p.log.add("%s.data", p.name)
	if p.onData != nil {
		p.onData(p, data, addr)
	}
}

func (p *dgProto) StopProtocol() {
	p.g.check(p.name + ".StopProtocol")
	if p.inCall != "" {
		p.bad = append(p.bad, "StopProtocol called inside "+p.inCall)
	}
	if !p.started {
		p.bad = append(p.bad, "StopProtocol without StartProtocol, or twice")
	}
	p.started = false
	p.stops++
	p.log.add("%s.stop", p.name)
	if p.onStop != nil {
		p.onStop(p)
	}
}

// count returns how many datagrams arrived.
func (p *dgProto) count() int { return len(p.got) }

// has reports whether a datagram with payload s arrived.
func (p *dgProto) has(s string) bool {
	for _, d := range p.got {
		if d.data == s {
			return true
		}
	}
	return false
}

// payloads returns the payloads received, in order.
func (p *dgProto) payloads() []string {
	out := make([]string, len(p.got))
	for i, d := range p.got {
		out[i] = d.data
	}
	return out
}

// dgRefusing is a dgProto that implements ConnectionRefusedProtocol.
type dgRefusing struct {
	*dgProto
	refused int
}

func (p *dgRefusing) ConnectionRefused() {
	p.g.check(p.name + ".ConnectionRefused")
	if !p.started {
		p.bad = append(p.bad, "ConnectionRefused outside StartProtocol..StopProtocol")
	}
	p.refused++
	p.log.add("%s.refused", p.name)
}

// dgCheckProtos fails the case for every contract breach the recorders saw.
func dgCheckProtos(c *C, ps ...*dgProto) {
	c.Helper()
	for _, p := range ps {
		if p == nil {
			continue
		}
		for _, b := range p.bad {
			c.Errorf("%s: %s", p.name, b)
		}
		if p.g != nil {
			for _, o := range p.g.off {
				c.Errorf("%s: called off the loop goroutine: %s", p.name, o)
			}
		}
	}
}

// dgListen binds addr with ListenUDP, failing the case on error.
func dgListen(c *C, addr string, p *dgProto, opts ...gyre.ListenOption) gyre.DatagramPort {
	c.Helper()
	p.inCall = "ListenUDP"
	port, err := c.UDP.ListenUDP(addr, p, opts...)
	p.inCall = ""
	if err != nil {
		c.Fatalf("ListenUDP(%q): %v", addr, err)
	}
	if netNil(port) {
		c.Fatalf("ListenUDP(%q) returned a nil port and no error", addr)
	}
	return port
}

// dgListenOnLoop is dgListen for loop callbacks: on error it fails the case,
// stops the reactor and returns nil.
func dgListenOnLoop(c *C, addr string, p *dgProto) gyre.DatagramPort {
	c.Helper()
	p.inCall = "ListenUDP"
	port, err := c.UDP.ListenUDP(addr, p)
	p.inCall = ""
	if err != nil {
		netFail(c, "ListenUDP(%q): %v", addr, err)
		return nil
	}
	return port
}

// dgUDPAddr returns a port's address as a *net.UDPAddr, failing the case if
// it is not one.
func dgUDPAddr(c *C, port gyre.DatagramPort) *net.UDPAddr {
	c.Helper()
	a, ok := port.LocalAddr().(*net.UDPAddr)
	if !ok {
		c.Fatalf("LocalAddr() is %T (%v), want *net.UDPAddr", port.LocalAddr(), port.LocalAddr())
	}
	return a
}

// dgLoopback returns 127.0.0.1 and the port number of port.
func dgLoopback(c *C, port gyre.DatagramPort) *net.UDPAddr {
	c.Helper()
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: dgUDPAddr(c, port).Port}
}

// dgWrite writes s to addr and reports an error to the case.
func dgWrite(c *C, port gyre.DatagramPort, s string, addr net.Addr) {
	c.Helper()
	c.NoErr(port.Write([]byte(s), addr), fmt.Sprintf("Write(%q, %v)", s, addr))
}

// dgStop stops port and calls then once its Deferred fires.
func dgStop(c *C, port gyre.DatagramPort, then func()) {
	c.Helper()
	d := port.StopListening()
	if d == nil {
		netFail(c, "StopListening returned a nil Deferred")
		return
	}
	netOnFire(d, func(v any, err error) {
		c.NoErr(err, "StopListening Deferred")
		if then != nil {
			then()
		}
	})
}

// dgDuring registers f as a During "shutdown" trigger.
func dgDuring(c *C, f func()) {
	c.Helper()
	_, err := c.R.AddSystemEventTrigger(gyre.During, gyre.Shutdown, func() *deferred.Deferred {
		f()
		return nil
	})
	if err != nil {
		c.Fatalf("AddSystemEventTrigger: %v", err)
	}
}

// dgAddrIs fails the case unless got is a *net.UDPAddr with the IP and port
// of want.
func dgAddrIs(c *C, got net.Addr, want *net.UDPAddr, what string) {
	c.Helper()
	a, ok := got.(*net.UDPAddr)
	if !ok || !a.IP.Equal(want.IP) || a.Port != want.Port {
		c.Errorf("%s: got %T %v, want *net.UDPAddr %v", what, got, got, want)
	}
}

// dgUnixAddrIs fails the case unless got is a *net.UnixAddr named name.
func dgUnixAddrIs(c *C, got net.Addr, name, what string) {
	c.Helper()
	a, ok := got.(*net.UnixAddr)
	switch {
	case !ok:
		c.Errorf("%s: got %T %v, want *net.UnixAddr %q", what, got, got, name)
	case a.Name != name:
		c.Errorf("%s: got name %q, want %q", what, a.Name, name)
	}
}

// dgSettle calls then after the marker datagram has come back to p and a
// further short pause: datagrams sent before the marker that were to arrive
// have arrived by then. send sends the marker.
func dgSettle(c *C, p *dgProto, marker string, send func(), then func()) {
	send()
	netUntil(c, "the marker datagram "+strconv.Quote(marker), func() bool { return p.has(marker) }, func() {
		c.Later(30*time.Millisecond, then)
	})
}

// dgRaw is a UDP or unixgram socket made with package net, read by a
// goroutine of its own. Its methods may be called from any goroutine.
type dgRaw struct {
	conn net.PacketConn
	mu   sync.Mutex
	got  []dgDatagram
	done chan struct{}
}

func dgRawStart(conn net.PacketConn) *dgRaw {
	r := &dgRaw{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		buf := make([]byte, 1<<17)
		for {
			n, addr, err := conn.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
					return
				}
				continue // ECONNREFUSED on a connected socket and the like
			}
			r.mu.Lock()
			r.got = append(r.got, dgDatagram{data: string(buf[:n]), addr: addr})
			r.mu.Unlock()
		}
	}()
	return r
}

// dgRawListen binds a raw socket with net.ListenPacket.
func dgRawListen(c *C, network, addr string) *dgRaw {
	c.Helper()
	conn, err := net.ListenPacket(network, addr)
	if err != nil {
		c.Fatalf("net.ListenPacket(%q, %q): %v", network, addr, err)
	}
	return dgRawStart(conn)
}

// addr returns the raw socket's address.
func (r *dgRaw) addr() net.Addr { return r.conn.LocalAddr() }

// udpAddr returns the raw socket's address as a *net.UDPAddr.
func (r *dgRaw) udpAddr() *net.UDPAddr {
	a, _ := r.conn.LocalAddr().(*net.UDPAddr)
	return a
}

// send sends s to addr.
func (r *dgRaw) send(s string, addr net.Addr) error {
	_, err := r.conn.WriteTo([]byte(s), addr)
	return err
}

// count returns how many datagrams arrived.
func (r *dgRaw) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// datagrams returns what arrived so far.
func (r *dgRaw) datagrams() []dgDatagram {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]dgDatagram(nil), r.got...)
}

// has reports whether a datagram with payload s arrived.
func (r *dgRaw) has(s string) bool {
	for _, d := range r.datagrams() {
		if d.data == s {
			return true
		}
	}
	return false
}

// close closes the socket and waits for its reader to end.
func (r *dgRaw) close() {
	if r == nil {
		return
	}
	_ = r.conn.Close()
	<-r.done
}

// dgIPv6 skips the case unless ::1 can be bound for UDP.
func dgIPv6(c *C) {
	c.Helper()
	conn, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		c.Skipf("IPv6 loopback ::1 is not available here: %v", err)
	}
	_ = conn.Close()
}

// dgNetnsReason is the skip reason of the cases that send multicast or
// broadcast traffic outside a private network namespace.
const dgNetnsReason = "multicast cases run only inside a private network namespace " +
	"(run the suite under unshare -n; see TestMulticastNamespace)"

// dgNetnsSink names the interface TestMulticastNamespace may add to the
// namespace: a sink (ifb) that drops what it is given, so that multicast
// datagrams sent through it reach local members only through the loopback
// copy that SetLoopbackMode controls. It owns dgSinkAddr, and the groups of
// dgSinkGroups are routed to it.
const (
	dgNetnsSink  = "gyre0"
	dgSinkAddr   = "10.255.0.1"
	dgSinkGroups = "239.255.0.0/16"
)

// dgNetns skips the case unless the process runs inside the private network
// namespace made by TestMulticastNamespace: GYRE_NETNS=1 is set, and the
// only interfaces are the loopback one (up, with multicast) and the sink.
func dgNetns(c *C) {
	c.Helper()
	if runtime.GOOS != "linux" || os.Getenv("GYRE_NETNS") != "1" {
		c.Skipf("%s", dgNetnsReason)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		c.Skipf("%s: cannot list interfaces: %v", dgNetnsReason, err)
	}
	lo := false
	for _, ifi := range ifs {
		switch {
		case ifi.Name == "lo" && ifi.Flags&net.FlagLoopback != 0:
			if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagMulticast == 0 {
				c.Skipf("%s: lo is not up with multicast on (flags %v)", dgNetnsReason, ifi.Flags)
			}
			lo = true
		case ifi.Name == dgNetnsSink:
		default:
			c.Skipf("%s: GYRE_NETNS=1 but interface %s exists", dgNetnsReason, ifi.Name)
		}
	}
	if !lo {
		c.Skipf("%s: no loopback interface", dgNetnsReason)
	}
}

// dgNetnsSinkReady skips the case unless the sink interface exists in the
// namespace with its address.
func dgNetnsSinkReady(c *C) {
	c.Helper()
	ifi, err := net.InterfaceByName(dgNetnsSink)
	if err != nil {
		c.Skipf("the namespace has no sink interface %s (ip link add %s type ifb failed?): %v", dgNetnsSink, dgNetnsSink, err)
	}
	addrs, _ := ifi.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(net.ParseIP(dgSinkAddr)) {
			if ifi.Flags&net.FlagUp != 0 {
				return
			}
		}
	}
	c.Skipf("the sink interface %s is not up with address %s", dgNetnsSink, dgSinkAddr)
}

// dgUnixAddr returns the unixgram address of path.
func dgUnixAddr(path string) *net.UnixAddr { return &net.UnixAddr{Name: path, Net: "unixgram"} }
