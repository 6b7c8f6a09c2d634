package reactortest

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gyre-go/gyre"
)

// Cases for the "UDP: datagram ports" rules of docs/SPEC.md. Every address is
// on the loopback interface; the broadcast cases run only inside the private
// network namespace of TestMulticastNamespace.

func init() {
	const n = NeedUDP | NeedClock
	udp := func(id string, f func(c *C)) Case { return Case{ID: id, Facet: FacetUDP, Needs: n, Test: f} }
	register(
		udp("udp.listen.port-zero#ipv4", udpListenPortZero),
		udp("udp.listen.port-zero#any-address", udpListenPortZeroAny),
		udp("udp.listen.literal-host#localhost", func(c *C) { udpListenRejected(c, "localhost:0") }),
		udp("udp.listen.literal-host#unresolvable", func(c *C) { udpListenRejected(c, netBadName+":0") }),
		udp("udp.listen.literal-host#malformed", udpListenMalformed),
		udp("udp.listen.ipv6", udpListenIPv6),
		udp("udp.listen.in-use#other-socket", udpListenInUseRaw),
		udp("udp.listen.in-use#same-reactor", udpListenInUseGyre),
		udp("udp.listen.start#on-loop", udpStartOnLoop),
		udp("udp.listen.start#before-run", udpStartBeforeRun),
		udp("udp.listen.nil-protocol", udpNilProtocol),
		udp("udp.stopped#listen", udpStoppedListen),
		udp("udp.stopped#during-shutdown", udpStoppedDuringShutdown),
		udp("udp.receive.addr", udpReceiveAddr),
		udp("udp.receive.boundaries#sizes", udpBoundaries),
		udp("udp.receive.boundaries#empty", udpBoundariesEmpty),
		udp("udp.receive.burst", udpBurst),
		udp("udp.receive.fair", udpFair),
		udp("udp.receive.buffers#scribble", udpBuffersScribble),
		udp("udp.receive.buffers#kept-addr", udpBuffersKeptAddr),
		udp("udp.receive.panic", udpPanic),
		udp("udp.write.sequence", udpWriteSequence),
		udp("udp.write.address#nil-unconnected", udpWriteNilUnconnected),
		udp("udp.write.address#ipv6-on-ipv4", udpWriteV6OnV4),
		udp("udp.write.address#ipv4-on-ipv6", udpWriteV4OnV6),
		udp("udp.write.address#wrong-type", udpWriteWrongType),
		udp("udp.write.too-large#write", func(c *C) { udpTooLarge(c, false) }),
		udp("udp.write.too-large#sequence", func(c *C) { udpTooLarge(c, true) }),
		udp("udp.write.too-large#max-fits", udpMaxFits),
		udp("udp.write.max-size#ipv4", func(c *C) { udpMaxSize(c, "127.0.0.1:0", 65507) }),
		udp("udp.write.max-size#ipv6", func(c *C) { dgIPv6(c); udpMaxSize(c, "[::1]:0", 65527) }),
		udp("udp.broadcast", udpBroadcast),
		udp("udp.connect.peer#filter", udpConnectFilter),
		udp("udp.connect.peer#write-nil", udpConnectWriteNil),
		udp("udp.connect.peer#ipv6", udpConnectIPv6),
		udp("udp.connect.errors#twice", udpConnectTwice),
		udp("udp.connect.errors#host-name", udpConnectHostName),
		udp("udp.connect.errors#malformed", udpConnectMalformed),
		udp("udp.connect.refused#reported", udpRefusedReported),
		udp("udp.connect.refused#without-method", udpRefusedIgnored),
		udp("udp.stop#rebind", udpStopRebind),
		udp("udp.stop#protocol-later", udpStopProtocolLater),
		udp("udp.stop#twice", udpStopTwice),
		udp("udp.stop#after-shutdown", udpStopAfterShutdown),
		udp("udp.stop#in-start", udpStopInStart),
		udp("udp.stop#same-protocol-again", udpStopRestart),
		udp("udp.shutdown", udpShutdown),
		udp("udp.loop", udpLoop),
	)
}

// --- Listening ---

func udpListenPortZero(c *C) {
	p := &dgProto{name: "p"}
	port := dgListen(c, "127.0.0.1:0", p)
	a := dgUDPAddr(c, port)
	c.True(a.Port != 0, "LocalAddr() = %v: port 0, want the port the system picked", a)
	c.True(a.IP.Equal(net.IPv4(127, 0, 0, 1)), "LocalAddr() = %v, want IP 127.0.0.1", a)
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	netWhenRunning(c, func() {
		if err := raw.send("ping", a); err != nil {
			netFail(c, "send: %v", err)
			return
		}
		netStopWhen(c, "the datagram to arrive", func() bool { return p.count() == 1 })
	})
	netRun(c)
	if p.count() == 1 {
		c.Equal(p.got[0].data, "ping", "datagram received")
		dgAddrIs(c, p.got[0].addr, raw.udpAddr(), "sender address")
	}
	dgCheckProtos(c, p)
}

func udpListenPortZeroAny(c *C) {
	p := &dgProto{name: "p"}
	port := dgListen(c, ":0", p)
	a := dgUDPAddr(c, port)
	c.True(a.Port != 0, "LocalAddr() = %v: port 0, want the port the system picked", a)
	c.True(a.IP == nil || a.IP.IsUnspecified(), "LocalAddr() = %v, want an unspecified IP for \":0\"", a)
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	netWhenRunning(c, func() {
		if err := raw.send("ping", dgLoopback(c, port)); err != nil {
			netFail(c, "send: %v", err)
			return
		}
		netStopWhen(c, "a datagram through 127.0.0.1 to arrive", func() bool { return p.count() == 1 })
	})
	netRun(c)
	dgCheckProtos(c, p)
}

// udpListenRejected checks that ListenUDP(addr) fails with ErrAddress without
// a lookup, returns a nil port and leaves the protocol alone.
func udpListenRejected(c *C, addr string) {
	c.Helper()
	p := &dgProto{name: "p"}
	port, err := c.UDP.ListenUDP(addr, p)
	c.ErrIs(err, gyre.ErrAddress, "ListenUDP("+strconv.Quote(addr)+")")
	if errors.Is(err, gyre.ErrDNSLookup) {
		c.Errorf("ListenUDP(%q): the host was looked up (%v); the host must be a literal IP", addr, err)
	}
	if !netNil(port) {
		c.Errorf("ListenUDP(%q) returned a port (%v) with its error", addr, port.LocalAddr())
		port.StopListening()
	}
	netWhenRunning(c, func() { c.StopLater(10 * time.Millisecond) })
	netRun(c)
	c.True(p.starts == 0 && p.stops == 0, "ListenUDP(%q) failed but called StartProtocol %d and StopProtocol %d times",
		addr, p.starts, p.stops)
}

func udpListenMalformed(c *C) {
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:65536", "127.0.0.1:-1", "[::1"} {
		p := &dgProto{name: "p"}
		port, err := c.UDP.ListenUDP(addr, p)
		c.ErrIs(err, gyre.ErrAddress, "ListenUDP("+strconv.Quote(addr)+")")
		if !netNil(port) {
			c.Errorf("ListenUDP(%q) returned a port with its error", addr)
			port.StopListening()
		}
	}
}

func udpListenIPv6(c *C) {
	dgIPv6(c)
	p := &dgProto{name: "p"}
	p.onData = func(p *dgProto, data []byte, addr net.Addr) {
		c.NoErr(p.port.Write([]byte("pong"), addr), "Write to the IPv6 sender")
	}
	port := dgListen(c, "[::1]:0", p)
	a := dgUDPAddr(c, port)
	c.True(a.IP.Equal(net.IPv6loopback) && a.Port != 0, "LocalAddr() = %v, want ::1 and a non-zero port", a)
	raw := dgRawListen(c, "udp6", "[::1]:0")
	defer raw.close()
	netWhenRunning(c, func() {
		if err := raw.send("ping", a); err != nil {
			netFail(c, "send: %v", err)
			return
		}
		netStopWhen(c, "the reply over IPv6", func() bool { return raw.has("pong") })
	})
	netRun(c)
	if p.count() > 0 {
		dgAddrIs(c, p.got[0].addr, raw.udpAddr(), "IPv6 sender address")
	}
	dgCheckProtos(c, p)
}

// udpInUse checks that ListenUDP on addr, which something holds, fails as
// udp.listen.in-use says.
func udpInUse(c *C, addr string) {
	c.Helper()
	p := &dgProto{name: "second"}
	port, err := c.UDP.ListenUDP(addr, p)
	c.ErrIs(err, gyre.ErrBind, "ListenUDP on an address in use")
	c.ErrIs(err, syscall.EADDRINUSE, "ListenUDP on an address in use")
	if !netNil(port) {
		c.Errorf("ListenUDP on an address in use returned a port")
		port.StopListening()
	}
	c.Equal(p.starts, 0, "StartProtocol calls of a port that failed to bind")
}

func udpListenInUseRaw(c *C) {
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	udpInUse(c, raw.addr().String())
	sender := &dgProto{name: "sender"}
	port := dgListen(c, "127.0.0.1:0", sender)
	netWhenRunning(c, func() {
		dgWrite(c, port, "still", raw.addr())
		netStopWhen(c, "the socket holding the address to receive", func() bool { return raw.has("still") })
	})
	netRun(c)
}

func udpListenInUseGyre(c *C) {
	first := &dgProto{name: "first"}
	port := dgListen(c, "127.0.0.1:0", first)
	udpInUse(c, dgUDPAddr(c, port).String())
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	netWhenRunning(c, func() {
		if err := raw.send("still", dgUDPAddr(c, port)); err != nil {
			netFail(c, "send: %v", err)
			return
		}
		netStopWhen(c, "the first port to receive", func() bool { return first.has("still") })
	})
	netRun(c)
	dgCheckProtos(c, first)
}

func udpStartOnLoop(c *C) {
	p := &dgProto{name: "p"}
	var port gyre.DatagramPort
	var same = true
	p.onStart = func(p *dgProto) { same = netSame(p.port, port) }
	netWhenRunning(c, func() {
		if port = dgListenOnLoop(c, "127.0.0.1:0", p); port == nil {
			return
		}
		c.Equal(p.starts, 0, "StartProtocol calls by the time ListenUDP returned")
		netStopWhen(c, "StartProtocol", func() bool { return p.starts > 0 })
	})
	netRun(c)
	c.Equal(p.starts, 1, "StartProtocol calls")
	c.True(same, "StartProtocol got a port other than the one ListenUDP returned")
	dgCheckProtos(c, p)
}

func udpStartBeforeRun(c *C) {
	p := &dgProto{name: "p"}
	port := dgListen(c, "127.0.0.1:0", p)
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	// Queued in the port's socket before the reactor runs: it must not be
	// delivered before StartProtocol.
	if err := raw.send("early", dgUDPAddr(c, port)); err != nil {
		c.Fatalf("send: %v", err)
	}
	c.Equal(p.starts, 0, "StartProtocol calls before Run")
	netWhenRunning(c, func() {
		netStopWhen(c, "the datagram sent before Run", func() bool { return p.has("early") })
	})
	netRun(c)
	c.Equal(p.starts, 1, "StartProtocol calls")
	dgCheckProtos(c, p)
}

func udpNilProtocol(c *C) {
	port, err := c.UDP.ListenUDP("127.0.0.1:0", nil)
	c.ErrIs(err, gyre.ErrNilFunc, "ListenUDP with a nil protocol")
	if !netNil(port) {
		c.Errorf("ListenUDP with a nil protocol returned a port")
		port.StopListening()
	}
}

func udpStoppedListen(c *C) {
	netWhenRunning(c, func() { netStop(c) })
	netRun(c)
	p := &dgProto{name: "p"}
	port, err := c.UDP.ListenUDP("127.0.0.1:0", p)
	c.ErrIs(err, gyre.ErrStopped, "ListenUDP on a stopped reactor")
	if !netNil(port) {
		c.Errorf("ListenUDP on a stopped reactor returned a port")
		port.StopListening()
	}
	c.True(p.starts == 0 && p.stops == 0, "ListenUDP on a stopped reactor called the protocol")
}

func udpStoppedDuringShutdown(c *C) {
	ran := false
	p := &dgProto{name: "p"}
	dgDuring(c, func() {
		ran = true
		port, err := c.UDP.ListenUDP("127.0.0.1:0", p)
		c.ErrIs(err, gyre.ErrStopped, "ListenUDP in a During \"shutdown\" trigger")
		if !netNil(port) {
			port.StopListening()
		}
	})
	netWhenRunning(c, func() { netStop(c) })
	netRun(c)
	c.True(ran, "the During \"shutdown\" trigger did not run")
	c.True(p.starts == 0, "a refused ListenUDP called StartProtocol")
}

// --- Receiving ---

func udpReceiveAddr(c *C) {
	p := &dgProto{name: "p"}
	p.onData = func(p *dgProto, data []byte, addr net.Addr) {
		c.NoErr(p.port.Write([]byte("re:"+string(data)), addr), "Write to the sender")
	}
	port := dgListen(c, "127.0.0.1:0", p)
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	netWhenRunning(c, func() {
		for _, s := range []string{"one", "two"} {
			if err := raw.send(s, dgUDPAddr(c, port)); err != nil {
				netFail(c, "send: %v", err)
				return
			}
		}
		netStopWhen(c, "both replies", func() bool { return raw.has("re:one") && raw.has("re:two") })
	})
	netRun(c)
	for i, d := range raw.datagrams() {
		dgAddrIs(c, d.addr, dgUDPAddr(c, port), fmt.Sprintf("source of reply %d", i))
	}
	if p.count() == 2 {
		dgAddrIs(c, p.got[0].addr, raw.udpAddr(), "sender address")
		dgAddrIs(c, p.got[1].addr, raw.udpAddr(), "sender address")
		c.True(!netSame(p.got[0].addr, p.got[1].addr), "two DatagramReceived calls got the same address value")
	}
	dgCheckProtos(c, p)
}

func udpBoundaries(c *C) {
	sizes := []int{1, 2, 3, 100, 1000, 1472, 2047, 2048, 2049, 2100, 4000, 9000, 30000}
	p := &dgProto{name: "p"}
	port := dgListen(c, "127.0.0.1:0", p)
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	want := map[string]int{}
	netWhenRunning(c, func() {
		for i, n := range sizes {
			b := netPattern(n)
			b[0] = byte(i)
			want[string(b)]++
			if err := raw.send(string(b), dgUDPAddr(c, port)); err != nil {
				netFail(c, "send: %v", err)
				return
			}
		}
		netStopWhen(c, "every datagram", func() bool { return p.count() >= len(sizes) })
	})
	netRun(c)
	c.Equal(p.count(), len(sizes), "DatagramReceived calls")
	for _, d := range p.got {
		if want[d.data] == 0 {
			c.Errorf("a datagram of %d bytes arrived that was not sent as such (merged or split)", len(d.data))
		}
		want[d.data]--
	}
	dgCheckProtos(c, p)
}

func udpBoundariesEmpty(c *C) {
	p := &dgProto{name: "p"}
	port := dgListen(c, "127.0.0.1:0", p)
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	netWhenRunning(c, func() {
		for _, s := range []string{"", "x"} {
			if err := raw.send(s, dgUDPAddr(c, port)); err != nil {
				netFail(c, "send: %v", err)
				return
			}
		}
		netStopWhen(c, "the datagram after the empty one", func() bool { return p.has("x") })
	})
	netRun(c)
	c.Equal(strings.Join(p.payloads(), "|"), "|x", "datagrams received (an empty one, then \"x\")")
	dgCheckProtos(c, p)
}

func udpBurst(c *C) {
	const n = 200
	p := &dgProto{name: "p"}
	port := dgListen(c, "127.0.0.1:0", p)
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	to := dgUDPAddr(c, port)
	sent := make(chan error, 1)
	netWhenRunning(c, func() {
		go func() {
			for i := 0; i < n; i++ {
				b := netPattern(100)
				copy(b, fmt.Sprintf("%04d", i))
				if err := raw.send(string(b), to); err != nil {
					sent <- err
					return
				}
			}
			sent <- nil
		}()
		netStopWhen(c, fmt.Sprintf("%d datagrams of a burst", n), func() bool { return p.count() >= n })
	})
	netRun(c)
	c.NoErr(<-sent, "sending the burst")
	c.Equal(p.count(), n, "datagrams received of a burst")
	seen := map[string]bool{}
	for _, d := range p.got {
		if len(d.data) != 100 {
			c.Errorf("a datagram of %d bytes, want 100", len(d.data))
			break
		}
		seen[d.data[:4]] = true
	}
	c.Equal(len(seen), n, "distinct datagrams received")
	dgCheckProtos(c, p)
}

func udpFair(c *C) {
	p := &dgProto{name: "p"}
	port := dgListen(c, "127.0.0.1:0", p)
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	to := dgUDPAddr(c, port)
	var stop atomic.Bool
	var sent atomic.Int64
	done := make(chan struct{})
	fired := false
	var atFire int64
	netWhenRunning(c, func() {
		go func() {
			defer close(done)
			for !stop.Load() {
				if raw.send("flood", to) == nil {
					sent.Add(1)
				}
			}
		}()
		netUntil(c, "the flood to arrive", func() bool { return p.count() > 0 }, func() {
			c.Later(20*time.Millisecond, func() {
				fired = true
				atFire = sent.Load()
				// The flood goes on a little longer while the loop serves
				// other callbacks too.
				netUntil(c, "more datagrams after the timer", func() bool { return sent.Load() > atFire+100 }, func() {
					stop.Store(true)
					netStop(c)
				})
			})
		})
	})
	netRun(c)
	stop.Store(true)
	<-done
	c.True(fired, "a timer did not run while datagrams kept coming")
	dgCheckProtos(c, p)
}

func udpBuffersScribble(c *C) {
	p := &dgProto{name: "p"}
	p.onData = func(p *dgProto, data []byte, addr net.Addr) {
		for i := range data {
			data[i] = 'X'
		}
	}
	port := dgListen(c, "127.0.0.1:0", p)
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	want := []string{"alpha", "beta", "gamma-gamma", "d"}
	netWhenRunning(c, func() {
		for _, s := range want {
			if err := raw.send(s, dgUDPAddr(c, port)); err != nil {
				netFail(c, "send: %v", err)
				return
			}
		}
		netStopWhen(c, "every datagram", func() bool { return p.count() >= len(want) })
	})
	netRun(c)
	got := p.payloads()
	for _, s := range want {
		found := false
		for _, g := range got {
			found = found || g == s
		}
		c.True(found, "datagram %q did not arrive intact after the protocol wrote into earlier ones; got %q", s, got)
	}
	dgCheckProtos(c, p)
}

func udpBuffersKeptAddr(c *C) {
	p := &dgProto{name: "p"}
	port := dgListen(c, "127.0.0.1:0", p)
	r1 := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer r1.close()
	r2 := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer r2.close()
	to := dgUDPAddr(c, port)
	step := func(r *dgRaw, s string, then func()) {
		if err := r.send(s, to); err != nil {
			netFail(c, "send: %v", err)
			return
		}
		netUntil(c, "datagram "+s, func() bool { return p.has(s) }, then)
	}
	netWhenRunning(c, func() {
		step(r1, "a", func() { step(r2, "b", func() { step(r1, "c", func() { netStop(c) }) }) })
	})
	netRun(c)
	if p.count() == 3 {
		dgAddrIs(c, p.got[0].addr, r1.udpAddr(), "first sender's address, kept across later datagrams")
		dgAddrIs(c, p.got[1].addr, r2.udpAddr(), "second sender's address, kept across later datagrams")
		dgAddrIs(c, p.got[2].addr, r1.udpAddr(), "third datagram's sender address")
	}
	dgCheckProtos(c, p)
}

func udpPanic(c *C) {
	const msg = "gyre-test: DatagramReceived panics"
	p := &dgProto{name: "p"}
	p.onData = func(p *dgProto, data []byte, addr net.Addr) {
		if string(data) == "boom" {
			panic(msg)
		}
	}
	port := dgListen(c, "127.0.0.1:0", p)
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	to := dgUDPAddr(c, port)
	netWhenRunning(c, func() {
		if err := raw.send("boom", to); err != nil {
			netFail(c, "send: %v", err)
			return
		}
		netUntil(c, "the datagram whose DatagramReceived panics", func() bool { return p.has("boom") }, func() {
			if err := raw.send("next", to); err != nil {
				netFail(c, "send: %v", err)
				return
			}
			netStopWhen(c, "the next datagram", func() bool { return p.has("next") })
		})
	})
	netRun(c)
	logged := false
	for _, rec := range c.Logs() {
		if rec.Level >= slog.LevelError && strings.Contains(rec.Attrs["panic"], msg) && rec.Attrs["stack"] != "" {
			logged = true
		}
	}
	c.True(logged, "the panic in DatagramReceived was not logged at level Error with attributes panic and stack; logs: %v", c.Logs())
	dgCheckProtos(c, p)
}

// --- Writing ---

func udpWriteSequence(c *C) {
	p := &dgProto{name: "p"}
	port := dgListen(c, "127.0.0.1:0", p)
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	netWhenRunning(c, func() {
		bufs := [][]byte{[]byte("ab"), nil, []byte("cd"), []byte("efg")}
		c.NoErr(port.WriteSequence(bufs, raw.addr()), "WriteSequence")
		for _, b := range bufs {
			for i := range b {
				b[i] = '!'
			}
		}
		dgWrite(c, port, "h", raw.addr())
		netStopWhen(c, "both datagrams", func() bool { return raw.count() >= 2 })
	})
	netRun(c)
	var got []string
	for _, d := range raw.datagrams() {
		got = append(got, d.data)
	}
	c.Equal(strings.Join(got, "|"), "abcdefg|h", "datagrams received (WriteSequence's as one, then Write's)")
}

// udpNothingSent writes a marker from port to raw and fails the case unless
// the marker is all raw received.
func udpNothingSent(c *C, port gyre.DatagramPort, raw *dgRaw, what string) {
	c.Helper()
	dgWrite(c, port, "marker", raw.addr())
	netUntil(c, "the marker datagram", func() bool { return raw.has("marker") }, func() {
		c.Later(30*time.Millisecond, func() {
			if n := raw.count(); n != 1 {
				c.Errorf("%s: %d datagram(s) arrived, want only the marker", what, n)
			}
			netStop(c)
		})
	})
}

func udpWriteNilUnconnected(c *C) {
	port := dgListen(c, "127.0.0.1:0", &dgProto{name: "p"})
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	netWhenRunning(c, func() {
		c.ErrIs(port.Write([]byte("x"), nil), gyre.ErrAddress, "Write with a nil address on an unconnected port")
		c.ErrIs(port.WriteSequence([][]byte{[]byte("x")}, nil), gyre.ErrAddress, "WriteSequence with a nil address on an unconnected port")
		udpNothingSent(c, port, raw, "after writes to a nil address")
	})
	netRun(c)
}

func udpWriteV6OnV4(c *C) {
	port := dgListen(c, "127.0.0.1:0", &dgProto{name: "p"})
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	netWhenRunning(c, func() {
		v6 := &net.UDPAddr{IP: net.IPv6loopback, Port: raw.udpAddr().Port}
		c.ErrIs(port.Write([]byte("x"), v6), gyre.ErrAddress, "Write to an IPv6 address on an IPv4 port")
		c.ErrIs(port.WriteSequence([][]byte{[]byte("x")}, v6), gyre.ErrAddress, "WriteSequence to an IPv6 address on an IPv4 port")
		udpNothingSent(c, port, raw, "after writes to an IPv6 address")
	})
	netRun(c)
}

func udpWriteV4OnV6(c *C) {
	dgIPv6(c)
	port := dgListen(c, "[::1]:0", &dgProto{name: "p"})
	raw4 := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw4.close()
	raw := dgRawListen(c, "udp6", "[::1]:0")
	defer raw.close()
	netWhenRunning(c, func() {
		c.ErrIs(port.Write([]byte("x"), raw4.addr()), gyre.ErrAddress, "Write to an IPv4 address on an IPv6 port")
		udpNothingSent(c, port, raw, "after a write to an IPv4 address")
	})
	netRun(c)
	c.Equal(raw4.count(), 0, "datagrams that reached the IPv4 address")
}

func udpWriteWrongType(c *C) {
	port := dgListen(c, "127.0.0.1:0", &dgProto{name: "p"})
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	netWhenRunning(c, func() {
		ra := raw.udpAddr()
		c.ErrIs(port.Write([]byte("x"), &net.TCPAddr{IP: ra.IP, Port: ra.Port}), gyre.ErrAddress, "Write to a *net.TCPAddr")
		c.ErrIs(port.Write([]byte("x"), &net.UnixAddr{Name: "/tmp/x", Net: "unixgram"}), gyre.ErrAddress, "Write to a *net.UnixAddr")
		udpNothingSent(c, port, raw, "after writes to addresses of the wrong type")
	})
	netRun(c)
}

func udpTooLarge(c *C, sequence bool) {
	port := dgListen(c, "127.0.0.1:0", &dgProto{name: "p"})
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	netWhenRunning(c, func() {
		n := port.MaxDatagramSize() + 1
		var err error
		if sequence {
			err = port.WriteSequence([][]byte{make([]byte, n/2), make([]byte, n-n/2)}, raw.addr())
		} else {
			err = port.Write(make([]byte, n), raw.addr())
		}
		c.ErrIs(err, gyre.ErrDatagramTooLarge, fmt.Sprintf("writing %d bytes (MaxDatagramSize+1)", n))
		udpNothingSent(c, port, raw, "after a write that was too large")
	})
	netRun(c)
}

func udpMaxFits(c *C) {
	recv := &dgProto{name: "recv"}
	rport := dgListen(c, "127.0.0.1:0", recv)
	port := dgListen(c, "127.0.0.1:0", &dgProto{name: "send"})
	max := port.MaxDatagramSize()
	want := string(netPattern(max))
	netWhenRunning(c, func() {
		c.NoErr(port.Write([]byte(want), rport.LocalAddr()), fmt.Sprintf("Write of MaxDatagramSize (%d) bytes", max))
		netStopWhen(c, "the datagram of MaxDatagramSize bytes", func() bool { return recv.count() > 0 })
	})
	netRun(c)
	if recv.count() > 0 {
		c.Equal(len(recv.got[0].data), max, "length of the datagram received")
		c.True(recv.got[0].data == want, "the datagram of MaxDatagramSize bytes arrived altered")
	}
}

func udpMaxSize(c *C, addr string, want int) {
	port := dgListen(c, addr, &dgProto{name: "p"})
	c.Equal(port.MaxDatagramSize(), want, "MaxDatagramSize of a port on "+addr)
}

func udpBroadcast(c *C) {
	dgNetns(c)
	port := dgListen(c, "127.0.0.1:0", &dgProto{name: "p"})
	raw := dgRawListen(c, "udp4", "0.0.0.0:0")
	defer raw.close()
	bcast := &net.UDPAddr{IP: net.IPv4(127, 255, 255, 255), Port: raw.udpAddr().Port}
	netWhenRunning(c, func() {
		c.NoErr(port.SetBroadcastAllowed(false), "SetBroadcastAllowed(false)")
		c.True(port.Write([]byte("forbidden"), bcast) != nil, "Write to %v succeeded with broadcast forbidden", bcast)
		c.NoErr(port.SetBroadcastAllowed(true), "SetBroadcastAllowed(true)")
		c.NoErr(port.Write([]byte("allowed"), bcast), "Write to a broadcast address with broadcast allowed")
		netUntil(c, "the broadcast datagram", func() bool { return raw.has("allowed") }, func() {
			c.NoErr(port.SetBroadcastAllowed(false), "SetBroadcastAllowed(false) again")
			c.True(port.Write([]byte("forbidden-again"), bcast) != nil, "Write to %v succeeded after broadcast was forbidden again", bcast)
			c.Later(30*time.Millisecond, func() { netStop(c) })
		})
	})
	netRun(c)
	c.True(!raw.has("forbidden") && !raw.has("forbidden-again"), "a broadcast datagram arrived while broadcast was forbidden")
}

// --- Connected ports ---

func udpConnectFilter(c *C) {
	p := &dgProto{name: "p"}
	port := dgListen(c, "127.0.0.1:0", p)
	r1 := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer r1.close()
	r2 := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer r2.close()
	to := dgUDPAddr(c, port)
	netWhenRunning(c, func() {
		c.NoErr(port.Connect(r1.addr().String()), "Connect")
		_ = r2.send("from-r2", to)
		_ = r1.send("from-r1", to)
		dgSettle(c, p, "marker", func() { _ = r1.send("marker", to) }, func() { netStop(c) })
	})
	netRun(c)
	c.True(p.has("from-r1"), "the connected peer's datagram did not arrive")
	c.True(!p.has("from-r2"), "a datagram from another address than the connected peer arrived")
	for _, d := range p.got {
		dgAddrIs(c, d.addr, r1.udpAddr(), "sender of a datagram on a connected port")
	}
	dgCheckProtos(c, p)
}

func udpConnectWriteNil(c *C) {
	port := dgListen(c, "127.0.0.1:0", &dgProto{name: "p"})
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	netWhenRunning(c, func() {
		c.True(port.RemoteAddr() == nil || netNil(port.RemoteAddr()), "RemoteAddr() = %v before Connect, want nil", port.RemoteAddr())
		c.NoErr(port.Connect(raw.addr().String()), "Connect")
		dgAddrIs(c, port.RemoteAddr(), raw.udpAddr(), "RemoteAddr after Connect")
		c.NoErr(port.Write([]byte("one"), nil), "Write with a nil address on a connected port")
		c.NoErr(port.WriteSequence([][]byte{[]byte("tw"), []byte("o")}, nil), "WriteSequence with a nil address on a connected port")
		netStopWhen(c, "both datagrams at the peer", func() bool { return raw.has("one") && raw.has("two") })
	})
	netRun(c)
	for _, d := range raw.datagrams() {
		dgAddrIs(c, d.addr, dgUDPAddr(c, port), "source of a datagram from a connected port")
	}
}

func udpConnectIPv6(c *C) {
	dgIPv6(c)
	p := &dgProto{name: "p"}
	port := dgListen(c, "[::1]:0", p)
	raw := dgRawListen(c, "udp6", "[::1]:0")
	defer raw.close()
	netWhenRunning(c, func() {
		c.NoErr(port.Connect(raw.addr().String()), "Connect to an IPv6 peer")
		dgAddrIs(c, port.RemoteAddr(), raw.udpAddr(), "RemoteAddr after Connect")
		c.NoErr(port.Write([]byte("six"), nil), "Write with a nil address on a connected IPv6 port")
		netUntil(c, "the datagram at the IPv6 peer", func() bool { return raw.has("six") }, func() {
			_ = raw.send("back", dgUDPAddr(c, port))
			netStopWhen(c, "the peer's datagram", func() bool { return p.has("back") })
		})
	})
	netRun(c)
	dgCheckProtos(c, p)
}

func udpConnectTwice(c *C) {
	port := dgListen(c, "127.0.0.1:0", &dgProto{name: "p"})
	r1 := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer r1.close()
	r2 := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer r2.close()
	netWhenRunning(c, func() {
		c.NoErr(port.Connect(r1.addr().String()), "first Connect")
		c.ErrIs(port.Connect(r2.addr().String()), gyre.ErrAlreadyConnected, "second Connect")
		dgAddrIs(c, port.RemoteAddr(), r1.udpAddr(), "RemoteAddr after a refused second Connect")
		c.NoErr(port.Write([]byte("x"), nil), "Write with a nil address")
		netUntil(c, "the datagram at the first peer", func() bool { return r1.has("x") }, func() {
			c.Later(30*time.Millisecond, func() { netStop(c) })
		})
	})
	netRun(c)
	c.Equal(r2.count(), 0, "datagrams that reached the second Connect's address")
}

func udpConnectHostName(c *C) {
	port := dgListen(c, "127.0.0.1:0", &dgProto{name: "p"})
	for _, addr := range []string{"localhost:9", netBadName + ":9"} {
		err := port.Connect(addr)
		c.ErrIs(err, gyre.ErrAddress, "Connect("+strconv.Quote(addr)+")")
		if errors.Is(err, gyre.ErrDNSLookup) {
			c.Errorf("Connect(%q): the host was looked up (%v)", addr, err)
		}
	}
	c.True(port.RemoteAddr() == nil || netNil(port.RemoteAddr()), "RemoteAddr() = %v after refused Connects, want nil", port.RemoteAddr())
	c.ErrIs(port.Write([]byte("x"), nil), gyre.ErrAddress, "Write with a nil address after refused Connects")
}

func udpConnectMalformed(c *C) {
	port := dgListen(c, "127.0.0.1:0", &dgProto{name: "p"})
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:65536", "", "[::1"} {
		c.ErrIs(port.Connect(addr), gyre.ErrAddress, "Connect("+strconv.Quote(addr)+")")
	}
	c.True(port.RemoteAddr() == nil || netNil(port.RemoteAddr()), "RemoteAddr() = %v after refused Connects, want nil", port.RemoteAddr())
}

// udpClosedPort returns a loopback UDP address that nothing is bound to (it
// was a moment ago).
func udpClosedPort(c *C) *net.UDPAddr {
	c.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		c.Fatalf("net.ListenPacket: %v", err)
	}
	a := conn.LocalAddr().(*net.UDPAddr)
	_ = conn.Close()
	return a
}

// udpRebindThenSend binds a raw socket to addr, the connected port's peer,
// and sends "alive" from it; then calls then once p got it.
func udpRebindThenSend(c *C, p *dgProto, port gyre.DatagramPort, addr *net.UDPAddr, then func()) *dgRaw {
	conn, err := net.ListenPacket("udp4", addr.String())
	if err != nil {
		netFail(c, "rebinding the refused address %v: %v", addr, err)
		return nil
	}
	r := dgRawStart(conn)
	if err := r.send("alive", dgUDPAddr(c, port)); err != nil {
		netFail(c, "send: %v", err)
		return r
	}
	netUntil(c, "a datagram from the peer after the refusal", func() bool { return p.has("alive") }, then)
	return r
}

func udpRefusedReported(c *C) {
	p := &dgRefusing{dgProto: &dgProto{name: "p"}}
	port, err := c.UDP.ListenUDP("127.0.0.1:0", p)
	if err != nil {
		c.Fatalf("ListenUDP: %v", err)
	}
	closed := udpClosedPort(c)
	var peer *dgRaw
	defer func() { peer.close() }()
	netWhenRunning(c, func() {
		c.NoErr(port.Connect(closed.String()), "Connect to a closed port")
		c.NoErr(port.Write([]byte("x"), nil), "Write to a closed port")
		var poll func()
		poll = func() {
			if p.refused > 0 {
				peer = udpRebindThenSend(c, p.dgProto, port, closed, func() { netStop(c) })
				return
			}
			c.NoErr(port.Write([]byte("x"), nil), "Write to a closed port again")
			c.Later(10*time.Millisecond, poll)
		}
		poll()
	})
	netRun(c)
	c.True(p.refused > 0, "ConnectionRefused was not called")
	dgCheckProtos(c, p.dgProto)
}

func udpRefusedIgnored(c *C) {
	p := &dgProto{name: "p"}
	port := dgListen(c, "127.0.0.1:0", p)
	closed := udpClosedPort(c)
	var peer *dgRaw
	defer func() { peer.close() }()
	netWhenRunning(c, func() {
		c.NoErr(port.Connect(closed.String()), "Connect to a closed port")
		c.NoErr(port.Write([]byte("x"), nil), "Write to a closed port")
		c.Later(30*time.Millisecond, func() {
			peer = udpRebindThenSend(c, p, port, closed, func() { netStop(c) })
		})
	})
	netRun(c)
	for _, rec := range c.Logs() {
		if rec.Level >= slog.LevelError {
			c.Errorf("a refused datagram to a protocol without ConnectionRefused logged an error: %s %v", rec.Message, rec.Attrs)
		}
	}
	dgCheckProtos(c, p)
}

// --- Stopping ---

func udpStopRebind(c *C) {
	p := &dgProto{name: "p"}
	port := dgListen(c, "127.0.0.1:0", p)
	addr := dgUDPAddr(c, port).String()
	fired := false
	netWhenRunning(c, func() {
		dgStop(c, port, func() {
			fired = true
			conn, err := net.ListenPacket("udp4", addr)
			if err != nil {
				netFail(c, "net.ListenPacket on the address of a stopped port: %v", err)
				return
			}
			_ = conn.Close()
			again := &dgProto{name: "again"}
			p2 := dgListenOnLoop(c, addr, again)
			if p2 == nil {
				return
			}
			dgStop(c, p2, func() {
				netStopWhen(c, "StopProtocol of both", func() bool { return p.stops == 1 && again.stops == 1 })
			})
		})
	})
	netRun(c)
	c.True(fired, "the StopListening Deferred never fired")
	dgCheckProtos(c, p)
}

func udpStopProtocolLater(c *C) {
	p := &dgProto{name: "p"}
	port := dgListen(c, "127.0.0.1:0", p)
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	stopped := false
	p.onData = func(p *dgProto, data []byte, addr net.Addr) {
		if stopped {
			p.bad = append(p.bad, fmt.Sprintf("DatagramReceived(%q) after StopListening", data))
		}
	}
	netWhenRunning(c, func() {
		netUntil(c, "StartProtocol", func() bool { return p.starts == 1 }, func() {
			for i := 0; i < 5; i++ {
				_ = raw.send("queued", dgUDPAddr(c, port))
			}
			stopped = true
			p.inCall = "StopListening"
			d := port.StopListening()
			p.inCall = ""
			if d == nil {
				netFail(c, "StopListening returned a nil Deferred")
				return
			}
			netUntil(c, "StopProtocol", func() bool { return p.stops > 0 }, func() {
				c.Later(30*time.Millisecond, func() { netStop(c) })
			})
		})
	})
	netRun(c)
	c.Equal(p.stops, 1, "StopProtocol calls")
	dgCheckProtos(c, p)
}

func udpStopTwice(c *C) {
	port := dgListen(c, "127.0.0.1:0", &dgProto{name: "p"})
	results := map[string]error{}
	var check func(name string) func(v any, err error)
	check = func(name string) func(v any, err error) {
		return func(v any, err error) {
			if v != nil && err == nil {
				err = errors.New("fired with a value, want nil")
			}
			results[name] = err
			if name == "first" {
				netOnFire(port.StopListening(), check("after-first-fired"))
			}
		}
	}
	netWhenRunning(c, func() {
		d1 := port.StopListening()
		d2 := port.StopListening()
		if d1 == nil || d2 == nil {
			netFail(c, "StopListening returned a nil Deferred")
			return
		}
		netOnFire(d2, check("second"))
		netOnFire(d1, check("first"))
		netStopWhen(c, "every StopListening Deferred to fire", func() bool { return len(results) == 3 })
	})
	netRun(c)
	for _, name := range []string{"first", "second", "after-first-fired"} {
		err, ok := results[name]
		c.True(ok, "the %s StopListening Deferred never fired", name)
		c.NoErr(err, "the "+name+" StopListening Deferred")
	}
}

func udpStopAfterShutdown(c *C) {
	p := &dgProto{name: "p"}
	port := dgListen(c, "127.0.0.1:0", p)
	addr := dgUDPAddr(c, port).String()
	netWhenRunning(c, func() { netStop(c) })
	netRun(c)
	d := port.StopListening()
	if d == nil {
		c.Fatalf("StopListening after shutdown returned a nil Deferred")
	}
	v, err, ok := d.Result()
	c.True(ok, "StopListening after shutdown returned a Deferred that has not fired")
	c.NoErr(err, "StopListening Deferred after shutdown")
	c.True(v == nil, "StopListening Deferred after shutdown fired with %v, want nil", v)
	conn, err := net.ListenPacket("udp4", addr)
	if err != nil {
		c.Errorf("the address of a port closed by shutdown cannot be bound: %v", err)
	} else {
		_ = conn.Close()
	}
	c.Equal(p.stops, 1, "StopProtocol calls")
	dgCheckProtos(c, p)
}

func udpStopInStart(c *C) {
	p := &dgProto{name: "p"}
	fired := false
	p.onStart = func(p *dgProto) {
		p.inCall = "StopListening (called from StartProtocol)"
		d := p.port.StopListening()
		p.inCall = ""
		if d == nil {
			netFail(c, "StopListening returned a nil Deferred")
			return
		}
		netOnFire(d, func(any, error) { fired = true })
	}
	dgListen(c, "127.0.0.1:0", p)
	netWhenRunning(c, func() {
		netStopWhen(c, "StopProtocol and the Deferred", func() bool { return fired && p.stops == 1 })
	})
	netRun(c)
	dgCheckProtos(c, p)
}

func udpStopRestart(c *C) {
	p := &dgProto{name: "p"}
	port := dgListen(c, "127.0.0.1:0", p)
	addr := dgUDPAddr(c, port).String()
	netWhenRunning(c, func() {
		netUntil(c, "StartProtocol", func() bool { return p.starts == 1 }, func() {
			dgStop(c, port, func() {
				netUntil(c, "StopProtocol", func() bool { return p.stops == 1 }, func() {
					if p2 := dgListenOnLoop(c, addr, p); p2 != nil {
						netUntil(c, "StartProtocol again", func() bool { return p.starts == 2 }, func() {
							dgStop(c, p2, func() { netStopWhen(c, "StopProtocol again", func() bool { return p.stops == 2 }) })
						})
					}
				})
			})
		})
	})
	netRun(c)
	c.Equal(p.starts, 2, "StartProtocol calls of a protocol listened twice")
	dgCheckProtos(c, p)
}

func udpShutdown(c *C) {
	p1 := &dgProto{name: "p1"}
	port1 := dgListen(c, "127.0.0.1:0", p1)
	p2 := &dgProto{name: "p2"}
	port2 := dgListen(c, "127.0.0.1:0", p2)
	addrs := []string{dgUDPAddr(c, port1).String(), dgUDPAddr(c, port2).String()}
	ran := false
	dgDuring(c, func() {
		ran = true
		c.True(p1.stops == 1 && p2.stops == 1, "StopProtocol calls by the users' During \"shutdown\" triggers: %d and %d, want 1 each",
			p1.stops, p2.stops)
		for _, a := range addrs {
			conn, err := net.ListenPacket("udp4", a)
			if err != nil {
				c.Errorf("the address of a port cannot be bound again in a During \"shutdown\" trigger: %v", err)
				continue
			}
			_ = conn.Close()
		}
	})
	netWhenRunning(c, func() {
		netUntil(c, "StartProtocol", func() bool { return p1.starts == 1 && p2.starts == 1 }, func() { netStop(c) })
	})
	netRun(c)
	c.True(ran, "the During \"shutdown\" trigger did not run")
	dgCheckProtos(c, p1, p2)
}

func udpLoop(c *C) {
	g := &netGoCheck{g: netGoID()}
	p := &dgRefusing{dgProto: &dgProto{name: "p", g: g}}
	p.onData = func(p *dgProto, data []byte, addr net.Addr) { _ = p.port.Write(data, addr) }
	port, err := c.UDP.ListenUDP("127.0.0.1:0", p)
	if err != nil {
		c.Fatalf("ListenUDP: %v", err)
	}
	q := &dgRefusing{dgProto: &dgProto{name: "q", g: g}}
	qport, err := c.UDP.ListenUDP("127.0.0.1:0", q)
	if err != nil {
		c.Fatalf("ListenUDP: %v", err)
	}
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	closed := udpClosedPort(c)
	netWhenRunning(c, func() {
		_ = raw.send("echo", dgUDPAddr(c, port))
		c.NoErr(qport.Connect(closed.String()), "Connect")
		_ = qport.Write([]byte("x"), nil)
		netUntil(c, "the echo and the refusal", func() bool { return raw.has("echo") && q.refused > 0 }, func() {
			dgStop(c, port, func() { netStopWhen(c, "StopProtocol", func() bool { return p.stops == 1 }) })
		})
	})
	netRun(c)
	dgCheckProtos(c, p.dgProto, q.dgProto)
}
