package reactortest

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// Cases for the "TCP: ports, connectors and addresses" rules of
// docs/SPEC.md. Every address is on the loopback interface.

func init() {
	const n = NeedTCP | NeedClock
	tcp := func(id string, f func(c *C)) Case { return Case{ID: id, Facet: FacetTCP, Needs: n, Test: f} }
	register(
		tcp("tcp.listen.port-zero#ipv4", tcpListenPortZero),
		tcp("tcp.listen.port-zero#any-address", tcpListenPortZeroAny),
		tcp("tcp.listen.literal-host#localhost", func(c *C) { tcpListenRejected(c, "localhost:0", gyre.ErrAddress) }),
		tcp("tcp.listen.literal-host#unresolvable", func(c *C) { tcpListenRejected(c, netBadName+":0", gyre.ErrAddress) }),
		tcp("tcp.listen.literal-host#malformed", tcpListenMalformed),
		tcp("tcp.listen.ipv6#listen", tcpListenIPv6),
		tcp("tcp.listen.ipv6#connect", tcpConnectIPv6),
		tcp("tcp.listen.in-use#other-socket", tcpListenInUseRaw),
		tcp("tcp.listen.in-use#same-reactor", tcpListenInUseGyre),
		tcp("tcp.listen.backlog#set", tcpListenBacklogSet),
		tcp("tcp.listen.backlog#default", tcpListenBacklogDefault),
		tcp("tcp.listen.reuseport#shared", tcpListenReusePortShared),
		tcp("tcp.listen.reuseport#required", tcpListenReusePortRequired),
		tcp("tcp.listen.stop#rebind", tcpListenStopRebind),
		tcp("tcp.listen.stop#twice", tcpListenStopTwice),
		tcp("tcp.listen.stop#after-shutdown", tcpListenStopAfterShutdown),
		tcp("tcp.listen.stop-keeps-connections", tcpListenStopKeeps),
		tcp("tcp.listen.before-run", tcpListenBeforeRun),
		tcp("tcp.stopped#listen", tcpStoppedListen),
		tcp("tcp.stopped#connect", tcpStoppedConnect),
		tcp("tcp.stopped#during-shutdown", tcpStoppedDuringShutdown),
		tcp("tcp.factory.start-stop#ports", tcpFactoryPorts),
		tcp("tcp.factory.start-stop#failed-attempts", tcpFactoryFailedAttempts),
		tcp("tcp.factory.start-stop#lost-connection", tcpFactoryLost),
		tcp("tcp.factory.start-stop#port-and-connector", tcpFactoryShared),
		tcp("tcp.factory.start-stop#failed-call", tcpFactoryFailedCall),
		tcp("tcp.accept.protocol", tcpAcceptProtocol),
		tcp("tcp.accept.refuse", tcpAcceptRefuse),
		tcp("tcp.accept.burst", tcpAcceptBurst),
		tcp("tcp.accept.emfile", tcpAcceptEMFILE),
		tcp("tcp.accept.panic", tcpAcceptPanic),
		tcp("tcp.connect.started", tcpConnectStarted),
		tcp("tcp.connect.started#reconnect", tcpConnectStartedReconnect),
		tcp("tcp.connect.made", tcpConnectMade),
		tcp("tcp.connect.name", tcpConnectName),
		tcp("tcp.connect.async#refused", tcpConnectAsyncRefused),
		tcp("tcp.connect.async#bind", tcpConnectAsyncBind),
		tcp("tcp.connect.async#dns", tcpConnectAsyncDNS),
		tcp("tcp.connect.async#stop-connecting", func(c *C) { tcpConnectAsyncCancel(c, false) }),
		tcp("tcp.connect.async#disconnect", func(c *C) { tcpConnectAsyncCancel(c, true) }),
		tcp("tcp.connect.bad-address", tcpConnectBadAddress),
		tcp("tcp.connect.refused", tcpConnectRefused),
		tcp("tcp.connect.timeout#unanswered", tcpConnectTimeout),
		tcp("tcp.connect.timeout#made-in-time", tcpConnectTimeoutMadeInTime),
		tcp("tcp.connect.dns", tcpConnectDNS),
		tcp("tcp.connect.bind#in-use", tcpConnectBindInUse),
		tcp("tcp.connect.bind#port", tcpConnectBindPort),
		tcp("tcp.connect.bind#address", tcpConnectBindAddress),
		tcp("tcp.connect.refuse", tcpConnectRefuse),
		tcp("tcp.connect.stop-connecting#pending", func(c *C) { tcpConnectCancelPending(c, false) }),
		tcp("tcp.connect.stop-connecting#in-started", tcpConnectStopInStarted),
		tcp("tcp.connect.stop-connecting#connected-unseen", tcpConnectStopConnectedUnseen),
		tcp("tcp.connect.stop-connecting#resolving", tcpConnectStopResolving),
		tcp("tcp.connect.disconnect#attempt", func(c *C) { tcpConnectCancelPending(c, true) }),
		tcp("tcp.connect.disconnect#connected", tcpConnectDisconnectConnected),
		tcp("tcp.connect.state-errors#connecting", tcpStateConnecting),
		tcp("tcp.connect.state-errors#connected", tcpStateConnected),
		tcp("tcp.connect.state-errors#ended", tcpStateEnded),
		tcp("tcp.connect.lost#clean", tcpConnectLostClean),
		tcp("tcp.connect.lost#reset", tcpConnectLostReset),
		tcp("tcp.connect.reconnect#from-failed", tcpReconnectFromFailed),
		tcp("tcp.connect.reconnect#from-lost", tcpReconnectFromLost),
		tcp("tcp.connect.reconnect#refused-after-stop", tcpReconnectRefused),
		tcp("tcp.reason.distinct", tcpReasonDistinct),
		tcp("tcp.shutdown.ports", tcpShutdownPorts),
		tcp("tcp.shutdown.attempts", tcpShutdownAttempts),
		tcp("tcp.shutdown.connections", tcpShutdownConnections),
		tcp("tcp.shutdown.graceful", tcpShutdownGraceful),
		tcp("tcp.loop", tcpLoop),
	)
}

// tcpDuring registers f as a During "shutdown" trigger.
func tcpDuring(c *C, f func()) {
	c.Helper()
	_, err := c.R.AddSystemEventTrigger(gyre.During, gyre.Shutdown, func() *deferred.Deferred {
		f()
		return nil
	})
	if err != nil {
		c.Fatalf("AddSystemEventTrigger: %v", err)
	}
}

// tcpConnectOnLoop starts connecting from a loop callback; on error it fails
// the case, stops the reactor and returns nil.
func tcpConnectOnLoop(c *C, addr string, f gyre.ClientFactory, opts ...gyre.ConnectOption) gyre.Connector {
	c.Helper()
	cn, err := c.TCP.ConnectTCP(addr, f, opts...)
	if err != nil {
		netFail(c, "ConnectTCP(%q): %v", addr, err)
		return nil
	}
	return cn
}

// tcpRefusedDial fails the case unless dialing addr is refused.
func tcpRefusedDial(c *C, addr, what string) {
	c.Helper()
	r, err := netRawDial("tcp", addr)
	if err == nil {
		r.close()
		c.Errorf("%s: a connection to %s succeeded, want it refused", what, addr)
		return
	}
	c.ErrIs(err, syscall.ECONNREFUSED, what+": dial")
}

// --- Listening ---

func tcpListenPortZero(c *C) {
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	a := netTCPAddr(c, port)
	c.True(a.Port != 0, "Addr() = %v: port 0, want the port the system picked", a)
	c.True(a.IP.Equal(net.IPv4(127, 0, 0, 1)), "Addr() = %v, want IP 127.0.0.1", a)
	var raw *netRaw
	defer func() { raw.close() }()
	netWhenRunning(c, func() {
		if raw = netDial(c, "tcp", a.String()); raw == nil {
			return
		}
		netStopWhen(c, "the connection to the port to be made", func() bool { return netMade(srv.proto(0)) })
	})
	netRun(c)
	if raw != nil && len(srv.addrs) > 0 {
		netAddrIs(c, srv.addrs[0], raw.conn.LocalAddr(), "address given to BuildProtocol")
	}
	netCheckProtos(c, srv.protos...)
}

func tcpListenPortZeroAny(c *C) {
	srv := &netServer{}
	port := netListen(c, ":0", srv)
	a := netTCPAddr(c, port)
	c.True(a.Port != 0, "Addr() = %v: port 0, want the port the system picked", a)
	c.True(a.IP == nil || a.IP.IsUnspecified(), "Addr() = %v, want an unspecified IP for \":0\"", a)
	cl := &netClient{}
	netWhenRunning(c, func() {
		if tcpConnectOnLoop(c, netLoopback(c, port), cl) == nil {
			return
		}
		netStopWhen(c, "a connection through 127.0.0.1 to be made", func() bool {
			return netMade(cl.proto(0)) && netMade(srv.proto(0))
		})
	})
	netRun(c)
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}

// tcpListenRejected checks that ListenTCP(addr) fails with want, returns a
// nil Port and leaves the factory alone.
func tcpListenRejected(c *C, addr string, want error) {
	c.Helper()
	srv := &netServer{}
	p, err := c.TCP.ListenTCP(addr, srv)
	c.ErrIs(err, want, "ListenTCP("+strconv.Quote(addr)+")")
	if errors.Is(err, gyre.ErrDNSLookup) {
		c.Errorf("ListenTCP(%q): the host was looked up (%v); a listening host must be a literal IP", addr, err)
	}
	if !netNil(p) {
		c.Errorf("ListenTCP(%q) returned a Port (%v) with its error", addr, p.Addr())
		p.StopListening()
	}
	c.True(srv.starts == 0 && srv.stops == 0, "ListenTCP(%q) failed but called StartFactory %d and StopFactory %d times",
		addr, srv.starts, srv.stops)
}

func tcpListenMalformed(c *C) {
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:65536", "127.0.0.1:-1", "[::1"} {
		tcpListenRejected(c, addr, gyre.ErrAddress)
	}
}

func tcpListenIPv6(c *C) {
	netIPv6(c)
	srv := &netServer{}
	port := netListen(c, "[::1]:0", srv)
	a := netTCPAddr(c, port)
	c.True(a.IP.Equal(net.IPv6loopback) && a.Port != 0, "Addr() = %v, want ::1 and a non-zero port", a)
	var raw *netRaw
	defer func() { raw.close() }()
	netWhenRunning(c, func() {
		if raw = netDial(c, "tcp6", a.String()); raw == nil {
			return
		}
		netStopWhen(c, "the IPv6 connection to be made", func() bool { return netMade(srv.proto(0)) })
	})
	netRun(c)
	p := srv.proto(0)
	if raw == nil || p == nil {
		return
	}
	netAddrIs(c, srv.addrs[0], raw.conn.LocalAddr(), "address given to BuildProtocol")
	netAddrIs(c, p.local, raw.conn.RemoteAddr(), "server transport's LocalAddr")
	netAddrIs(c, p.remote, raw.conn.LocalAddr(), "server transport's RemoteAddr")
	netCheckProtos(c, p)
}

func tcpConnectIPv6(c *C) {
	netIPv6(c)
	rl := netRawListen(c, "tcp6", "[::1]:0")
	defer rl.close()
	cl := &netClient{}
	netWhenRunning(c, func() {
		if tcpConnectOnLoop(c, rl.addr(), cl) == nil {
			return
		}
		netStopWhen(c, "the IPv6 connection to be made", func() bool { return netMade(cl.proto(0)) && rl.count() == 1 })
	})
	netRun(c)
	p, r := cl.proto(0), rl.next()
	if p == nil || r == nil {
		return
	}
	netAddrIs(c, cl.addrs[0], rl.l.Addr(), "address given to the client's BuildProtocol")
	netAddrIs(c, p.remote, rl.l.Addr(), "client transport's RemoteAddr")
	netAddrIs(c, p.local, r.conn.RemoteAddr(), "client transport's LocalAddr")
	netCheckProtos(c, p)
}

func tcpListenInUseRaw(c *C) {
	rl := netRawListen(c, "tcp", "127.0.0.1:0")
	defer rl.close()
	srv := &netServer{}
	p, err := c.TCP.ListenTCP(rl.addr(), srv)
	c.ErrIs(err, gyre.ErrBind, "ListenTCP on an address in use")
	c.ErrIs(err, syscall.EADDRINUSE, "ListenTCP on an address in use")
	if !netNil(p) {
		c.Errorf("ListenTCP on an address in use returned a Port with its error")
		p.StopListening()
	}
	c.True(srv.starts == 0, "ListenTCP failed but called StartFactory")
	r, err := netRawDial("tcp", rl.addr())
	if err != nil {
		c.Fatalf("the socket already listening no longer accepts: %v", err)
	}
	defer r.close()
	c.True(rl.waitCount(1, 5*time.Second), "the socket already listening did not accept a connection")
}

func tcpListenInUseGyre(c *C) {
	first := &netServer{name: "first"}
	port := netListen(c, "127.0.0.1:0", first)
	addr := netTCPAddr(c, port).String()
	second := &netServer{name: "second"}
	p, err := c.TCP.ListenTCP(addr, second)
	c.ErrIs(err, gyre.ErrBind, "second ListenTCP on the same address")
	c.ErrIs(err, syscall.EADDRINUSE, "second ListenTCP on the same address")
	if !netNil(p) {
		c.Errorf("the second ListenTCP returned a Port with its error")
		p.StopListening()
	}
	var raw *netRaw
	defer func() { raw.close() }()
	netWhenRunning(c, func() {
		if raw = netDial(c, "tcp", addr); raw == nil {
			return
		}
		netStopWhen(c, "the first port to accept", func() bool { return netMade(first.proto(0)) })
	})
	netRun(c)
	c.Equal(len(second.addrs), 0, "connections given to the factory of the failed ListenTCP")
}

func tcpListenBacklogSet(c *C) {
	srv := &netServer{}
	p1 := netListen(c, "127.0.0.1:0", srv, gyre.Backlog(1))
	p2 := netListen(c, "127.0.0.1:0", srv, gyre.Backlog(7))
	c.Equal(netMaxBacklog(c, netTCPAddr(c, p1).Port), 1, "listen queue length with Backlog(1)")
	c.Equal(netMaxBacklog(c, netTCPAddr(c, p2).Port), 7, "listen queue length with Backlog(7)")
}

func tcpListenBacklogDefault(c *C) {
	max := netSomaxconn(c)
	srv := &netServer{}
	p1 := netListen(c, "127.0.0.1:0", srv)
	p2 := netListen(c, "127.0.0.1:0", srv, gyre.Backlog(0))
	c.Equal(netMaxBacklog(c, netTCPAddr(c, p1).Port), max, "listen queue length without Backlog (somaxconn)")
	c.Equal(netMaxBacklog(c, netTCPAddr(c, p2).Port), max, "listen queue length with Backlog(0) (somaxconn)")
}

func tcpListenReusePortShared(c *C) {
	a, b := &netServer{name: "a"}, &netServer{name: "b"}
	pa := netListen(c, "127.0.0.1:0", a, gyre.ReusePort())
	addr := netTCPAddr(c, pa).String()
	if _, err := c.TCP.ListenTCP(addr, b, gyre.ReusePort()); err != nil {
		c.Fatalf("a second ListenTCP with ReusePort on %s: %v", addr, err)
	}
	both := runtime.GOOS == "linux"
	const tries = 200
	dials := 0
	var dial func()
	dial = func() {
		dials++
		r := netDial(c, "tcp", addr)
		if r == nil {
			return
		}
		netUntil(c, "the connection to be accepted by one of the ports", func() bool {
			return len(a.protos)+len(b.protos) == dials
		}, func() {
			r.close()
			done := len(a.protos) > 0 && len(b.protos) > 0
			if !both {
				done = len(a.protos)+len(b.protos) > 0
			}
			switch {
			case done:
				netStop(c)
			case dials >= tries:
				netFail(c, "%d connections all went to one port (a: %d, b: %d)", dials, len(a.protos), len(b.protos))
			default:
				dial()
			}
		})
	}
	netWhenRunning(c, dial)
	netRun(c)
	netCheckProtos(c, append(a.protos, b.protos...)...)
}

func tcpListenReusePortRequired(c *C) {
	srv := &netServer{}
	p1 := netListen(c, "127.0.0.1:0", srv, gyre.ReusePort())
	p, err := c.TCP.ListenTCP(netTCPAddr(c, p1).String(), srv)
	c.ErrIs(err, gyre.ErrBind, "ListenTCP without ReusePort where a ReusePort port listens")
	c.ErrIs(err, syscall.EADDRINUSE, "ListenTCP without ReusePort where a ReusePort port listens")
	if !netNil(p) {
		p.StopListening()
	}
	p2 := netListen(c, "127.0.0.1:0", srv)
	p, err = c.TCP.ListenTCP(netTCPAddr(c, p2).String(), srv, gyre.ReusePort())
	c.ErrIs(err, gyre.ErrBind, "ListenTCP with ReusePort where a port without it listens")
	c.ErrIs(err, syscall.EADDRINUSE, "ListenTCP with ReusePort where a port without it listens")
	if !netNil(p) {
		p.StopListening()
	}
}

func tcpListenStopRebind(c *C) {
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	addr := netTCPAddr(c, port).String()
	fired := false
	var raw *netRaw
	defer func() { raw.close() }()
	netWhenRunning(c, func() {
		netOnFire(port.StopListening(), func(v any, err error) {
			fired = true
			c.NoErr(err, "StopListening Deferred")
			c.True(v == nil, "StopListening Deferred fired with %v, want nil", v)
			tcpRefusedDial(c, addr, "after StopListening fired")
			l, err := net.Listen("tcp", addr)
			if err != nil {
				netFail(c, "net.Listen on the address of a stopped port: %v", err)
				return
			}
			_ = l.Close()
			again := &netServer{}
			p2, err := c.TCP.ListenTCP(addr, again)
			if err != nil {
				netFail(c, "ListenTCP on the address of a stopped port: %v", err)
				return
			}
			if raw = netDial(c, "tcp", addr); raw == nil {
				return
			}
			netUntil(c, "the new port to accept", func() bool { return netMade(again.proto(0)) }, func() {
				netOnFire(p2.StopListening(), func(any, error) { netStop(c) })
			})
		})
	})
	netRun(c)
	c.True(fired, "the StopListening Deferred never fired")
}

func tcpListenStopTwice(c *C) {
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
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

func tcpListenStopAfterShutdown(c *C) {
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	addr := netTCPAddr(c, port).String()
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
	l, err := net.Listen("tcp", addr)
	if err != nil {
		c.Errorf("the address of a port closed by shutdown cannot be bound: %v", err)
		return
	}
	_ = l.Close()
}

func tcpListenStopKeeps(c *C) {
	lg := &netLog{}
	srv := &netServer{name: "s", log: lg}
	srv.onProto = func(p *netRecorder) {
		p.onData = func(p *netRecorder, b []byte) {
			if string(p.data) == "ping" {
				p.write(c, "pong")
			}
		}
	}
	port := netListen(c, "127.0.0.1:0", srv)
	cl := &netClient{netServer: netServer{name: "c", log: lg}}
	netWhenRunning(c, func() {
		if tcpConnectOnLoop(c, netTCPAddr(c, port).String(), cl) == nil {
			return
		}
		netUntil(c, "the connection to be made", func() bool { return netMade(cl.proto(0)) && netMade(srv.proto(0)) }, func() {
			netOnFire(port.StopListening(), func(any, error) {
				c.True(!netGone(srv.proto(0)) && !netGone(cl.proto(0)), "StopListening closed an accepted connection: %s", lg)
				cl.proto(0).write(c, "ping")
				netUntil(c, "the reply over the accepted connection", func() bool { return string(cl.proto(0).data) == "pong" }, func() {
					cl.proto(0).t.LoseConnection()
					netStopWhen(c, "the server side to see the close", func() bool { return netGone(srv.proto(0)) })
				})
			})
		})
	})
	netRun(c)
	if p := srv.proto(0); netGone(p) {
		netReason(c, p.reason, gyre.ErrConnectionDone, "server ConnectionLost after the client closed")
	}
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}

func tcpListenBeforeRun(c *C) {
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	cl := &netClient{}
	netConnect(c, netTCPAddr(c, port).String(), cl)
	c.Equal(len(cl.started), 1, "StartedConnecting calls when ConnectTCP returned before Run")
	c.True(len(srv.protos) == 0 && len(cl.protos) == 0, "a protocol was built before Run")
	netWhenRunning(c, func() {
		netStopWhen(c, "the connection made before Run to work", func() bool {
			return netMade(cl.proto(0)) && netMade(srv.proto(0))
		})
	})
	netRun(c)
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}

func tcpStoppedListen(c *C) {
	netWhenRunning(c, func() { netStop(c) })
	netRun(c)
	srv := &netServer{}
	p, err := c.TCP.ListenTCP("127.0.0.1:0", srv)
	c.ErrIs(err, gyre.ErrStopped, "ListenTCP on a stopped reactor")
	if !netNil(p) {
		c.Errorf("ListenTCP on a stopped reactor returned a Port")
		p.StopListening()
	}
	c.True(srv.starts == 0 && srv.stops == 0, "ListenTCP on a stopped reactor called StartFactory or StopFactory")
}

func tcpStoppedConnect(c *C) {
	rp := netReserve(c)
	defer rp.close()
	netWhenRunning(c, func() { netStop(c) })
	netRun(c)
	cl := &netClient{}
	cn, err := c.TCP.ConnectTCP(rp.addr, cl)
	c.ErrIs(err, gyre.ErrStopped, "ConnectTCP on a stopped reactor")
	if !netNil(cn) {
		c.Errorf("ConnectTCP on a stopped reactor returned a Connector")
		cn.Disconnect()
	}
	c.True(len(cl.started) == 0 && cl.starts == 0, "ConnectTCP on a stopped reactor called the factory: %d StartedConnecting, %d StartFactory",
		len(cl.started), cl.starts)
}

func tcpStoppedDuringShutdown(c *C) {
	rp := netReserve(c)
	defer rp.close()
	ran := false
	tcpDuring(c, func() {
		ran = true
		srv := &netServer{}
		p, err := c.TCP.ListenTCP("127.0.0.1:0", srv)
		c.ErrIs(err, gyre.ErrStopped, "ListenTCP in a During \"shutdown\" trigger")
		if !netNil(p) {
			p.StopListening()
		}
		cl := &netClient{}
		cn, err := c.TCP.ConnectTCP(rp.addr, cl)
		c.ErrIs(err, gyre.ErrStopped, "ConnectTCP in a During \"shutdown\" trigger")
		if !netNil(cn) {
			cn.Disconnect()
		}
		c.True(srv.starts == 0 && cl.starts == 0 && len(cl.started) == 0,
			"a refused ListenTCP or ConnectTCP called the factory")
	})
	netWhenRunning(c, func() { netStop(c) })
	netRun(c)
	c.True(ran, "the During \"shutdown\" trigger did not run")
}

// --- Factories ---

func tcpFactoryPorts(c *C) {
	f := &netServer{name: "f", log: &netLog{}, logStarts: true}
	p1 := netListen(c, "127.0.0.1:0", f)
	c.Equal(f.starts, 1, "StartFactory calls once the first port listens")
	p2 := netListen(c, "127.0.0.1:0", f)
	c.Equal(f.starts, 1, "StartFactory calls once a second port listens")
	c.Equal(f.stops, 0, "StopFactory calls while two ports listen")
	netWhenRunning(c, func() {
		netOnFire(p1.StopListening(), func(any, error) {
			c.Equal(f.stops, 0, "StopFactory calls when the first of two ports has stopped")
			netOnFire(p2.StopListening(), func(any, error) {
				c.Equal(f.stops, 1, "StopFactory calls when the last port's StopListening Deferred fires")
				netStop(c)
			})
		})
	})
	netRun(c)
	c.Equal(f.log, "f.start f.stop", "factory calls")
}

func tcpFactoryFailedAttempts(c *C) {
	rp := netReserve(c)
	defer rp.close()
	lg := &netLog{}
	cl := &netClient{netServer: netServer{name: "f", log: lg, logStarts: true}}
	cl.onFailed = func(cn gyre.Connector, reason error) {
		if len(cl.failed) == 1 {
			c.NoErr(cn.Connect(), "Connect from ClientConnectionFailed")
			return
		}
		netStopWhen(c, "StopFactory after the last attempt failed", func() bool { return cl.stops > 0 })
	}
	netConnect(c, rp.addr, cl)
	c.Equal(lg, "f.start f.started", "factory calls when ConnectTCP returned")
	netRun(c)
	c.Equal(lg, "f.start f.started f.failed f.started f.failed f.stop", "factory calls")
}

func tcpFactoryLost(c *C) {
	srv := &netServer{}
	srv.onProto = func(p *netRecorder) { p.onMade = func(p *netRecorder) { p.t.LoseConnection() } }
	port := netListen(c, "127.0.0.1:0", srv)
	lg := &netLog{}
	cl := &netClient{netServer: netServer{name: "f", log: lg, logStarts: true}}
	cl.onLost = func(gyre.Connector, error) {
		c.Equal(cl.stops, 0, "StopFactory calls before ClientConnectionLost returned")
		netStopWhen(c, "StopFactory after the connection was lost", func() bool { return cl.stops > 0 })
	}
	netConnect(c, netTCPAddr(c, port).String(), cl)
	netRun(c)
	c.Equal(lg, "f.start f.started f.build f.p0.made f.p0.lost f.clientlost f.stop", "factory and protocol calls")
}

func tcpFactoryShared(c *C) {
	lg := &netLog{}
	f := &netClient{netServer: netServer{name: "f", log: lg}}
	port := netListen(c, "127.0.0.1:0", f)
	addr := netTCPAddr(c, port)
	cn := netConnect(c, addr.String(), f)
	c.Equal(f.starts, 1, "StartFactory calls for a port and a connector sharing the factory")
	netWhenRunning(c, func() {
		netUntil(c, "both ends of the connection to be made", func() bool { return len(f.protos) == 2 && netMade(f.protos[0]) && netMade(f.protos[1]) }, func() {
			netOnFire(port.StopListening(), func(any, error) {
				c.Equal(f.stops, 0, "StopFactory calls once the port stopped while the connector is connected")
				cn.Disconnect()
				netStopWhen(c, "StopFactory after the connection was lost", func() bool { return f.stops > 0 })
			})
		})
	})
	netRun(c)
	c.Equal(f.starts, 1, "StartFactory calls")
	c.Equal(f.stops, 1, "StopFactory calls")
}

func tcpFactoryFailedCall(c *C) {
	rl := netRawListen(c, "tcp", "127.0.0.1:0")
	defer rl.close()
	srv := &netServer{}
	if p, err := c.TCP.ListenTCP(rl.addr(), srv); err == nil {
		c.Errorf("ListenTCP on an address in use succeeded")
		p.StopListening()
	}
	cl := &netClient{}
	if cn, err := c.TCP.ConnectTCP("127.0.0.1", cl); err == nil {
		c.Errorf("ConnectTCP to an address without a port succeeded")
		cn.Disconnect()
	}
	c.True(srv.starts == 0 && srv.stops == 0, "a failed ListenTCP called StartFactory %d and StopFactory %d times", srv.starts, srv.stops)
	c.True(cl.starts == 0 && cl.stops == 0, "a failed ConnectTCP called StartFactory %d and StopFactory %d times", cl.starts, cl.stops)
}

// --- Accepting ---

func tcpAcceptProtocol(c *C) {
	lg := &netLog{}
	srv := &netServer{name: "s", log: lg}
	port := netListen(c, "127.0.0.1:0", srv)
	var raw *netRaw
	defer func() { raw.close() }()
	netWhenRunning(c, func() {
		if raw = netDial(c, "tcp", netTCPAddr(c, port).String()); raw == nil {
			return
		}
		c.NoErr(raw.write("hello"), "write from the peer")
		netStopWhen(c, "the peer's bytes to arrive", func() bool { p := srv.proto(0); return p != nil && string(p.data) == "hello" })
	})
	netRun(c)
	p := srv.proto(0)
	if raw == nil || p == nil {
		return
	}
	lg.hasPrefix(c, "s.build s.p0.made", "calls for an accepted connection")
	if _, ok := srv.addrs[0].(*net.TCPAddr); !ok {
		c.Errorf("BuildProtocol got a %T, want *net.TCPAddr", srv.addrs[0])
	}
	netAddrIs(c, srv.addrs[0], raw.conn.LocalAddr(), "address given to BuildProtocol")
	netAddrIs(c, p.local, raw.conn.RemoteAddr(), "server transport's LocalAddr")
	netAddrIs(c, p.local, port.Addr(), "server transport's LocalAddr against the port's")
	netAddrIs(c, p.remote, raw.conn.LocalAddr(), "server transport's RemoteAddr")
	if _, ok := p.t.(gyre.TCPTransport); !ok {
		c.Errorf("the transport of an accepted TCP connection is a %T, which does not implement gyre.TCPTransport", p.t)
	}
	netCheckProtos(c, p)
}

func tcpAcceptRefuse(c *C) {
	srv := &netServer{}
	calls := 0
	srv.build = func(net.Addr) gyre.Protocol {
		calls++
		if calls == 1 {
			return nil
		}
		return srv.newProto()
	}
	port := netListen(c, "127.0.0.1:0", srv)
	addr := netTCPAddr(c, port).String()
	var first, second *netRaw
	defer func() { first.close(); second.close() }()
	netWhenRunning(c, func() {
		if first = netDial(c, "tcp", addr); first == nil {
			return
		}
		netUntil(c, "the refused connection to be closed", first.ended, func() {
			if second = netDial(c, "tcp", addr); second == nil {
				return
			}
			netStopWhen(c, "the next connection to be made", func() bool { return netMade(srv.proto(0)) })
		})
	})
	netRun(c)
	if first != nil && first.ended() {
		c.True(first.readErr() == io.EOF, "the peer of a refused connection read %v, want a clean end of file", first.readErr())
		c.Equal(first.received(), 0, "bytes the peer of a refused connection received")
	}
	c.Equal(len(srv.protos), 1, "protocols built")
	netCheckProtos(c, srv.protos...)
}

func tcpAcceptBurst(c *C) {
	const count = 64
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	addr := netTCPAddr(c, port).String()
	var (
		mu   sync.Mutex
		raws []*netRaw
		errs []error
		wg   sync.WaitGroup
	)
	defer func() {
		wg.Wait()
		for _, r := range raws {
			r.close()
		}
	}()
	netWhenRunning(c, func() {
		start := make(chan struct{})
		for i := 0; i < count; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r, err := netRawDial("tcp", addr)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				raws = append(raws, r)
			}()
		}
		close(start)
		netStopWhen(c, strconv.Itoa(count)+" connections to be made", func() bool {
			mu.Lock()
			failed := len(errs) > 0
			mu.Unlock()
			if failed {
				return true
			}
			made := 0
			for _, p := range srv.protos {
				if netMade(p) {
					made++
				}
			}
			return made == count
		})
	})
	netRun(c)
	wg.Wait()
	for _, err := range errs {
		c.Errorf("dial: %v", err)
	}
	c.Equal(len(srv.protos), count, "protocols built")
	seen := map[string]bool{}
	for _, a := range srv.addrs {
		seen[a.String()] = true
	}
	c.Equal(len(seen), count, "distinct peer addresses given to BuildProtocol")
	netCheckProtos(c, srv.protos...)
}

func tcpAcceptEMFILE(c *C) {
	requireCPUTime(c)
	restore, err := netLimitFDs()
	if err != nil {
		c.Skipf("cannot lower the descriptor limit here: %v", err)
	}
	restore()
	restore = nil
	defer func() {
		if restore != nil {
			restore()
		}
	}()
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	addr := netTCPAddr(c, port)
	var pre []int
	defer func() {
		for _, fd := range pre {
			netCloseFD(fd)
		}
	}()
	for i := 0; i < 2; i++ {
		fd, err := netPreSocket()
		if err != nil {
			c.Fatalf("socket: %v", err)
		}
		pre = append(pre, fd)
	}
	const window = 300 * time.Millisecond
	var late *netRaw
	defer func() { late.close() }()
	measured := false
	netWhenRunning(c, func() {
		r, err := netLimitFDs()
		if err != nil {
			netFail(c, "lowering the descriptor limit: %v", err)
			return
		}
		restore = r
		for _, fd := range pre {
			if err := netConnectFD(fd, addr); err != nil {
				netFail(c, "connect while out of descriptors: %v", err)
				return
			}
		}
		cpu0, t0 := cpuTime(), time.Now()
		c.Later(window, func() {
			cpu, wall := cpuTime()-cpu0, time.Since(t0)
			restore()
			restore = nil
			measured = true
			c.True(cpu < wall/2, "while accept failed with EMFILE the process used %v of CPU in %v: the loop spins", cpu, wall)
			c.Equal(len(srv.addrs), 0, "connections accepted while the process could open no descriptor")
			logged := false
			for _, rec := range c.Logs() {
				logged = logged || rec.Level >= slog.LevelWarn
			}
			c.True(logged, "accept failed with EMFILE and nothing was logged at level Warn or above")
			if late = netDial(c, "tcp", addr.String()); late == nil {
				return
			}
			want := late.conn.LocalAddr()
			netStopWhen(c, "a connection made once descriptors were free again", func() bool {
				for i, a := range srv.addrs {
					if netAddrEqual(a, want) && netMade(srv.proto(i)) {
						return true
					}
				}
				return false
			})
		})
	})
	netRun(c)
	c.True(measured, "the measuring timer did not run")
	netCheckProtos(c, srv.protos...)
}

func tcpAcceptPanic(c *C) {
	const msg = "gyre-test: BuildProtocol panics"
	srv := &netServer{}
	calls := 0
	srv.build = func(net.Addr) gyre.Protocol {
		calls++
		if calls == 1 {
			panic(msg)
		}
		return srv.newProto()
	}
	port := netListen(c, "127.0.0.1:0", srv)
	addr := netTCPAddr(c, port).String()
	var first, second *netRaw
	defer func() { first.close(); second.close() }()
	netWhenRunning(c, func() {
		if first = netDial(c, "tcp", addr); first == nil {
			return
		}
		netUntil(c, "the connection whose BuildProtocol panicked to be closed", first.ended, func() {
			if second = netDial(c, "tcp", addr); second == nil {
				return
			}
			netStopWhen(c, "the next connection to be made", func() bool { return netMade(srv.proto(0)) })
		})
	})
	netRun(c)
	logged := false
	for _, rec := range c.Logs() {
		if rec.Level >= slog.LevelError && strings.Contains(rec.Attrs["panic"], msg) {
			logged = true
		}
	}
	c.True(logged, "the panic in BuildProtocol was not logged at level Error with the attribute panic; logs: %v", c.Logs())
	netCheckProtos(c, srv.protos...)
}

// --- Connecting ---

func tcpConnectStarted(c *C) {
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	addr := netTCPAddr(c, port)
	cl := &netClient{}
	inConnect, startedInside := false, false
	cl.onStarted = func(gyre.Connector) { startedInside = inConnect }
	cl.onProto = func(p *netRecorder) { p.onMade = func(p *netRecorder) { p.t.LoseConnection() } }
	inConnect = true
	cn := netConnect(c, addr.String(), cl)
	inConnect = false
	c.True(len(cl.started) == 1 && startedInside, "StartedConnecting was not called before ConnectTCP returned (%d calls)", len(cl.started))
	if len(cl.started) > 0 {
		c.True(netSame(cl.started[0], cn), "StartedConnecting got a Connector other than the one ConnectTCP returned")
	}
	netAddrIs(c, cn.Destination(), addr, "Destination right after ConnectTCP")
	netWhenRunning(c, func() {
		netStopWhen(c, "ClientConnectionLost", func() bool { return len(cl.lost) > 0 })
	})
	netRun(c)
	if len(cl.lostC) > 0 {
		c.True(netSame(cl.lostC[0], cn), "ClientConnectionLost got a Connector other than the one ConnectTCP returned")
	}
	netCheckProtos(c, cl.protos...)
}

func tcpConnectStartedReconnect(c *C) {
	rp := netReserve(c)
	defer rp.close()
	cl := &netClient{}
	inConnect, startedInside := false, false
	cl.onStarted = func(gyre.Connector) { startedInside = inConnect }
	var cn gyre.Connector
	cl.onFailed = func(got gyre.Connector, reason error) {
		if len(cl.failed) > 1 {
			netStop(c)
			return
		}
		startedInside = false
		inConnect = true
		c.NoErr(got.Connect(), "Connect from ClientConnectionFailed")
		inConnect = false
		c.True(len(cl.started) == 2 && startedInside, "StartedConnecting was not called before Connect returned")
	}
	cn = netConnect(c, rp.addr, cl)
	netRun(c)
	for i, s := range cl.started {
		c.True(netSame(s, cn), "StartedConnecting call %d got a Connector other than the one ConnectTCP returned", i+1)
	}
	for i, f := range cl.failedC {
		c.True(netSame(f, cn), "ClientConnectionFailed call %d got a Connector other than the one ConnectTCP returned", i+1)
	}
}

func tcpConnectMade(c *C) {
	srv := &netServer{}
	srv.onProto = func(p *netRecorder) { p.onMade = func(p *netRecorder) { p.write(c, "world") } }
	port := netListen(c, "127.0.0.1:0", srv)
	addr := netTCPAddr(c, port)
	lg := &netLog{}
	cl := &netClient{netServer: netServer{name: "c", log: lg}}
	cl.onProto = func(p *netRecorder) { p.onMade = func(p *netRecorder) { p.write(c, "hello") } }
	netConnect(c, addr.String(), cl)
	netWhenRunning(c, func() {
		netStopWhen(c, "bytes to arrive both ways", func() bool {
			s, k := srv.proto(0), cl.proto(0)
			return s != nil && k != nil && string(s.data) == "hello" && string(k.data) == "world"
		})
	})
	netRun(c)
	s, k := srv.proto(0), cl.proto(0)
	if s == nil || k == nil {
		return
	}
	lg.hasPrefix(c, "c.started c.build c.p0.made", "client factory and protocol calls")
	netAddrIs(c, cl.addrs[0], addr, "address given to the client's BuildProtocol")
	netAddrIs(c, k.remote, addr, "client transport's RemoteAddr")
	netAddrIs(c, k.local, s.remote, "client transport's LocalAddr against the server's RemoteAddr")
	if _, ok := k.t.(gyre.TCPTransport); !ok {
		c.Errorf("the transport of an outgoing TCP connection is a %T, which does not implement gyre.TCPTransport", k.t)
	}
	netCheckProtos(c, s, k)
}

func tcpConnectName(c *C) {
	netNeedLocalhost(c)
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	pn := netTCPAddr(c, port).Port
	cl := &netClient{}
	cn := netConnect(c, "localhost:"+strconv.Itoa(pn), cl)
	var dest net.Addr
	cl.onProto = func(p *netRecorder) { p.onMade = func(*netRecorder) { dest = cn.Destination() } }
	netWhenRunning(c, func() {
		netStopWhen(c, "the connection to localhost to be made", func() bool { return netMade(cl.proto(0)) })
	})
	netRun(c)
	k := cl.proto(0)
	if k == nil {
		return
	}
	want := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: pn}
	netAddrIs(c, cl.addrs[0], want, "address given to BuildProtocol for \"localhost\"")
	netAddrIs(c, k.remote, want, "RemoteAddr of a connection to \"localhost\"")
	netAddrIs(c, dest, want, "Destination once connected to \"localhost\"")
	netCheckProtos(c, k)
}

// tcpAsync runs a connector that fails, started from a loop callback with
// the factory watching for an outcome reported before the call returned.
func tcpAsync(c *C, cl *netClient, start func() gyre.Connector, want error) {
	c.Helper()
	netWhenRunning(c, func() {
		var cn gyre.Connector
		cl.call(func() { cn = start() })
		if netNil(cn) {
			return
		}
		netStopWhen(c, "ClientConnectionFailed", func() bool { return len(cl.failed) > 0 })
	})
	netRun(c)
	netCheckEarly(c, cl, "ConnectTCP")
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], want, "ClientConnectionFailed")
	}
}

func tcpConnectAsyncRefused(c *C) {
	rp := netReserve(c)
	defer rp.close()
	cl := &netClient{}
	tcpAsync(c, cl, func() gyre.Connector { return tcpConnectOnLoop(c, rp.addr, cl) }, gyre.ErrConnectionRefused)
}

func tcpConnectAsyncBind(c *C) {
	srv := &netServer{}
	target := netListen(c, "127.0.0.1:0", srv)
	blocker := netListen(c, "127.0.0.1:0", srv)
	cl := &netClient{}
	tcpAsync(c, cl, func() gyre.Connector {
		return tcpConnectOnLoop(c, netTCPAddr(c, target).String(), cl, gyre.BindAddr(netTCPAddr(c, blocker).String()))
	}, gyre.ErrBind)
}

func tcpConnectAsyncDNS(c *C) {
	netNeedDNSFailure(c)
	cl := &netClient{}
	tcpAsync(c, cl, func() gyre.Connector { return tcpConnectOnLoop(c, netBadName+":80", cl) }, gyre.ErrDNSLookup)
}

func tcpConnectAsyncCancel(c *C, disconnect bool) {
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	cl := &netClient{}
	netWhenRunning(c, func() {
		cn := tcpConnectOnLoop(c, netTCPAddr(c, port).String(), cl)
		if cn == nil {
			return
		}
		cl.call(func() {
			if disconnect {
				cn.Disconnect()
			} else {
				c.NoErr(cn.StopConnecting(), "StopConnecting right after ConnectTCP")
			}
		})
		netStopWhen(c, "ClientConnectionFailed", func() bool { return len(cl.failed) > 0 })
	})
	netRun(c)
	what := "StopConnecting"
	if disconnect {
		what = "Disconnect"
	}
	netCheckEarly(c, cl, what)
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], gyre.ErrUserCancelled, "ClientConnectionFailed after "+what)
	}
	c.Equal(len(cl.addrs), 0, "BuildProtocol calls after "+what)
}

func tcpConnectBadAddress(c *C) {
	cl := &netClient{}
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:65536", "127.0.0.1:-1", "[::1"} {
		cn, err := c.TCP.ConnectTCP(addr, cl)
		c.ErrIs(err, gyre.ErrAddress, "ConnectTCP("+strconv.Quote(addr)+")")
		if !netNil(cn) {
			c.Errorf("ConnectTCP(%q) returned a Connector with its error", addr)
			cn.Disconnect()
		}
	}
	c.True(len(cl.started) == 0 && cl.starts == 0, "ConnectTCP with a bad address called the factory: %d StartedConnecting, %d StartFactory",
		len(cl.started), cl.starts)
}

func tcpConnectRefused(c *C) {
	rp := netReserve(c)
	defer rp.close()
	cl := &netClient{}
	cn := netConnect(c, rp.addr, cl)
	netWhenRunning(c, func() {
		netUntil(c, "ClientConnectionFailed", func() bool { return len(cl.failed) > 0 }, func() {
			c.Later(20*time.Millisecond, func() { netStop(c) })
		})
	})
	netRun(c)
	c.Equal(len(cl.failed), 1, "ClientConnectionFailed calls")
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], gyre.ErrConnectionRefused, "ClientConnectionFailed")
		c.ErrIs(cl.failed[0], syscall.ECONNREFUSED, "ClientConnectionFailed")
		c.True(netSame(cl.failedC[0], cn), "ClientConnectionFailed got a Connector other than the one ConnectTCP returned")
	}
	c.Equal(len(cl.addrs), 0, "BuildProtocol calls for a refused connection")
	c.Equal(len(cl.lost), 0, "ClientConnectionLost calls for a refused connection")
}

func tcpConnectTimeout(c *C) {
	bh := netNewBlackhole(c)
	defer bh.close()
	const d = 100 * time.Millisecond
	cl := &netClient{}
	var began time.Time
	var after time.Duration
	cl.onFailed = func(gyre.Connector, error) { after = time.Since(began) }
	netWhenRunning(c, func() {
		began = time.Now()
		if tcpConnectOnLoop(c, bh.addr, cl, gyre.Timeout(d)) == nil {
			return
		}
		netUntil(c, "the attempt to time out", func() bool { return len(cl.failed) > 0 }, func() {
			c.Later(20*time.Millisecond, func() { netStop(c) })
		})
	})
	netRun(c)
	c.Equal(len(cl.failed), 1, "ClientConnectionFailed calls")
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], gyre.ErrTimeout, "ClientConnectionFailed")
		c.True(after >= d, "the attempt failed %v after it began, before its timeout of %v", after, d)
	}
	c.Equal(len(cl.addrs), 0, "BuildProtocol calls for an attempt that timed out")
}

func tcpConnectTimeoutMadeInTime(c *C) {
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	cl := &netClient{}
	netWhenRunning(c, func() {
		cn := tcpConnectOnLoop(c, netTCPAddr(c, port).String(), cl, gyre.Timeout(250*time.Millisecond))
		if cn == nil {
			return
		}
		netUntil(c, "the connection to be made", func() bool { return netMade(cl.proto(0)) && netMade(srv.proto(0)) }, func() {
			c.Later(400*time.Millisecond, func() {
				c.True(!netGone(cl.proto(0)) && len(cl.failed) == 0,
					"the connection did not survive its attempt's timeout: %d ClientConnectionFailed, lost: %v",
					len(cl.failed), cl.proto(0).reason)
				cl.proto(0).write(c, "still here")
				netUntil(c, "bytes written after the timeout to arrive", func() bool { return string(srv.proto(0).data) == "still here" }, func() {
					cn.Disconnect()
					netStopWhen(c, "ClientConnectionLost", func() bool { return len(cl.lost) > 0 })
				})
			})
		})
	})
	netRun(c)
	c.Equal(len(cl.failed), 0, "ClientConnectionFailed calls for a connection made in time")
	if len(cl.lost) > 0 {
		netReason(c, cl.lost[0], gyre.ErrConnectionDone, "ClientConnectionLost after Disconnect")
	}
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}

func tcpConnectDNS(c *C) {
	netNeedDNSFailure(c)
	cl := &netClient{}
	netConnect(c, netBadName+":80", cl)
	netWhenRunning(c, func() {
		netStopWhen(c, "the lookup to fail", func() bool { return len(cl.failed) > 0 })
	})
	netRun(c)
	if len(cl.failed) == 0 {
		return
	}
	netReason(c, cl.failed[0], gyre.ErrDNSLookup, "ClientConnectionFailed")
	var de *net.DNSError
	c.True(errors.As(cl.failed[0], &de), "the reason %q does not wrap a *net.DNSError", cl.failed[0])
	c.Equal(len(cl.addrs), 0, "BuildProtocol calls for a name that does not resolve")
}

func tcpConnectBindInUse(c *C) {
	srv := &netServer{name: "target"}
	target := netListen(c, "127.0.0.1:0", srv)
	blocker := netListen(c, "127.0.0.1:0", &netServer{name: "blocker"})
	cl := &netClient{}
	netConnect(c, netTCPAddr(c, target).String(), cl, gyre.BindAddr(netTCPAddr(c, blocker).String()))
	netWhenRunning(c, func() {
		netUntil(c, "ClientConnectionFailed", func() bool { return len(cl.failed) > 0 }, func() {
			c.Later(20*time.Millisecond, func() { netStop(c) })
		})
	})
	netRun(c)
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], gyre.ErrBind, "ClientConnectionFailed with BindAddr in use")
		c.ErrIs(cl.failed[0], syscall.EADDRINUSE, "ClientConnectionFailed with BindAddr in use")
	}
	c.Equal(len(srv.addrs), 0, "connections accepted from a client that could not bind")
}

// tcpConnectBound connects with BindAddr(local) and checks both ends see
// that local address.
func tcpConnectBound(c *C, local *net.TCPAddr) {
	c.Helper()
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	cl := &netClient{}
	netConnect(c, netTCPAddr(c, port).String(), cl, gyre.BindAddr(local.String()))
	netWhenRunning(c, func() {
		netStopWhen(c, "the bound connection to be made", func() bool { return netMade(cl.proto(0)) && netMade(srv.proto(0)) })
	})
	netRun(c)
	k := cl.proto(0)
	if k == nil || len(srv.addrs) == 0 {
		return
	}
	la, ok := k.local.(*net.TCPAddr)
	if !ok {
		c.Fatalf("client LocalAddr is a %T, want *net.TCPAddr", k.local)
	}
	c.True(la.IP.Equal(local.IP), "client LocalAddr %v, want IP %v", la, local.IP)
	if local.Port != 0 {
		c.Equal(la.Port, local.Port, "client LocalAddr port")
	}
	netAddrIs(c, srv.addrs[0], la, "the server's view of the bound client")
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}

func tcpConnectBindPort(c *C) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.Fatalf("net.Listen: %v", err)
	}
	free := l.Addr().(*net.TCPAddr)
	_ = l.Close()
	tcpConnectBound(c, free)
}

func tcpConnectBindAddress(c *C) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		c.Skipf("127.0.0.2 is not a local address here: %v", err)
	}
	_ = l.Close()
	tcpConnectBound(c, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)})
}

func tcpConnectRefuse(c *C) {
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	cl := &netClient{}
	cl.build = func(net.Addr) gyre.Protocol { return nil }
	netConnect(c, netTCPAddr(c, port).String(), cl)
	netWhenRunning(c, func() {
		netUntil(c, "the attempt to fail and the server to see the close", func() bool {
			return len(cl.failed) > 0 && netGone(srv.proto(0))
		}, func() { c.Later(20*time.Millisecond, func() { netStop(c) }) })
	})
	netRun(c)
	c.Equal(len(cl.failed), 1, "ClientConnectionFailed calls")
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], gyre.ErrUserCancelled, "ClientConnectionFailed when BuildProtocol returns nil")
	}
	c.Equal(len(cl.lost), 0, "ClientConnectionLost calls when BuildProtocol returned nil")
	if p := srv.proto(0); netGone(p) {
		netReason(c, p.reason, gyre.ErrConnectionDone, "server ConnectionLost when the client refused the connection")
	}
	netCheckProtos(c, srv.protos...)
}

// tcpConnectCancelPending abandons an attempt that is still waiting for the
// server, with StopConnecting or Disconnect.
func tcpConnectCancelPending(c *C, disconnect bool) {
	bh := netNewBlackhole(c)
	defer bh.close()
	cl := &netClient{}
	what := "StopConnecting"
	if disconnect {
		what = "Disconnect"
	}
	netWhenRunning(c, func() {
		cn := tcpConnectOnLoop(c, bh.addr, cl, gyre.Timeout(5*time.Second))
		if cn == nil {
			return
		}
		c.Later(20*time.Millisecond, func() {
			c.Equal(len(cl.failed), 0, "ClientConnectionFailed calls while the attempt waits")
			cl.call(func() {
				if disconnect {
					cn.Disconnect()
				} else {
					c.NoErr(cn.StopConnecting(), "StopConnecting during the attempt")
				}
			})
			netUntil(c, "ClientConnectionFailed", func() bool { return len(cl.failed) > 0 }, func() {
				c.Later(30*time.Millisecond, func() { netStop(c) })
			})
		})
	})
	netRun(c)
	netCheckEarly(c, cl, what)
	c.Equal(len(cl.failed), 1, "ClientConnectionFailed calls")
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], gyre.ErrUserCancelled, "ClientConnectionFailed after "+what)
	}
	c.Equal(len(cl.addrs), 0, "BuildProtocol calls")
}

func tcpConnectStopInStarted(c *C) {
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	cl := &netClient{}
	cl.onStarted = func(cn gyre.Connector) { c.NoErr(cn.StopConnecting(), "StopConnecting in StartedConnecting") }
	netWhenRunning(c, func() {
		var cn gyre.Connector
		cl.call(func() { cn = tcpConnectOnLoop(c, netTCPAddr(c, port).String(), cl) })
		if cn == nil {
			return
		}
		netUntil(c, "ClientConnectionFailed", func() bool { return len(cl.failed) > 0 }, func() {
			c.Later(30*time.Millisecond, func() { netStop(c) })
		})
	})
	netRun(c)
	netCheckEarly(c, cl, "ConnectTCP")
	c.Equal(len(cl.failed), 1, "ClientConnectionFailed calls")
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], gyre.ErrUserCancelled, "ClientConnectionFailed")
	}
	c.Equal(len(cl.addrs), 0, "BuildProtocol calls for an attempt stopped in StartedConnecting")
}

func tcpConnectStopConnectedUnseen(c *C) {
	rl := netRawListen(c, "tcp", "127.0.0.1:0")
	defer rl.close()
	// Each try starts an attempt and watches, from timers (which run
	// before the I/O of their pass), for the server to accept it while the
	// factory has heard nothing yet; it then holds the loop until the
	// system has connected and calls StopConnecting. A try that misses
	// (the connection was made first) is closed and another one starts.
	const tries = 5
	var (
		cl      *netClient
		caught  bool
		missed  int
		tryOnce func()
	)
	tryOnce = func() {
		cl = &netClient{}
		cn := tcpConnectOnLoop(c, rl.addr(), cl)
		if cn == nil {
			return
		}
		seen := rl.count()
		var watch func()
		watch = func() {
			switch {
			case len(cl.addrs) > 0 || len(cl.failed) > 0:
				missed++
				cn.Disconnect()
				if missed >= tries {
					netStop(c)
					return
				}
				netUntil(c, "the missed try to end", func() bool { return len(cl.lost) > 0 || len(cl.failed) > 0 }, tryOnce)
			case rl.waitCount(seen+1, 20*time.Millisecond):
				caught = true
				f := cl
				f.call(func() { c.NoErr(cn.StopConnecting(), "StopConnecting once the system has connected") })
				netUntil(c, "ClientConnectionFailed and the server's side to close", func() bool {
					return len(f.failed) > 0 && rl.allEnded()
				}, func() { c.Later(30*time.Millisecond, func() { netStop(c) }) })
			default:
				// Due at once: it runs on the next pass, after the calls
				// queued meanwhile and before that pass's I/O.
				c.Later(0, watch)
			}
		}
		watch()
	}
	netWhenRunning(c, tryOnce)
	netRun(c)
	if !caught {
		c.Skipf("the reactor made the connection before the case could stop it, %d times out of %d", missed, tries)
	}
	netCheckEarly(c, cl, "StopConnecting")
	c.Equal(len(cl.failed), 1, "ClientConnectionFailed calls")
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], gyre.ErrUserCancelled, "ClientConnectionFailed")
	}
	c.Equal(len(cl.addrs), 0, "BuildProtocol calls after StopConnecting")
}

func tcpConnectStopResolving(c *C) {
	netNeedLocalhost(c)
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	cl := &netClient{}
	netWhenRunning(c, func() {
		cn := tcpConnectOnLoop(c, "localhost:"+strconv.Itoa(netTCPAddr(c, port).Port), cl)
		if cn == nil {
			return
		}
		cl.call(func() { c.NoErr(cn.StopConnecting(), "StopConnecting while the name is resolved") })
		netUntil(c, "ClientConnectionFailed", func() bool { return len(cl.failed) > 0 }, func() {
			c.Later(30*time.Millisecond, func() { netStop(c) })
		})
	})
	netRun(c)
	netCheckEarly(c, cl, "StopConnecting")
	c.Equal(len(cl.failed), 1, "ClientConnectionFailed calls")
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], gyre.ErrUserCancelled, "ClientConnectionFailed")
	}
	c.Equal(len(cl.addrs), 0, "BuildProtocol calls after StopConnecting")
}

func tcpConnectDisconnectConnected(c *C) {
	const size = 256 << 10
	rl := netRawListen(c, "tcp", "127.0.0.1:0")
	defer rl.close()
	lg := &netLog{}
	cl := &netClient{netServer: netServer{name: "c", log: lg}}
	data := netPattern(size)
	var peer *netRaw
	netWhenRunning(c, func() {
		cn := tcpConnectOnLoop(c, rl.addr(), cl)
		if cn == nil {
			return
		}
		netUntil(c, "the connection to be made", func() bool { return netMade(cl.proto(0)) }, func() {
			c.NoErr(cl.proto(0).t.Write(data), "Write")
			cl.call(cn.Disconnect)
			netUntil(c, "the peer to read everything and the end of file", func() bool {
				if peer == nil {
					peer = rl.next()
				}
				return peer != nil && peer.ended() && len(cl.lost) > 0
			}, func() { netStop(c) })
		})
	})
	netRun(c)
	netCheckEarly(c, cl, "Disconnect")
	if peer != nil && peer.ended() {
		c.True(bytes.Equal(peer.bytes(), data), "the peer got %d bytes, want the %d written before Disconnect", peer.received(), size)
		c.True(peer.readErr() == io.EOF, "the peer's read ended with %v, want a clean end of file", peer.readErr())
	}
	if len(cl.lost) > 0 {
		netReason(c, cl.lost[0], gyre.ErrConnectionDone, "ClientConnectionLost after Disconnect")
		netReason(c, cl.proto(0).reason, gyre.ErrConnectionDone, "ConnectionLost after Disconnect")
	}
	c.Equal(lg, "c.started c.build c.p0.made c.p0.lost c.clientlost", "calls")
	netCheckProtos(c, cl.protos...)
}

func tcpStateConnecting(c *C) {
	bh := netNewBlackhole(c)
	defer bh.close()
	cl := &netClient{}
	netWhenRunning(c, func() {
		cn := tcpConnectOnLoop(c, bh.addr, cl, gyre.Timeout(5*time.Second))
		if cn == nil {
			return
		}
		c.ErrIs(cn.Connect(), gyre.ErrAlreadyConnecting, "Connect during an attempt")
		c.Later(20*time.Millisecond, func() {
			c.ErrIs(cn.Connect(), gyre.ErrAlreadyConnecting, "Connect while the attempt waits")
			c.NoErr(cn.StopConnecting(), "StopConnecting")
			netUntil(c, "ClientConnectionFailed", func() bool { return len(cl.failed) > 0 }, func() {
				c.Later(30*time.Millisecond, func() { netStop(c) })
			})
		})
	})
	netRun(c)
	c.Equal(len(cl.started), 1, "StartedConnecting calls (a refused Connect must start nothing)")
	c.Equal(len(cl.failed), 1, "ClientConnectionFailed calls")
}

func tcpStateConnected(c *C) {
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	cl := &netClient{}
	cn := netConnect(c, netTCPAddr(c, port).String(), cl)
	netWhenRunning(c, func() {
		netUntil(c, "the connection to be made", func() bool { return netMade(cl.proto(0)) && netMade(srv.proto(0)) }, func() {
			c.ErrIs(cn.Connect(), gyre.ErrAlreadyConnecting, "Connect while connected")
			c.ErrIs(cn.StopConnecting(), gyre.ErrNotConnecting, "StopConnecting while connected")
			cl.proto(0).write(c, "x")
			netUntil(c, "bytes written after the refused calls to arrive", func() bool { return string(srv.proto(0).data) == "x" }, func() {
				c.True(!netGone(cl.proto(0)), "the connection was lost after Connect or StopConnecting was refused")
				cn.Disconnect()
				netStopWhen(c, "ClientConnectionLost", func() bool { return len(cl.lost) > 0 })
			})
		})
	})
	netRun(c)
	c.Equal(len(cl.started), 1, "StartedConnecting calls")
	c.Equal(len(cl.failed), 0, "ClientConnectionFailed calls")
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}

func tcpStateEnded(c *C) {
	rp := netReserve(c)
	defer rp.close()
	cl := &netClient{}
	cn := netConnect(c, rp.addr, cl)
	netWhenRunning(c, func() {
		netUntil(c, "ClientConnectionFailed", func() bool { return len(cl.failed) > 0 }, func() {
			c.Later(5*time.Millisecond, func() {
				c.ErrIs(cn.StopConnecting(), gyre.ErrNotConnecting, "StopConnecting after the attempt failed")
				cn.Disconnect()
				c.Later(30*time.Millisecond, func() { netStop(c) })
			})
		})
	})
	netRun(c)
	c.Equal(len(cl.started), 1, "StartedConnecting calls")
	c.Equal(len(cl.failed), 1, "ClientConnectionFailed calls (StopConnecting or Disconnect after the end must add none)")
}

func tcpConnectLostClean(c *C) {
	srv := &netServer{}
	srv.onProto = func(p *netRecorder) { p.onMade = func(p *netRecorder) { p.t.LoseConnection() } }
	port := netListen(c, "127.0.0.1:0", srv)
	lg := &netLog{}
	cl := &netClient{netServer: netServer{name: "c", log: lg}}
	cn := netConnect(c, netTCPAddr(c, port).String(), cl)
	netWhenRunning(c, func() {
		netUntil(c, "ClientConnectionLost", func() bool { return len(cl.lost) > 0 }, func() {
			c.Later(20*time.Millisecond, func() { netStop(c) })
		})
	})
	netRun(c)
	c.Equal(lg, "c.started c.build c.p0.made c.p0.lost c.clientlost", "calls when the server closes")
	if len(cl.lost) > 0 && cl.proto(0) != nil {
		netReason(c, cl.lost[0], gyre.ErrConnectionDone, "ClientConnectionLost")
		c.True(netSame(cl.lost[0], cl.proto(0).reason), "ClientConnectionLost got %v, ConnectionLost %v: want the same reason",
			cl.lost[0], cl.proto(0).reason)
		c.True(netSame(cl.lostC[0], cn), "ClientConnectionLost got a Connector other than the one ConnectTCP returned")
	}
	c.Equal(len(cl.failed), 0, "ClientConnectionFailed calls")
	netCheckProtos(c, cl.protos...)
}

func tcpConnectLostReset(c *C) {
	rl := netRawListen(c, "tcp", "127.0.0.1:0")
	defer rl.close()
	lg := &netLog{}
	cl := &netClient{netServer: netServer{name: "c", log: lg}}
	cl.onProto = func(p *netRecorder) { p.onMade = func(p *netRecorder) { p.write(c, "x") } }
	netConnect(c, rl.addr(), cl)
	netWhenRunning(c, func() {
		var peer *netRaw
		netUntil(c, "the peer to hear from the client", func() bool {
			if peer == nil {
				peer = rl.next()
			}
			return peer != nil && peer.received() > 0
		}, func() {
			c.NoErr(peer.reset(), "resetting the connection")
			netStopWhen(c, "ClientConnectionLost", func() bool { return len(cl.lost) > 0 })
		})
	})
	netRun(c)
	c.Equal(lg, "c.started c.build c.p0.made c.p0.lost c.clientlost", "calls when the peer resets")
	if len(cl.lost) > 0 && cl.proto(0) != nil {
		netReason(c, cl.lost[0], gyre.ErrConnectionLost, "ClientConnectionLost after a reset")
		c.ErrIs(cl.lost[0], syscall.ECONNRESET, "ClientConnectionLost after a reset")
		c.True(netSame(cl.lost[0], cl.proto(0).reason), "ClientConnectionLost got %v, ConnectionLost %v: want the same reason",
			cl.lost[0], cl.proto(0).reason)
	}
	netCheckProtos(c, cl.protos...)
}

func tcpReconnectFromFailed(c *C) {
	rp := netReserve(c)
	defer rp.close()
	cl := &netClient{}
	cl.onFailed = func(cn gyre.Connector, reason error) {
		if len(cl.failed) > 1 {
			netFail(c, "the second attempt failed too: %v", reason)
			return
		}
		if err := rp.listen(); err != nil {
			netFail(c, "listen on the reserved port: %v", err)
			return
		}
		c.NoErr(cn.Connect(), "Connect from ClientConnectionFailed")
	}
	cn := netConnect(c, rp.addr, cl)
	netWhenRunning(c, func() {
		netStopWhen(c, "the second attempt to connect", func() bool { return netMade(cl.proto(0)) })
	})
	netRun(c)
	c.Equal(len(cl.started), 2, "StartedConnecting calls")
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], gyre.ErrConnectionRefused, "first ClientConnectionFailed")
	}
	if len(cl.started) == 2 {
		c.True(netSame(cl.started[1], cn), "the new attempt got a Connector other than the first")
	}
	netCheckProtos(c, cl.protos...)
}

func tcpReconnectFromLost(c *C) {
	srv := &netServer{}
	srv.onProto = func(p *netRecorder) {
		if len(srv.protos) == 1 {
			p.onMade = func(p *netRecorder) { p.t.LoseConnection() }
		}
	}
	port := netListen(c, "127.0.0.1:0", srv)
	cl := &netClient{}
	cl.onLost = func(cn gyre.Connector, reason error) {
		if len(cl.lost) == 1 {
			c.NoErr(cn.Connect(), "Connect from ClientConnectionLost")
		}
	}
	netConnect(c, netTCPAddr(c, port).String(), cl)
	netWhenRunning(c, func() {
		netStopWhen(c, "the second connection to be made", func() bool { return netMade(cl.proto(1)) && netMade(srv.proto(1)) })
	})
	netRun(c)
	c.Equal(len(cl.started), 2, "StartedConnecting calls")
	c.Equal(len(cl.failed), 0, "ClientConnectionFailed calls")
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}

func tcpReconnectRefused(c *C) {
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	lg := &netLog{}
	cl := &netClient{netServer: netServer{name: "c", log: lg}}
	cl.onLost = func(cn gyre.Connector, reason error) { c.NoErr(cn.Connect(), "Connect from ClientConnectionLost") }
	cl.onFailed = func(gyre.Connector, error) { netStop(c) }
	netConnect(c, netTCPAddr(c, port).String(), cl)
	netWhenRunning(c, func() {
		netUntil(c, "the connection to be made", func() bool { return netMade(cl.proto(0)) && netMade(srv.proto(0)) }, func() {
			netOnFire(port.StopListening(), func(any, error) { srv.proto(0).t.LoseConnection() })
		})
	})
	netRun(c)
	c.Equal(lg, "c.started c.build c.p0.made c.p0.lost c.clientlost c.started c.failed", "calls")
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], gyre.ErrConnectionRefused, "ClientConnectionFailed of the new attempt")
	}
}

func tcpReasonDistinct(c *C) {
	rp := netReserve(c)
	defer rp.close()
	rl := netRawListen(c, "tcp", "127.0.0.1:0")
	defer rl.close()
	closer := &netServer{}
	closer.onProto = func(p *netRecorder) { p.onMade = func(p *netRecorder) { p.t.LoseConnection() } }
	port := netListen(c, "127.0.0.1:0", closer)

	refused, done, reset, aborted := &netClient{}, &netClient{}, &netClient{}, &netClient{}
	reset.onProto = func(p *netRecorder) { p.onMade = func(p *netRecorder) { p.write(c, "x") } }
	aborted.onProto = func(p *netRecorder) { p.onMade = func(p *netRecorder) { p.t.AbortConnection() } }
	netConnect(c, rp.addr, refused)
	netConnect(c, netTCPAddr(c, port).String(), done)
	netConnect(c, netTCPAddr(c, port).String(), aborted)
	netConnect(c, rl.addr(), reset)
	netWhenRunning(c, func() {
		var peer *netRaw
		netUntil(c, "the peer to hear from the client", func() bool {
			if peer == nil {
				peer = rl.next()
			}
			return peer != nil && peer.received() > 0
		}, func() { c.NoErr(peer.reset(), "resetting the connection") })
		netStopWhen(c, "every connection to end", func() bool {
			return len(refused.failed) > 0 && len(done.lost) > 0 && len(reset.lost) > 0 && len(aborted.lost) > 0
		})
	})
	netRun(c)
	check := func(name string, reasons []error, want, errno error) {
		if len(reasons) == 0 {
			return
		}
		r := reasons[0]
		netReason(c, r, want, name)
		c.True(r.Error() != "", "%s: the reason has an empty message", name)
		if errno != nil {
			c.ErrIs(r, errno, name)
		}
	}
	check("refused", refused.failed, gyre.ErrConnectionRefused, syscall.ECONNREFUSED)
	check("closed by the server", done.lost, gyre.ErrConnectionDone, nil)
	check("reset by the peer", reset.lost, gyre.ErrConnectionLost, syscall.ECONNRESET)
	check("aborted", aborted.lost, gyre.ErrConnectionAborted, nil)
}

// --- Shutdown and the loop ---

func tcpShutdownPorts(c *C) {
	f := &netServer{}
	port := netListen(c, "127.0.0.1:0", f)
	addr := netTCPAddr(c, port).String()
	ran := false
	tcpDuring(c, func() {
		ran = true
		tcpRefusedDial(c, addr, "in a During \"shutdown\" trigger")
		if l, err := net.Listen("tcp", addr); err != nil {
			c.Errorf("the address of a port cannot be bound again in a During \"shutdown\" trigger: %v", err)
		} else {
			_ = l.Close()
		}
		c.Equal(f.stops, 1, "StopFactory calls by the users' During \"shutdown\" triggers")
	})
	netWhenRunning(c, func() { netStop(c) })
	netRun(c)
	c.True(ran, "the During \"shutdown\" trigger did not run")
}

func tcpShutdownAttempts(c *C) {
	bh := netNewBlackhole(c)
	defer bh.close()
	cl := &netClient{}
	ran := false
	tcpDuring(c, func() {
		ran = true
		c.Equal(len(cl.failed), 1, "ClientConnectionFailed calls by the users' During \"shutdown\" triggers")
		if len(cl.failed) > 0 {
			netReason(c, cl.failed[0], gyre.ErrUserCancelled, "ClientConnectionFailed at shutdown")
		}
		c.Equal(cl.stops, 1, "StopFactory calls by the users' During \"shutdown\" triggers")
	})
	netConnect(c, bh.addr, cl, gyre.Timeout(5*time.Second))
	netWhenRunning(c, func() { c.Later(20*time.Millisecond, func() { netStop(c) }) })
	netRun(c)
	c.True(ran, "the During \"shutdown\" trigger did not run")
	c.Equal(len(cl.addrs), 0, "BuildProtocol calls")
}

func tcpShutdownConnections(c *C) {
	lg := &netLog{}
	srv := &netServer{name: "s", log: lg}
	port := netListen(c, "127.0.0.1:0", srv)
	addr := netTCPAddr(c, port).String()
	cl := &netClient{netServer: netServer{name: "c", log: lg}}
	netConnect(c, addr, cl)
	var raw *netRaw
	defer func() { raw.close() }()
	ran := false
	tcpDuring(c, func() {
		ran = true
		all := append(append([]*netRecorder(nil), srv.protos...), cl.protos...)
		for _, p := range all {
			if !netGone(p) {
				c.Errorf("%s: no ConnectionLost by the users' During \"shutdown\" triggers", p.name)
				continue
			}
			netReason(c, p.reason, gyre.ErrConnectionDone, p.name+": ConnectionLost at shutdown")
		}
		c.Equal(len(cl.lost), 1, "ClientConnectionLost calls by the users' During \"shutdown\" triggers")
		if len(cl.lost) == 1 && cl.proto(0) != nil {
			c.True(netSame(cl.lost[0], cl.proto(0).reason), "ClientConnectionLost and ConnectionLost got different reasons")
			c.True(lg.index("c.p0.lost") < lg.index("c.clientlost"), "ClientConnectionLost came before ConnectionLost: %s", lg)
		}
	})
	netWhenRunning(c, func() {
		if raw = netDial(c, "tcp", addr); raw == nil {
			return
		}
		netStopWhen(c, "three connections to be made", func() bool {
			return netMade(cl.proto(0)) && netMade(srv.proto(0)) && netMade(srv.proto(1))
		})
	})
	netRun(c)
	c.True(ran, "the During \"shutdown\" trigger did not run")
	c.True(raw == nil || raw.waitEnded(5*time.Second), "the peer of a connection closed at shutdown did not see it close")
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}

func tcpShutdownGraceful(c *C) {
	const size = 1 << 20
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	data := netPattern(size)
	var raw *netRaw
	defer func() { raw.close() }()
	_, err := c.R.AddSystemEventTrigger(gyre.Before, gyre.Shutdown, func() *deferred.Deferred {
		p := srv.proto(0)
		if p == nil {
			c.Errorf("no connection at shutdown")
			return nil
		}
		d := deferred.New(nil)
		p.onLost = func(*netRecorder, error) { _ = d.Callback(nil) }
		c.NoErr(p.t.Write(data), "Write in a Before \"shutdown\" trigger")
		p.t.LoseConnection()
		return d
	})
	if err != nil {
		c.Fatalf("AddSystemEventTrigger: %v", err)
	}
	netWhenRunning(c, func() {
		if raw = netDial(c, "tcp", netTCPAddr(c, port).String()); raw == nil {
			return
		}
		netStopWhen(c, "the connection to be made", func() bool { return netMade(srv.proto(0)) })
	})
	netRun(c)
	if raw == nil {
		return
	}
	c.True(raw.waitEnded(5*time.Second), "the peer did not see the connection close")
	c.True(bytes.Equal(raw.bytes(), data), "the peer got %d bytes, want the %d written in the Before trigger", raw.received(), size)
	c.True(raw.readErr() == io.EOF, "the peer's read ended with %v, want a clean end of file", raw.readErr())
	if p := srv.proto(0); netGone(p) {
		netReason(c, p.reason, gyre.ErrConnectionDone, "ConnectionLost after a graceful close")
	}
	netCheckProtos(c, srv.protos...)
}

func tcpLoop(c *C) {
	netNeedLocalhost(c)
	g := &netGoCheck{g: netGoID()}
	srv := &netServer{name: "s", g: g}
	srv.onProto = func(p *netRecorder) {
		p.onData = func(p *netRecorder, b []byte) { p.t.LoseConnection() }
	}
	port := netListen(c, "127.0.0.1:0", srv)
	cl := &netClient{netServer: netServer{name: "c", g: g}}
	cl.onProto = func(p *netRecorder) { p.onMade = func(p *netRecorder) { p.write(c, "x") } }
	refused := &netClient{netServer: netServer{name: "r", g: g}}
	rp := netReserve(c)
	defer rp.close()
	netWhenRunning(c, func() {
		if tcpConnectOnLoop(c, "localhost:"+strconv.Itoa(netTCPAddr(c, port).Port), cl) == nil {
			return
		}
		if tcpConnectOnLoop(c, rp.addr, refused) == nil {
			return
		}
		netStopWhen(c, "the connection to end and the other attempt to fail", func() bool {
			return len(cl.lost) > 0 && netGone(srv.proto(0)) && len(refused.failed) > 0
		})
	})
	netRun(c)
	for _, s := range g.off {
		c.Errorf("called off the loop goroutine: %s", s)
	}
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}
