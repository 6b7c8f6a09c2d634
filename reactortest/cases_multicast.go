package reactortest

import (
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/gyre-go/gyre"
)

// Cases for the "Multicast" rules of docs/SPEC.md. The cases that join
// groups or send multicast traffic run only inside the private network
// namespace made by TestMulticastNamespace (dgNetns skips them elsewhere), so
// that nothing leaves the machine; the others only bind and set options.

func init() {
	const n = NeedMulticast | NeedUDP | NeedClock
	mc := func(id string, f func(c *C)) Case { return Case{ID: id, Facet: FacetMulticast, Needs: n, Test: f} }
	register(
		mc("multicast.listen.shared#bind", mcSharedBind),
		mc("multicast.listen.shared#receive", mcSharedReceive),
		mc("multicast.port#unicast", mcPortUnicast),
		mc("multicast.port#shutdown", mcPortShutdown),
		mc("multicast.port#errors", mcPortErrors),
		mc("multicast.join", mcJoin),
		mc("multicast.join.address#unicast", func(c *C) { mcJoinRejected(c, "127.0.0.1", "") }),
		mc("multicast.join.address#host-name", func(c *C) { mcJoinRejected(c, "localhost", "") }),
		mc("multicast.join.address#bad-interface", func(c *C) { dgNetns(c); mcJoinRejected(c, mcGroup, "localhost") }),
		mc("multicast.leave", mcLeave),
		mc("multicast.loopback#on", func(c *C) { mcLoopback(c, true) }),
		mc("multicast.loopback#off", func(c *C) { mcLoopback(c, false) }),
		mc("multicast.ttl", mcTTL),
		mc("multicast.interface#setter", mcInterfaceSetter),
		mc("multicast.interface#send", mcInterfaceSend),
	)
}

// mcGroup is a group routed to the loopback interface in the namespace;
// mcSinkGroup one routed to the sink interface (dgSinkGroups).
const (
	mcGroup     = "239.77.0.1"
	mcSinkGroup = "239.255.0.1"
)

// mcListen binds addr with ListenMulticast, failing the case on error.
func mcListen(c *C, addr string, p *dgProto) gyre.MulticastPort {
	c.Helper()
	p.inCall = "ListenMulticast"
	port, err := c.Multicast.ListenMulticast(addr, p)
	p.inCall = ""
	if err != nil {
		c.Fatalf("ListenMulticast(%q): %v", addr, err)
	}
	if netNil(port) {
		c.Fatalf("ListenMulticast(%q) returned a nil port and no error", addr)
	}
	return port
}

// mcGroupAddr returns group and the port number of port.
func mcGroupAddr(c *C, group string, port gyre.DatagramPort) *net.UDPAddr {
	c.Helper()
	return &net.UDPAddr{IP: net.ParseIP(group), Port: dgUDPAddr(c, port).Port}
}

func mcSharedBind(c *C) {
	a := &dgProto{name: "a"}
	pa := mcListen(c, ":0", a)
	b := &dgProto{name: "b"}
	pb := mcListen(c, ":"+strconv.Itoa(dgUDPAddr(c, pa).Port), b)
	c.Equal(dgUDPAddr(c, pb).Port, dgUDPAddr(c, pa).Port, "port number of the second multicast port")
	netWhenRunning(c, func() {
		netStopWhen(c, "StartProtocol of both", func() bool { return a.starts == 1 && b.starts == 1 })
	})
	netRun(c)
	dgCheckProtos(c, a, b)
}

func mcSharedReceive(c *C) {
	dgNetns(c)
	a := &dgProto{name: "a"}
	pa := mcListen(c, ":0", a)
	b := &dgProto{name: "b"}
	pb := mcListen(c, ":"+strconv.Itoa(dgUDPAddr(c, pa).Port), b)
	sender := dgListen(c, "127.0.0.1:0", &dgProto{name: "sender"})
	netWhenRunning(c, func() {
		c.NoErr(pa.JoinGroup(mcGroup, "127.0.0.1"), "JoinGroup a")
		c.NoErr(pb.JoinGroup(mcGroup, "127.0.0.1"), "JoinGroup b")
		dgWrite(c, sender, "to-group", mcGroupAddr(c, mcGroup, pa))
		netStopWhen(c, "the group datagram at both ports", func() bool { return a.has("to-group") && b.has("to-group") })
	})
	netRun(c)
	for _, p := range []*dgProto{a, b} {
		if p.count() > 0 {
			dgAddrIs(c, p.got[0].addr, dgUDPAddr(c, sender), p.name+": sender address")
		}
	}
	dgCheckProtos(c, a, b)
}

func mcPortUnicast(c *C) {
	p := &dgProto{name: "p"}
	p.onData = func(p *dgProto, data []byte, addr net.Addr) { _ = p.port.Write([]byte("re:"+string(data)), addr) }
	port := mcListen(c, ":0", p)
	raw := dgRawListen(c, "udp4", "127.0.0.1:0")
	defer raw.close()
	netWhenRunning(c, func() {
		_ = raw.send("hi", dgLoopback(c, port))
		netUntil(c, "the reply", func() bool { return raw.has("re:hi") }, func() {
			dgStop(c, port, func() { netStopWhen(c, "StopProtocol", func() bool { return p.stops == 1 }) })
		})
	})
	netRun(c)
	dgCheckProtos(c, p)
}

func mcPortShutdown(c *C) {
	p := &dgProto{name: "p"}
	port := mcListen(c, ":0", p)
	addr := dgLoopback(c, port).String()
	ran := false
	dgDuring(c, func() {
		ran = true
		c.Equal(p.stops, 1, "StopProtocol calls by the users' During \"shutdown\" triggers")
		conn, err := net.ListenPacket("udp4", addr)
		if err != nil {
			c.Errorf("the address of a multicast port cannot be bound in a During \"shutdown\" trigger: %v", err)
		} else {
			_ = conn.Close()
		}
	})
	netWhenRunning(c, func() { netUntil(c, "StartProtocol", func() bool { return p.starts == 1 }, func() { netStop(c) }) })
	netRun(c)
	c.True(ran, "the During \"shutdown\" trigger did not run")
	dgCheckProtos(c, p)
}

func mcPortErrors(c *C) {
	for _, addr := range []string{"localhost:0", netBadName + ":0"} {
		p := &dgProto{name: "p"}
		port, err := c.Multicast.ListenMulticast(addr, p)
		c.ErrIs(err, gyre.ErrAddress, "ListenMulticast("+strconv.Quote(addr)+")")
		if !netNil(port) {
			port.StopListening()
		}
	}
	netWhenRunning(c, func() { netStop(c) })
	netRun(c)
	p := &dgProto{name: "p"}
	port, err := c.Multicast.ListenMulticast(":0", p)
	c.ErrIs(err, gyre.ErrStopped, "ListenMulticast on a stopped reactor")
	if !netNil(port) {
		port.StopListening()
	}
	c.Equal(p.starts, 0, "StartProtocol calls of a refused ListenMulticast")
}

func mcJoin(c *C) {
	dgNetns(c)
	p := &dgProto{name: "p"}
	port := mcListen(c, ":0", p)
	sender := dgListen(c, "127.0.0.1:0", &dgProto{name: "sender"})
	netWhenRunning(c, func() {
		c.NoErr(port.JoinGroup(mcGroup, "127.0.0.1"), "JoinGroup")
		dgWrite(c, sender, "one", mcGroupAddr(c, mcGroup, port))
		netUntil(c, "the first group datagram", func() bool { return p.has("one") }, func() {
			// The default interface (empty iface) works as well.
			c.NoErr(port.JoinGroup("239.77.0.2", ""), "JoinGroup with the default interface")
			dgWrite(c, sender, "two", mcGroupAddr(c, "239.77.0.2", port))
			netStopWhen(c, "the datagram to the second group", func() bool { return p.has("two") })
		})
	})
	netRun(c)
	if p.count() > 0 {
		dgAddrIs(c, p.got[0].addr, dgUDPAddr(c, sender), "sender address of a group datagram")
	}
	dgCheckProtos(c, p)
}

func mcJoinRejected(c *C, group, iface string) {
	port := mcListen(c, ":0", &dgProto{name: "p"})
	err := port.JoinGroup(group, iface)
	c.ErrIs(err, gyre.ErrAddress, "JoinGroup("+strconv.Quote(group)+", "+strconv.Quote(iface)+")")
	if errors.Is(err, gyre.ErrDNSLookup) {
		c.Errorf("JoinGroup(%q, %q): a name was looked up (%v)", group, iface, err)
	}
}

func mcLeave(c *C) {
	dgNetns(c)
	p := &dgProto{name: "p"}
	port := mcListen(c, ":0", p)
	sender := dgListen(c, "127.0.0.1:0", &dgProto{name: "sender"})
	group := mcGroupAddr(c, mcGroup, port)
	netWhenRunning(c, func() {
		c.NoErr(port.JoinGroup(mcGroup, "127.0.0.1"), "JoinGroup")
		dgWrite(c, sender, "joined", group)
		netUntil(c, "the datagram while joined", func() bool { return p.has("joined") }, func() {
			c.NoErr(port.LeaveGroup(mcGroup, "127.0.0.1"), "LeaveGroup")
			dgWrite(c, sender, "left", group)
			dgSettle(c, p, "marker", func() { dgWrite(c, sender, "marker", dgLoopback(c, port)) }, func() { netStop(c) })
		})
	})
	netRun(c)
	c.True(!p.has("left"), "a group datagram arrived after LeaveGroup")
	dgCheckProtos(c, p)
}

// mcLoopback sends from a port to a group it is a member of, through the
// sink interface, where only the local copy that loopback mode controls can
// deliver it.
func mcLoopback(c *C, on bool) {
	dgNetns(c)
	dgNetnsSinkReady(c)
	p := &dgProto{name: "p"}
	port := mcListen(c, ":0", p)
	netWhenRunning(c, func() {
		c.NoErr(port.JoinGroup(mcSinkGroup, dgSinkAddr), "JoinGroup on the sink interface")
		c.NoErr(port.SetOutgoingInterface(dgSinkAddr), "SetOutgoingInterface")
		c.NoErr(port.SetLoopbackMode(on), "SetLoopbackMode")
		dgWrite(c, port, "own", mcGroupAddr(c, mcSinkGroup, port))
		if on {
			netStopWhen(c, "the port's own group datagram", func() bool { return p.has("own") })
			return
		}
		dgSettle(c, p, "marker", func() { dgWrite(c, port, "marker", dgLoopback(c, port)) }, func() { netStop(c) })
	})
	netRun(c)
	if !on {
		c.True(!p.has("own"), "with loopback mode off, the port received its own group datagram")
	}
	dgCheckProtos(c, p)
}

func mcTTL(c *C) {
	port := mcListen(c, ":0", &dgProto{name: "p"})
	for _, ttl := range []int{0, 1, 2, 64, 255} {
		c.NoErr(port.SetTTL(ttl), "SetTTL("+strconv.Itoa(ttl)+")")
	}
	c.True(port.SetTTL(256) != nil, "SetTTL(256) returned no error")
	c.True(port.SetTTL(-2) != nil, "SetTTL(-2) returned no error")
}

func mcInterfaceSetter(c *C) {
	port := mcListen(c, ":0", &dgProto{name: "p"})
	c.NoErr(port.SetOutgoingInterface("127.0.0.1"), "SetOutgoingInterface(\"127.0.0.1\")")
	err := port.SetOutgoingInterface("localhost")
	c.ErrIs(err, gyre.ErrAddress, "SetOutgoingInterface(\"localhost\")")
}

func mcInterfaceSend(c *C) {
	dgNetns(c)
	p := &dgProto{name: "p"}
	port := mcListen(c, ":0", p)
	sp := &dgProto{name: "sender"}
	sender := mcListen(c, ":0", sp)
	netWhenRunning(c, func() {
		c.NoErr(port.JoinGroup(mcGroup, "127.0.0.1"), "JoinGroup")
		c.NoErr(sender.SetOutgoingInterface("127.0.0.1"), "SetOutgoingInterface")
		c.NoErr(sender.SetTTL(1), "SetTTL")
		dgWrite(c, sender, "via-lo", mcGroupAddr(c, mcGroup, port))
		netUntil(c, "the datagram sent through the chosen interface", func() bool { return p.has("via-lo") }, func() {
			c.Later(10*time.Millisecond, func() { netStop(c) })
		})
	})
	netRun(c)
	dgCheckProtos(c, p, sp)
}
