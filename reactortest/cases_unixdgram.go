package reactortest

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/gyre-go/gyre"
)

// Cases for the "Unix datagram sockets" rules of docs/SPEC.md. Socket files
// live in a fresh temporary directory per case.

func init() {
	const n = NeedUnixDgram | NeedClock
	ud := func(id string, f func(c *C)) Case { return Case{ID: id, Facet: FacetUnixDgram, Needs: n, Test: f} }
	register(
		ud("unixdgram.listen.path", udListenPath),
		ud("unixdgram.listen.mode#0600", func(c *C) { udListenMode(c, 0o600) }),
		ud("unixdgram.listen.mode#0666", func(c *C) { udListenMode(c, 0o666) }),
		ud("unixdgram.listen.abstract", udAbstract),
		ud("unixdgram.listen.stale", udStale),
		ud("unixdgram.listen.in-use#other-socket", udInUseRaw),
		ud("unixdgram.listen.in-use#not-a-socket", udInUseFile),
		ud("unixdgram.stop#removes-file", udStopRemoves),
		ud("unixdgram.stop#protocol-later", udStopProtocolLater),
		ud("unixdgram.receive.peer#bound", udPeerBound),
		ud("unixdgram.receive.peer#unbound", udPeerUnbound),
		ud("unixdgram.write#boundaries", udBoundaries),
		ud("unixdgram.write#sequence", udSequence),
		ud("unixdgram.write#address", udWriteAddress),
		ud("unixdgram.max-size", udMaxSize),
		ud("unixdgram.connect.missing", udConnectMissing),
		ud("unixdgram.stopped#listen", func(c *C) { udStopped(c, false) }),
		ud("unixdgram.stopped#connect", func(c *C) { udStopped(c, true) }),
		ud("unixdgram.shutdown", udShutdown),
	)
}

// udListen binds path with ListenUnixDatagram, failing the case on error.
func udListen(c *C, path string, p *dgProto, opts ...gyre.ListenOption) gyre.DatagramPort {
	c.Helper()
	p.inCall = "ListenUnixDatagram"
	port, err := c.UnixDgram.ListenUnixDatagram(path, p, opts...)
	p.inCall = ""
	if err != nil {
		c.Fatalf("ListenUnixDatagram(%q): %v", path, err)
	}
	if netNil(port) {
		c.Fatalf("ListenUnixDatagram(%q) returned a nil port and no error", path)
	}
	return port
}

// udConnect makes a port connected to path, failing the case on error.
func udConnect(c *C, path string, p *dgProto) gyre.DatagramPort {
	c.Helper()
	p.inCall = "ConnectUnixDatagram"
	port, err := c.UnixDgram.ConnectUnixDatagram(path, p)
	p.inCall = ""
	if err != nil {
		c.Fatalf("ConnectUnixDatagram(%q): %v", path, err)
	}
	if netNil(port) {
		c.Fatalf("ConnectUnixDatagram(%q) returned a nil port and no error", path)
	}
	return port
}

// udRawListen binds a raw unixgram socket at path.
func udRawListen(c *C, path string) *dgRaw {
	c.Helper()
	conn, err := net.ListenUnixgram("unixgram", dgUnixAddr(path))
	if err != nil {
		c.Fatalf("net.ListenUnixgram(%q): %v", path, err)
	}
	return dgRawStart(conn)
}

// udRawSender returns an unbound raw unixgram socket connected to path.
func udRawSender(c *C, path string) *net.UnixConn {
	c.Helper()
	conn, err := net.DialUnix("unixgram", nil, dgUnixAddr(path))
	if err != nil {
		c.Fatalf("net.DialUnix(unixgram, %q): %v", path, err)
	}
	return conn
}

func udListenPath(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	p := &dgProto{name: "p"}
	port := udListen(c, path, p)
	dgUnixAddrIs(c, port.LocalAddr(), path, "LocalAddr")
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		c.Errorf("no socket file at %s after ListenUnixDatagram (Lstat: %v)", path, err)
	}
	q := &dgProto{name: "q"}
	cport := udConnect(c, path, q)
	dgUnixAddrIs(c, cport.RemoteAddr(), path, "RemoteAddr of the connected port")
	c.True(p.starts == 0 && q.starts == 0, "StartProtocol was called before Run")
	netWhenRunning(c, func() {
		c.NoErr(cport.Write([]byte("hello"), nil), "Write with a nil address on the connected port")
		netStopWhen(c, "the datagram and both StartProtocol calls", func() bool { return p.has("hello") && q.starts == 1 })
	})
	netRun(c)
	if p.count() > 0 {
		if _, ok := p.got[0].addr.(*net.UnixAddr); !ok {
			c.Errorf("sender address is %T, want *net.UnixAddr", p.got[0].addr)
		}
	}
	dgCheckProtos(c, p, q)
}

func udListenMode(c *C, mode os.FileMode) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	udListen(c, path, &dgProto{name: "p"}, gyre.Mode(mode))
	fi, err := os.Lstat(path)
	if err != nil {
		c.Fatalf("no socket file after ListenUnixDatagram: %v", err)
	}
	c.Equal(fi.Mode().Perm(), mode, "permissions of the socket file made with Mode")
}

func udAbstract(c *C) {
	name := unixAbstract(c)
	p := &dgProto{name: "p"}
	port := udListen(c, name, p)
	dgUnixAddrIs(c, port.LocalAddr(), name, "LocalAddr of an abstract socket")
	if _, err := os.Lstat(name); err == nil {
		c.Errorf("ListenUnixDatagram(%q) created a file named %q", name, name)
	}
	q := &dgProto{name: "q"}
	cport := udConnect(c, name, q)
	netWhenRunning(c, func() {
		c.NoErr(cport.Write([]byte("abstract"), nil), "Write to the abstract socket")
		netStopWhen(c, "the datagram at the abstract socket", func() bool { return p.has("abstract") })
	})
	netRun(c)
	dgCheckProtos(c, p, q)
}

func udStale(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	conn, err := net.ListenUnixgram("unixgram", dgUnixAddr(path))
	if err != nil {
		c.Fatalf("net.ListenUnixgram: %v", err)
	}
	_ = conn.Close() // a unixgram socket leaves its file behind
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		c.Fatalf("could not leave a stale socket file at %s: %v", path, err)
	}
	p := &dgProto{name: "p"}
	udListen(c, path, p)
	s := udRawSender(c, path)
	defer s.Close()
	netWhenRunning(c, func() {
		if _, err := s.Write([]byte("fresh")); err != nil {
			netFail(c, "write: %v", err)
			return
		}
		netStopWhen(c, "the datagram at the port that replaced the stale file", func() bool { return p.has("fresh") })
	})
	netRun(c)
	dgCheckProtos(c, p)
}

func udInUseRaw(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	raw := udRawListen(c, path)
	defer raw.close()
	p := &dgProto{name: "p"}
	port, err := c.UnixDgram.ListenUnixDatagram(path, p)
	c.ErrIs(err, gyre.ErrBind, "ListenUnixDatagram on a path in use")
	c.ErrIs(err, syscall.EADDRINUSE, "ListenUnixDatagram on a path in use")
	if !netNil(port) {
		c.Errorf("ListenUnixDatagram on a path in use returned a port")
		port.StopListening()
	}
	s := udRawSender(c, path)
	defer s.Close()
	if _, err := s.Write([]byte("still")); err != nil {
		c.Errorf("the socket bound to the path no longer receives: %v", err)
	}
	netWhenRunning(c, func() {
		netStopWhen(c, "the first socket to receive", func() bool { return raw.has("still") })
	})
	netRun(c)
	c.Equal(p.starts, 0, "StartProtocol calls of a port that failed to bind")
}

func udInUseFile(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		c.Fatalf("WriteFile: %v", err)
	}
	port, err := c.UnixDgram.ListenUnixDatagram(path, &dgProto{name: "p"})
	c.ErrIs(err, gyre.ErrBind, "ListenUnixDatagram on a regular file")
	if !netNil(port) {
		c.Errorf("ListenUnixDatagram on a regular file returned a port")
		port.StopListening()
	}
	b, err := os.ReadFile(path)
	c.True(err == nil && string(b) == "keep me", "the regular file at the path was changed or removed (%q, %v)", b, err)
}

func udStopRemoves(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	p := &dgProto{name: "p"}
	port := udListen(c, path, p)
	fired := false
	netWhenRunning(c, func() {
		dgStop(c, port, func() {
			fired = true
			if _, err := os.Lstat(path); !os.IsNotExist(err) {
				c.Errorf("the socket file is still there when the StopListening Deferred fires (Lstat: %v)", err)
			}
			again := &dgProto{name: "again"}
			again.inCall = "ListenUnixDatagram"
			p2, err := c.UnixDgram.ListenUnixDatagram(path, again)
			again.inCall = ""
			if err != nil {
				netFail(c, "ListenUnixDatagram on the path of a stopped port: %v", err)
				return
			}
			dgStop(c, p2, func() { netStopWhen(c, "StopProtocol", func() bool { return p.stops == 1 }) })
		})
	})
	netRun(c)
	c.True(fired, "the StopListening Deferred never fired")
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		c.Errorf("the socket file is still there after the second port stopped (Lstat: %v)", err)
	}
	dgCheckProtos(c, p)
}

func udStopProtocolLater(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	p := &dgProto{name: "p"}
	port := udListen(c, netSockPath(dir, "s"), p)
	netWhenRunning(c, func() {
		netUntil(c, "StartProtocol", func() bool { return p.starts == 1 }, func() {
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

func udPeerBound(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path1, path2 := netSockPath(dir, "a"), netSockPath(dir, "b")
	p1 := &dgProto{name: "p1"}
	p1.onData = func(p *dgProto, data []byte, addr net.Addr) {
		c.NoErr(p.port.Write([]byte("re:"+string(data)), addr), "Write to the bound sender")
	}
	udListen(c, path1, p1)
	p2 := &dgProto{name: "p2"}
	port2 := udListen(c, path2, p2)
	netWhenRunning(c, func() {
		dgWrite(c, port2, "hi", dgUnixAddr(path1))
		netStopWhen(c, "the reply to the bound sender", func() bool { return p2.has("re:hi") })
	})
	netRun(c)
	if p1.count() > 0 {
		dgUnixAddrIs(c, p1.got[0].addr, path2, "address of a bound sender")
	}
	if p2.count() > 0 {
		dgUnixAddrIs(c, p2.got[0].addr, path1, "address of the replying port")
	}
	dgCheckProtos(c, p1, p2)
}

func udPeerUnbound(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	p := &dgProto{name: "p"}
	udListen(c, path, p)
	s := udRawSender(c, path)
	defer s.Close()
	netWhenRunning(c, func() {
		if _, err := s.Write([]byte("anon")); err != nil {
			netFail(c, "write: %v", err)
			return
		}
		netStopWhen(c, "the datagram of an unbound sender", func() bool { return p.has("anon") })
	})
	netRun(c)
	if p.count() > 0 {
		if a, ok := p.got[0].addr.(*net.UnixAddr); !ok || a == nil {
			c.Errorf("address of an unbound sender is %T %v, want a non-nil *net.UnixAddr", p.got[0].addr, p.got[0].addr)
		}
	}
	dgCheckProtos(c, p)
}

func udBoundaries(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	p := &dgProto{name: "p"}
	udListen(c, path, p)
	s := udRawSender(c, path)
	defer s.Close()
	sizes := []int{1, 7, 100, 2000, 8000}
	var want []string
	netWhenRunning(c, func() {
		for i, n := range sizes {
			b := netPattern(n)
			b[0] = byte('a' + i)
			want = append(want, string(b))
			if _, err := s.Write(b); err != nil {
				netFail(c, "write: %v", err)
				return
			}
		}
		netStopWhen(c, "every datagram", func() bool { return p.count() >= len(sizes) })
	})
	netRun(c)
	got := p.payloads()
	c.Equal(len(got), len(sizes), "DatagramReceived calls")
	for i := range got {
		if i < len(want) && got[i] != want[i] {
			c.Errorf("datagram %d: got %d bytes, want the %d sent (boundaries or order lost)", i, len(got[i]), len(want[i]))
		}
	}
	dgCheckProtos(c, p)
}

func udSequence(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	p := &dgProto{name: "p"}
	udListen(c, path, p)
	cport := udConnect(c, path, &dgProto{name: "q"})
	netWhenRunning(c, func() {
		c.NoErr(cport.WriteSequence([][]byte{[]byte("ab"), nil, []byte("c")}, nil), "WriteSequence")
		c.NoErr(cport.Write([]byte("d"), nil), "Write")
		netStopWhen(c, "both datagrams", func() bool { return p.count() >= 2 })
	})
	netRun(c)
	c.Equal(strings.Join(p.payloads(), "|"), "abc|d", "datagrams received (WriteSequence's as one, then Write's)")
	dgCheckProtos(c, p)
}

func udWriteAddress(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "peer")
	raw := udRawListen(c, path)
	defer raw.close()
	port := udListen(c, netSockPath(dir, "s"), &dgProto{name: "p"})
	netWhenRunning(c, func() {
		c.ErrIs(port.Write([]byte("x"), nil), gyre.ErrAddress, "Write with a nil address on an unconnected port")
		c.ErrIs(port.Write([]byte("x"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}), gyre.ErrAddress, "Write to a *net.UDPAddr")
		c.ErrIs(port.WriteSequence([][]byte{[]byte("x")}, nil), gyre.ErrAddress, "WriteSequence with a nil address on an unconnected port")
		dgWrite(c, port, "marker", dgUnixAddr(path))
		netUntil(c, "the marker", func() bool { return raw.has("marker") }, func() {
			c.Later(30*time.Millisecond, func() { netStop(c) })
		})
	})
	netRun(c)
	c.Equal(raw.count(), 1, "datagrams at the peer (only the marker)")
}

func udMaxSize(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	p := &dgProto{name: "p"}
	udListen(c, path, p)
	cport := udConnect(c, path, &dgProto{name: "q"})
	max := cport.MaxDatagramSize()
	c.True(max >= 2048, "MaxDatagramSize() = %d, want at least 2048", max)
	want := string(netPattern(max))
	netWhenRunning(c, func() {
		c.ErrIs(cport.Write(make([]byte, max+1), nil), gyre.ErrDatagramTooLarge, fmt.Sprintf("Write of MaxDatagramSize+1 (%d) bytes", max+1))
		c.NoErr(cport.Write([]byte(want), nil), fmt.Sprintf("Write of MaxDatagramSize (%d) bytes", max))
		netStopWhen(c, "the datagram of MaxDatagramSize bytes", func() bool { return p.count() > 0 })
	})
	netRun(c)
	if p.count() > 0 {
		c.Equal(len(p.got[0].data), max, "length of the first datagram received (the too-large one must not be sent)")
		c.True(p.got[0].data == want, "the datagram of MaxDatagramSize bytes arrived altered")
	}
	dgCheckProtos(c, p)
}

func udConnectMissing(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	p := &dgProto{name: "p"}
	port, err := c.UnixDgram.ConnectUnixDatagram(netSockPath(dir, "none"), p)
	c.ErrIs(err, syscall.ENOENT, "ConnectUnixDatagram to a missing path")
	if !netNil(port) {
		c.Errorf("ConnectUnixDatagram to a missing path returned a port")
		port.StopListening()
	}
	c.Equal(p.starts, 0, "StartProtocol calls of a failed ConnectUnixDatagram")
}

func udStopped(c *C, connect bool) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	var keep *dgRaw
	if connect {
		keep = udRawListen(c, path)
		defer keep.close()
	}
	netWhenRunning(c, func() { netStop(c) })
	netRun(c)
	p := &dgProto{name: "p"}
	var port gyre.DatagramPort
	var err error
	if connect {
		port, err = c.UnixDgram.ConnectUnixDatagram(path, p)
	} else {
		port, err = c.UnixDgram.ListenUnixDatagram(path, p)
	}
	c.ErrIs(err, gyre.ErrStopped, "on a stopped reactor")
	if !netNil(port) {
		c.Errorf("a stopped reactor returned a port")
		port.StopListening()
	}
	c.True(p.starts == 0, "a refused call started the protocol")
}

func udShutdown(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	p := &dgProto{name: "p"}
	udListen(c, path, p)
	q := &dgProto{name: "q"}
	udConnect(c, path, q)
	ran := false
	dgDuring(c, func() {
		ran = true
		c.True(p.stops == 1 && q.stops == 1, "StopProtocol calls by the users' During \"shutdown\" triggers: %d and %d, want 1 each",
			p.stops, q.stops)
		if _, err := os.Lstat(path); !os.IsNotExist(err) {
			c.Errorf("the socket file is still there in a During \"shutdown\" trigger (Lstat: %v)", err)
		}
	})
	netWhenRunning(c, func() {
		netUntil(c, "StartProtocol", func() bool { return p.starts == 1 && q.starts == 1 }, func() { netStop(c) })
	})
	netRun(c)
	c.True(ran, "the During \"shutdown\" trigger did not run")
	dgCheckProtos(c, p, q)
}
