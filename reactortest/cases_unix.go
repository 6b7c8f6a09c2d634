package reactortest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/gyre-go/gyre"
)

// Cases for the "Unix: stream sockets" rules of docs/SPEC.md. Socket files
// live in a fresh temporary directory per case.

func init() {
	const n = NeedUnix | NeedClock
	ux := func(id string, f func(c *C)) Case { return Case{ID: id, Facet: FacetUnix, Needs: n, Test: f} }
	register(
		ux("unix.listen.path", unixListenPath),
		ux("unix.listen.mode#0600", func(c *C) { unixListenMode(c, 0o600) }),
		ux("unix.listen.mode#0666", func(c *C) { unixListenMode(c, 0o666) }),
		ux("unix.listen.abstract#connect", unixAbstractConnect),
		ux("unix.listen.abstract#stop", unixAbstractStop),
		ux("unix.listen.stale", unixListenStale),
		ux("unix.listen.in-use#other-socket", unixInUseRaw),
		ux("unix.listen.in-use#same-reactor", unixInUseGyre),
		ux("unix.listen.in-use#not-a-socket", unixInUseFile),
		ux("unix.listen.stop#removes-file", unixStopRemoves),
		ux("unix.listen.stop#keeps-connections", unixStopKeeps),
		ux("unix.accept.protocol", unixAcceptProtocol),
		ux("unix.accept.refuse", unixAcceptRefuse),
		ux("unix.connect.refuse", unixConnectRefuse),
		ux("unix.factory.start-stop", unixFactory),
		ux("unix.connect.stop-connecting#after-connect", unixStopAfterConnect),
		ux("unix.connect.stop-connecting#in-started", unixStopInStarted),
		ux("unix.connect.lost#order", unixLostOrder),
		ux("unix.connect.lost#reconnect", unixLostReconnect),
		ux("unix.connect.missing#no-file", unixMissingNoFile),
		ux("unix.connect.missing#stale-file", unixMissingStale),
		ux("unix.credentials", unixCredentials),
		ux("unix.fds.receive#socket", unixFDsSocket),
		ux("unix.fds.receive#pipe-to-client", unixFDsPipe),
		ux("unix.fds.order#client-to-server", func(c *C) { unixFDsOrder(c, false) }),
		ux("unix.fds.order#server-to-client", func(c *C) { unixFDsOrder(c, true) }),
		ux("unix.fds.unwanted", unixFDsUnwanted),
		ux("unix.stopped#listen", unixStoppedListen),
		ux("unix.stopped#connect", unixStoppedConnect),
		ux("unix.shutdown", unixShutdown),
	)
}

// unixAddrIs fails the case unless got is a *net.UnixAddr named name.
func unixAddrIs(c *C, got net.Addr, name, what string) {
	c.Helper()
	a, ok := got.(*net.UnixAddr)
	switch {
	case !ok:
		c.Errorf("%s: got %T %v, want *net.UnixAddr %q", what, got, got, name)
	case a.Name != name:
		c.Errorf("%s: got name %q, want %q", what, a.Name, name)
	}
}

// unixIsUnixAddr fails the case unless got is a *net.UnixAddr.
func unixIsUnixAddr(c *C, got net.Addr, what string) {
	c.Helper()
	if _, ok := got.(*net.UnixAddr); !ok {
		c.Errorf("%s: got %T %v, want a *net.UnixAddr", what, got, got)
	}
}

// unixConnectOnLoop starts connecting from a loop callback; on error it fails
// the case, stops the reactor and returns nil.
func unixConnectOnLoop(c *C, path string, f gyre.ClientFactory, opts ...gyre.ConnectOption) gyre.Connector {
	c.Helper()
	cn, err := c.Unix.ConnectUnix(path, f, opts...)
	if err != nil {
		netFail(c, "ConnectUnix(%q): %v", path, err)
		return nil
	}
	return cn
}

// unixStale leaves a socket file at path that nothing listens on.
func unixStale(c *C, path string) {
	c.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		c.Fatalf("net.ListenUnix(%q): %v", path, err)
	}
	l.SetUnlinkOnClose(false)
	_ = l.Close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		c.Fatalf("could not leave a stale socket file at %s: %v", path, err)
	}
}

// unixAbstract skips the case unless the abstract namespace exists here, and
// returns a fresh name in it.
func unixAbstract(c *C) string {
	c.Helper()
	if runtime.GOOS != "linux" {
		c.Skipf("the abstract socket namespace exists only on Linux, not on %s", runtime.GOOS)
	}
	return fmt.Sprintf("@gyre-test-%d-%d", os.Getpid(), time.Now().UnixNano())
}

// unixPair connects a client to a port at path and calls then once both
// ends are made.
func unixPair(c *C, path string, srv *netServer, cl *netClient, then func(s, k *netRecorder)) {
	c.Helper()
	netWhenRunning(c, func() {
		if unixConnectOnLoop(c, path, cl) == nil {
			return
		}
		netUntil(c, "the Unix connection to be made", func() bool { return netMade(srv.proto(0)) && netMade(cl.proto(0)) }, func() {
			then(srv.proto(0), cl.proto(0))
		})
	})
}

// --- Listening ---

func unixListenPath(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	srv := &netServer{}
	srv.onProto = func(p *netRecorder) { p.onMade = func(p *netRecorder) { p.write(c, "from server") } }
	port := netListenUnix(c, path, srv)
	a, ok := port.Addr().(*net.UnixAddr)
	if !ok {
		c.Fatalf("Port.Addr() is %T, want *net.UnixAddr", port.Addr())
	}
	c.True(a.Name == path && a.Net == "unix", "Port.Addr() = %#v, want name %q and network \"unix\"", a, path)
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		c.Errorf("no socket file at %s after ListenUnix: %v", path, err)
	}
	cl := &netClient{}
	cl.onProto = func(p *netRecorder) { p.onMade = func(p *netRecorder) { p.write(c, "from client") } }
	unixPair(c, path, srv, cl, func(s, k *netRecorder) {
		netStopWhen(c, "bytes to arrive both ways", func() bool {
			return string(s.data) == "from client" && string(k.data) == "from server"
		})
	})
	netRun(c)
	for _, p := range []*netRecorder{srv.proto(0), cl.proto(0)} {
		if p == nil {
			continue
		}
		if _, ok := p.t.(gyre.UnixTransport); !ok {
			c.Errorf("%s: the transport of a Unix connection is a %T, which does not implement gyre.UnixTransport", p.name, p.t)
		}
	}
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}

func unixListenMode(c *C, mode os.FileMode) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	netListenUnix(c, path, &netServer{}, gyre.Mode(mode))
	fi, err := os.Lstat(path)
	if err != nil {
		c.Fatalf("no socket file after ListenUnix: %v", err)
	}
	c.Equal(fi.Mode().Perm(), mode, "permissions of the socket file made with Mode")
}

func unixAbstractConnect(c *C) {
	name := unixAbstract(c)
	srv := &netServer{}
	port := netListenUnix(c, name, srv)
	unixAddrIs(c, port.Addr(), name, "Port.Addr() of an abstract socket")
	if _, err := os.Lstat(name); err == nil {
		c.Errorf("ListenUnix(%q) created a file named %q", name, name)
	}
	cl := &netClient{}
	var cn gyre.Connector
	netWhenRunning(c, func() {
		if cn = unixConnectOnLoop(c, name, cl); cn == nil {
			return
		}
		netStopWhen(c, "the connection to the abstract socket", func() bool { return netMade(cl.proto(0)) && netMade(srv.proto(0)) })
	})
	netRun(c)
	if k := cl.proto(0); k != nil {
		unixAddrIs(c, cl.addrs[0], name, "address given to the client's BuildProtocol")
		unixAddrIs(c, k.remote, name, "client transport's RemoteAddr")
		unixAddrIs(c, cn.Destination(), name, "Destination")
	}
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}

func unixAbstractStop(c *C) {
	name := unixAbstract(c)
	port := netListenUnix(c, name, &netServer{})
	cl := &netClient{}
	netWhenRunning(c, func() {
		netOnFire(port.StopListening(), func(any, error) {
			if unixConnectOnLoop(c, name, cl) == nil {
				return
			}
			netUntil(c, "the connection to a closed abstract socket to fail", func() bool { return len(cl.failed) > 0 }, func() {
				again, err := c.Unix.ListenUnix(name, &netServer{})
				if err != nil {
					netFail(c, "ListenUnix(%q) after the port stopped: %v", name, err)
					return
				}
				netOnFire(again.StopListening(), func(any, error) { netStop(c) })
			})
		})
	})
	netRun(c)
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], gyre.ErrConnectionRefused, "connecting to a stopped abstract socket")
	}
	c.Equal(len(cl.addrs), 0, "connections made to a stopped abstract socket")
}

func unixListenStale(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	unixStale(c, path)
	srv := &netServer{}
	netListenUnix(c, path, srv)
	cl := &netClient{}
	unixPair(c, path, srv, cl, func(s, k *netRecorder) { netStop(c) })
	netRun(c)
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}

func unixInUseRaw(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	rl := netRawListen(c, "unix", path)
	defer rl.close()
	srv := &netServer{}
	p, err := c.Unix.ListenUnix(path, srv)
	c.ErrIs(err, gyre.ErrBind, "ListenUnix where another socket listens")
	c.ErrIs(err, syscall.EADDRINUSE, "ListenUnix where another socket listens")
	if !netNil(p) {
		c.Errorf("ListenUnix on a live socket file returned a Port with its error")
		p.StopListening()
	}
	c.True(srv.starts == 0, "ListenUnix failed but called StartFactory")
	r, err := netRawDial("unix", path)
	if err != nil {
		c.Fatalf("the socket already listening no longer accepts: %v", err)
	}
	defer r.close()
	c.True(rl.waitCount(1, 5*time.Second), "the socket already listening did not accept a connection")
}

func unixInUseGyre(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	first := &netServer{name: "first"}
	netListenUnix(c, path, first)
	p, err := c.Unix.ListenUnix(path, &netServer{name: "second"})
	c.ErrIs(err, gyre.ErrBind, "a second ListenUnix on the same path")
	c.ErrIs(err, syscall.EADDRINUSE, "a second ListenUnix on the same path")
	if !netNil(p) {
		p.StopListening()
	}
	cl := &netClient{}
	netWhenRunning(c, func() {
		if unixConnectOnLoop(c, path, cl) == nil {
			return
		}
		netStopWhen(c, "the first port to accept", func() bool { return netMade(first.proto(0)) && netMade(cl.proto(0)) })
	})
	netRun(c)
	netCheckProtos(c, append(first.protos, cl.protos...)...)
}

func unixInUseFile(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		c.Fatalf("WriteFile: %v", err)
	}
	srv := &netServer{}
	p, err := c.Unix.ListenUnix(path, srv)
	c.ErrIs(err, gyre.ErrBind, "ListenUnix on a regular file")
	if !netNil(p) {
		c.Errorf("ListenUnix on a regular file returned a Port")
		p.StopListening()
	}
	b, err := os.ReadFile(path)
	c.True(err == nil && string(b) == "keep me", "ListenUnix removed or changed the regular file at its path (%v, %q)", err, b)
}

func unixStopRemoves(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	port := netListenUnix(c, path, &netServer{})
	fired := false
	netWhenRunning(c, func() {
		netOnFire(port.StopListening(), func(v any, err error) {
			fired = true
			c.NoErr(err, "StopListening Deferred")
			if _, err := os.Lstat(path); !os.IsNotExist(err) {
				c.Errorf("the socket file is still there when the StopListening Deferred fires (Lstat: %v)", err)
			}
			again, err := c.Unix.ListenUnix(path, &netServer{})
			if err != nil {
				netFail(c, "ListenUnix on the path of a stopped port: %v", err)
				return
			}
			netOnFire(again.StopListening(), func(any, error) { netStop(c) })
		})
	})
	netRun(c)
	c.True(fired, "the StopListening Deferred never fired")
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		c.Errorf("the socket file is still there after the second port stopped (Lstat: %v)", err)
	}
}

func unixStopKeeps(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	srv := &netServer{}
	port := netListenUnix(c, path, srv)
	cl := &netClient{}
	unixPair(c, path, srv, cl, func(s, k *netRecorder) {
		netOnFire(port.StopListening(), func(any, error) {
			c.True(!netGone(s) && !netGone(k), "StopListening closed an accepted connection")
			s.write(c, "after")
			k.write(c, "stop")
			netStopWhen(c, "bytes to arrive both ways after StopListening", func() bool {
				return string(s.data) == "stop" && string(k.data) == "after"
			})
		})
	})
	netRun(c)
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}

// --- Connections ---

func unixAcceptProtocol(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	srv := &netServer{}
	netListenUnix(c, path, srv)
	cl := &netClient{}
	var cn gyre.Connector
	netWhenRunning(c, func() {
		if cn = unixConnectOnLoop(c, path, cl); cn == nil {
			return
		}
		netStopWhen(c, "the Unix connection to be made", func() bool { return netMade(srv.proto(0)) && netMade(cl.proto(0)) })
	})
	netRun(c)
	s, k := srv.proto(0), cl.proto(0)
	if s == nil || k == nil {
		return
	}
	unixIsUnixAddr(c, srv.addrs[0], "address given to the server's BuildProtocol")
	unixAddrIs(c, s.local, path, "server transport's LocalAddr")
	unixIsUnixAddr(c, s.remote, "server transport's RemoteAddr")
	unixAddrIs(c, cl.addrs[0], path, "address given to the client's BuildProtocol")
	unixAddrIs(c, k.remote, path, "client transport's RemoteAddr")
	unixIsUnixAddr(c, k.local, "client transport's LocalAddr")
	unixAddrIs(c, cn.Destination(), path, "Destination")
	netCheckProtos(c, s, k)
}

func unixAcceptRefuse(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	srv := &netServer{}
	calls := 0
	srv.build = func(net.Addr) gyre.Protocol {
		calls++
		if calls == 1 {
			return nil
		}
		return srv.newProto()
	}
	netListenUnix(c, path, srv)
	var first, second *netRaw
	defer func() { first.close(); second.close() }()
	netWhenRunning(c, func() {
		if first = netDial(c, "unix", path); first == nil {
			return
		}
		netUntil(c, "the refused connection to be closed", first.ended, func() {
			if second = netDial(c, "unix", path); second == nil {
				return
			}
			netStopWhen(c, "the next connection to be made", func() bool { return netMade(srv.proto(0)) })
		})
	})
	netRun(c)
	if first != nil && first.ended() {
		c.True(first.readErr() == io.EOF, "the peer of a refused connection read %v, want a clean end of file", first.readErr())
	}
	c.Equal(len(srv.protos), 1, "protocols built")
	netCheckProtos(c, srv.protos...)
}

func unixConnectRefuse(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	srv := &netServer{}
	netListenUnix(c, path, srv)
	cl := &netClient{}
	cl.build = func(net.Addr) gyre.Protocol { return nil }
	netWhenRunning(c, func() {
		if unixConnectOnLoop(c, path, cl) == nil {
			return
		}
		netUntil(c, "the attempt to fail and the server to see the close", func() bool {
			return len(cl.failed) > 0 && netGone(srv.proto(0))
		}, func() { c.Later(20*time.Millisecond, func() { netStop(c) }) })
	})
	netRun(c)
	c.Equal(len(cl.failed), 1, "ClientConnectionFailed calls")
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], gyre.ErrUserCancelled, "ClientConnectionFailed when BuildProtocol returns nil")
	}
	c.Equal(len(cl.lost), 0, "ClientConnectionLost calls")
	if p := srv.proto(0); netGone(p) {
		netReason(c, p.reason, gyre.ErrConnectionDone, "server ConnectionLost when the client refused the connection")
	}
	netCheckProtos(c, srv.protos...)
}

func unixFactory(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	f := &netClient{}
	port := netListenUnix(c, path, f)
	c.Equal(f.starts, 1, "StartFactory calls once the port listens")
	cn := netConnectUnix(c, path, f)
	c.Equal(f.starts, 1, "StartFactory calls once a connector shares the port's factory")
	netWhenRunning(c, func() {
		netUntil(c, "both ends to be made", func() bool { return len(f.protos) == 2 && netMade(f.protos[0]) && netMade(f.protos[1]) }, func() {
			netOnFire(port.StopListening(), func(any, error) {
				c.Equal(f.stops, 0, "StopFactory calls once the port stopped and the connector is connected")
				cn.Disconnect()
				netStopWhen(c, "StopFactory once the connection was lost", func() bool { return f.stops > 0 })
			})
		})
	})
	netRun(c)
	c.Equal(f.starts, 1, "StartFactory calls")
	c.Equal(f.stops, 1, "StopFactory calls")
}

func unixStopAfterConnect(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	srv := &netServer{}
	netListenUnix(c, path, srv)
	cl := &netClient{}
	netWhenRunning(c, func() {
		cn := unixConnectOnLoop(c, path, cl)
		if cn == nil {
			return
		}
		cl.call(func() { c.NoErr(cn.StopConnecting(), "StopConnecting right after ConnectUnix") })
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
	netCheckProtos(c, srv.protos...)
}

func unixStopInStarted(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	netListenUnix(c, path, &netServer{})
	cl := &netClient{}
	cl.onStarted = func(cn gyre.Connector) { c.NoErr(cn.StopConnecting(), "StopConnecting in StartedConnecting") }
	netWhenRunning(c, func() {
		var cn gyre.Connector
		cl.call(func() { cn = unixConnectOnLoop(c, path, cl) })
		if cn == nil {
			return
		}
		netUntil(c, "ClientConnectionFailed", func() bool { return len(cl.failed) > 0 }, func() {
			c.Later(30*time.Millisecond, func() { netStop(c) })
		})
	})
	netRun(c)
	netCheckEarly(c, cl, "ConnectUnix")
	c.Equal(len(cl.failed), 1, "ClientConnectionFailed calls")
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], gyre.ErrUserCancelled, "ClientConnectionFailed")
	}
	c.Equal(len(cl.addrs), 0, "BuildProtocol calls")
}

func unixLostOrder(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	srv := &netServer{}
	srv.onProto = func(p *netRecorder) { p.onMade = func(p *netRecorder) { p.t.LoseConnection() } }
	netListenUnix(c, path, srv)
	lg := &netLog{}
	cl := &netClient{netServer: netServer{name: "c", log: lg}}
	cn := netConnectUnix(c, path, cl)
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
		c.True(netSame(cl.lostC[0], cn), "ClientConnectionLost got a Connector other than the one ConnectUnix returned")
	}
	netCheckProtos(c, cl.protos...)
}

func unixLostReconnect(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	srv := &netServer{}
	srv.onProto = func(p *netRecorder) {
		if len(srv.protos) == 1 {
			p.onMade = func(p *netRecorder) { p.t.LoseConnection() }
		}
	}
	netListenUnix(c, path, srv)
	cl := &netClient{}
	cl.onLost = func(cn gyre.Connector, reason error) {
		if len(cl.lost) == 1 {
			c.NoErr(cn.Connect(), "Connect from ClientConnectionLost")
		}
	}
	netConnectUnix(c, path, cl)
	netWhenRunning(c, func() {
		netStopWhen(c, "the second connection to be made", func() bool { return netMade(cl.proto(1)) && netMade(srv.proto(1)) })
	})
	netRun(c)
	c.Equal(len(cl.started), 2, "StartedConnecting calls")
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}

// unixMissing connects to path, where nothing listens, and checks the
// failure.
func unixMissing(c *C, path string, errno error) {
	c.Helper()
	cl := &netClient{}
	netWhenRunning(c, func() {
		var cn gyre.Connector
		cl.call(func() { cn = unixConnectOnLoop(c, path, cl) })
		if cn == nil {
			return
		}
		netStopWhen(c, "ClientConnectionFailed", func() bool { return len(cl.failed) > 0 })
	})
	netRun(c)
	netCheckEarly(c, cl, "ConnectUnix")
	if len(cl.failed) > 0 {
		netReason(c, cl.failed[0], gyre.ErrConnectionRefused, "ClientConnectionFailed")
		c.ErrIs(cl.failed[0], errno, "ClientConnectionFailed")
	}
	c.Equal(len(cl.addrs), 0, "BuildProtocol calls")
}

func unixMissingNoFile(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	unixMissing(c, netSockPath(dir, "none"), syscall.ENOENT)
}

func unixMissingStale(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	unixStale(c, path)
	unixMissing(c, path, syscall.ECONNREFUSED)
}

func unixCredentials(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	type got struct {
		cred gyre.Credentials
		err  error
		ok   bool
	}
	creds := map[string]got{}
	read := func(p *netRecorder) {
		ut, ok := p.t.(gyre.UnixTransport)
		if !ok {
			creds[p.name] = got{err: fmt.Errorf("transport %T is not a gyre.UnixTransport", p.t)}
			return
		}
		cr, err := ut.PeerCredentials()
		creds[p.name] = got{cred: cr, err: err, ok: true}
	}
	srv := &netServer{}
	srv.onProto = func(p *netRecorder) { p.onMade = read }
	netListenUnix(c, path, srv)
	cl := &netClient{}
	cl.onProto = func(p *netRecorder) { p.onMade = read }
	unixPair(c, path, srv, cl, func(s, k *netRecorder) { netStop(c) })
	netRun(c)
	want := gyre.Credentials{PID: os.Getpid(), UID: os.Getuid(), GID: os.Getgid()}
	c.Equal(len(creds), 2, "ends whose credentials were read")
	for name, g := range creds {
		switch {
		case !g.ok:
			c.Errorf("%s: %v", name, g.err)
		case runtime.GOOS != "linux" && errors.Is(g.err, gyre.ErrNotSupported):
			c.Logf("%s: PeerCredentials is not supported on %s", name, runtime.GOOS)
		case g.err != nil:
			c.Errorf("%s: PeerCredentials: %v", name, g.err)
		default:
			c.Equal(g.cred, want, name+": PeerCredentials (this process's pid, uid and gid)")
		}
	}
}

// --- Passing descriptors ---

// unixFDPair connects a client to a port and makes the receiving end (the
// client if toClient, else the server) a netFDRecorder; it calls then with
// the sending and receiving ends once both are made.
func unixFDPair(c *C, path string, toClient bool, then func(send *netRecorder, recv *netFDRecorder)) (srv *netServer, cl *netClient, recv **netFDRecorder) {
	c.Helper()
	var r *netFDRecorder
	recv = &r
	srv = &netServer{name: "s"}
	cl = &netClient{netServer: netServer{name: "c"}}
	mk := func(name string) func(net.Addr) gyre.Protocol {
		return func(net.Addr) gyre.Protocol {
			r = &netFDRecorder{netRecorder: &netRecorder{name: name}}
			return r
		}
	}
	if toClient {
		cl.build = mk("client")
	} else {
		srv.build = mk("server")
	}
	netListenUnix(c, path, srv)
	netWhenRunning(c, func() {
		if unixConnectOnLoop(c, path, cl) == nil {
			return
		}
		netUntil(c, "the Unix connection to be made", func() bool {
			sendMade := (toClient && netMade(srv.proto(0))) || (!toClient && netMade(cl.proto(0)))
			return sendMade && r != nil && netMade(r.netRecorder)
		}, func() {
			send := cl.proto(0)
			if toClient {
				send = srv.proto(0)
			}
			then(send, r)
		})
	})
	return srv, cl, recv
}

// unixSend calls SendFDs on p's transport.
func unixSend(c *C, p *netRecorder, fds []int, data string) bool {
	c.Helper()
	ut, ok := p.t.(gyre.UnixTransport)
	if !ok {
		netFail(c, "the transport %T is not a gyre.UnixTransport", p.t)
		return false
	}
	if err := ut.SendFDs(fds, []byte(data)); err != nil {
		netFail(c, "SendFDs: %v", err)
		return false
	}
	return true
}

func unixFDsSocket(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	sp := netSocketpair(c)
	defer netCloseFD(sp[0])
	kept := true
	defer func() {
		if kept {
			netCloseFD(sp[1])
		}
	}()
	var reply string
	var eof bool
	_, _, recv := unixFDPair(c, netSockPath(dir, "s"), false, func(send *netRecorder, r *netFDRecorder) {
		if !unixSend(c, send, []int{sp[1]}, "x") {
			return
		}
		netCloseFD(sp[1]) // the sender may close its copy at once
		kept = false
		netUntil(c, "the descriptor and its byte to arrive", func() bool { return len(r.fds) > 0 && len(r.data) > 0 }, func() {
			if len(r.fds[0]) != 1 {
				netFail(c, "FileDescriptorsReceived got %d descriptors, want 1", len(r.fds[0]))
				return
			}
			if err := netWriteFD(r.fds[0][0], "ping"); err != nil {
				netFail(c, "writing to the received descriptor: %v", err)
				return
			}
			var err error
			reply, _, err = netReadFD(sp[0])
			c.NoErr(err, "reading the other end of the socket pair")
			r.closeFDs()
			_, eof, err = netReadFD(sp[0])
			c.NoErr(err, "reading the other end of the socket pair")
			netStop(c)
		})
	})
	netRun(c)
	r := *recv
	if r == nil {
		return
	}
	c.Equal(reply, "ping", "bytes written to the received descriptor, read from its socket pair")
	c.True(eof, "the socket pair did not close once the received descriptor was closed: the transport kept a copy")
	c.Equal(r.at, []int{0}, "bytes delivered before each FileDescriptorsReceived")
	c.Equal(string(r.data), "x", "bytes sent with the descriptor")
	r.closeFDs()
	netCheckProtos(c, r.netRecorder)
}

func unixFDsPipe(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	pr, pw := netPipe(c)
	defer netCloseFD(pw)
	kept := true
	defer func() {
		if kept {
			netCloseFD(pr)
		}
	}()
	var got string
	_, _, recv := unixFDPair(c, netSockPath(dir, "s"), true, func(send *netRecorder, r *netFDRecorder) {
		if !unixSend(c, send, []int{pr}, "pipe") {
			return
		}
		netCloseFD(pr)
		kept = false
		netUntil(c, "the descriptor and its bytes to arrive", func() bool { return len(r.fds) > 0 && string(r.data) == "pipe" }, func() {
			if err := netWriteFD(pw, "through the pipe"); err != nil {
				netFail(c, "writing to the pipe: %v", err)
				return
			}
			var err error
			got, _, err = netReadFD(r.fds[0][0])
			c.NoErr(err, "reading the received end of the pipe")
			netStop(c)
		})
	})
	netRun(c)
	r := *recv
	if r == nil {
		return
	}
	c.Equal(got, "through the pipe", "bytes read from the received end of the pipe")
	c.Equal(r.at, []int{0}, "bytes delivered before FileDescriptorsReceived")
	r.closeFDs()
	netCheckProtos(c, r.netRecorder)
}

func unixFDsOrder(c *C, toClient bool) {
	dir, rm := netTempDir(c)
	defer rm()
	var pairs [3][2]int
	for i := range pairs {
		pairs[i] = netSocketpair(c)
	}
	defer func() {
		for _, p := range pairs {
			netCloseFD(p[0])
			netCloseFD(p[1])
		}
	}()
	var echoes [3]string
	_, _, recv := unixFDPair(c, netSockPath(dir, "s"), toClient, func(send *netRecorder, r *netFDRecorder) {
		send.write(c, "a")
		if !unixSend(c, send, []int{pairs[0][1]}, "b") {
			return
		}
		send.write(c, "c")
		if !unixSend(c, send, []int{pairs[1][1], pairs[2][1]}, "d") {
			return
		}
		send.write(c, "e")
		netUntil(c, "every byte and descriptor to arrive", func() bool { return string(r.data) == "abcde" && len(r.fds) == 2 }, func() {
			if len(r.fds[0]) != 1 || len(r.fds[1]) != 2 {
				netFail(c, "FileDescriptorsReceived got %d and %d descriptors, want 1 and 2", len(r.fds[0]), len(r.fds[1]))
				return
			}
			all := []int{r.fds[0][0], r.fds[1][0], r.fds[1][1]}
			for i, fd := range all {
				if err := netWriteFD(fd, fmt.Sprintf("fd%d", i)); err != nil {
					netFail(c, "writing to received descriptor %d: %v", i, err)
					return
				}
				var err error
				echoes[i], _, err = netReadFD(pairs[i][0])
				c.NoErr(err, "reading a socket pair")
			}
			netStop(c)
		})
	})
	netRun(c)
	r := *recv
	if r == nil {
		return
	}
	c.Equal(string(r.data), "abcde", "bytes received")
	if len(r.at) == 2 {
		// "b" is byte 1 and "d" byte 3: the first set of descriptors
		// comes before "b", the second after "b" and before "d".
		c.True(r.at[0] <= 1, "the first descriptor came after %d bytes, want it before the byte sent with it (byte 1)", r.at[0])
		c.True(r.at[1] >= 2 && r.at[1] <= 3, "the second set of descriptors came after %d bytes, want 2 or 3", r.at[1])
	}
	c.Equal(echoes, [3]string{"fd0", "fd1", "fd2"}, "bytes written to the received descriptors, read from their pairs (order of the descriptors)")
	r.closeFDs()
	netCheckProtos(c, r.netRecorder)
}

func unixFDsUnwanted(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	sp := netSocketpair(c)
	defer netCloseFD(sp[0])
	kept := true
	defer func() {
		if kept {
			netCloseFD(sp[1])
		}
	}()
	srv := &netServer{}
	eofAtData, checked := false, false
	srv.onProto = func(p *netRecorder) {
		p.onData = func(p *netRecorder, b []byte) {
			if checked {
				return
			}
			checked = true
			_, eof, err := netReadFD(sp[0])
			c.NoErr(err, "reading the other end of the socket pair")
			eofAtData = eof
		}
	}
	netListenUnix(c, path, srv)
	cl := &netClient{}
	unixPair(c, path, srv, cl, func(s, k *netRecorder) {
		if !unixSend(c, k, []int{sp[1]}, "x") {
			return
		}
		netCloseFD(sp[1])
		kept = false
		netStopWhen(c, "the byte sent with the descriptor to arrive", func() bool { return string(s.data) == "x" })
	})
	netRun(c)
	c.True(checked, "no bytes arrived")
	c.True(eofAtData, "when the bytes sent with a descriptor were delivered to a protocol that is not an FDReceiver, the descriptor was still open")
	if s := srv.proto(0); s != nil {
		c.Equal(string(s.data), "x", "bytes received")
	}
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}

// --- Stopped reactor and shutdown ---

func unixStoppedListen(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	netWhenRunning(c, func() { netStop(c) })
	netRun(c)
	srv := &netServer{}
	path := netSockPath(dir, "s")
	p, err := c.Unix.ListenUnix(path, srv)
	c.ErrIs(err, gyre.ErrStopped, "ListenUnix on a stopped reactor")
	if !netNil(p) {
		c.Errorf("ListenUnix on a stopped reactor returned a Port")
		p.StopListening()
	}
	c.True(srv.starts == 0, "ListenUnix on a stopped reactor called StartFactory")
	if _, err := os.Lstat(path); err == nil {
		c.Errorf("ListenUnix on a stopped reactor created the socket file")
	}
}

func unixStoppedConnect(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	rl := netRawListen(c, "unix", path)
	defer rl.close()
	netWhenRunning(c, func() { netStop(c) })
	netRun(c)
	cl := &netClient{}
	cn, err := c.Unix.ConnectUnix(path, cl)
	c.ErrIs(err, gyre.ErrStopped, "ConnectUnix on a stopped reactor")
	if !netNil(cn) {
		c.Errorf("ConnectUnix on a stopped reactor returned a Connector")
		cn.Disconnect()
	}
	c.True(len(cl.started) == 0 && cl.starts == 0, "ConnectUnix on a stopped reactor called the factory")
}

func unixShutdown(c *C) {
	dir, rm := netTempDir(c)
	defer rm()
	path := netSockPath(dir, "s")
	lg := &netLog{}
	srv := &netServer{name: "s", log: lg}
	netListenUnix(c, path, srv)
	cl := &netClient{netServer: netServer{name: "c", log: lg}}
	ran := false
	tcpDuring(c, func() {
		ran = true
		if _, err := os.Lstat(path); !os.IsNotExist(err) {
			c.Errorf("the socket file is still there in a During \"shutdown\" trigger (Lstat: %v)", err)
		}
		for _, p := range []*netRecorder{srv.proto(0), cl.proto(0)} {
			if !netGone(p) {
				c.Errorf("a Unix connection had no ConnectionLost by the users' During \"shutdown\" triggers: %s", lg)
				continue
			}
			netReason(c, p.reason, gyre.ErrConnectionDone, p.name+": ConnectionLost at shutdown")
		}
		c.Equal(len(cl.lost), 1, "ClientConnectionLost calls by the users' During \"shutdown\" triggers")
		c.True(lg.index("c.p0.lost") >= 0 && lg.index("c.p0.lost") < lg.index("c.clientlost"),
			"want ConnectionLost then ClientConnectionLost: %s", lg)
	})
	unixPair(c, path, srv, cl, func(s, k *netRecorder) { netStop(c) })
	netRun(c)
	c.True(ran, "the During \"shutdown\" trigger did not run")
	netCheckProtos(c, append(srv.protos, cl.protos...)...)
}
