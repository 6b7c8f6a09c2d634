//go:build unix

package fdio

import (
	"errors"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// acceptBatch bounds the connections one readiness event accepts, so that a
// flood of connections cannot starve the rest of the loop.
const acceptBatch = 64

// port is a listening socket.
type port struct {
	n      *Net
	fd     int
	f      gyre.Factory
	addr   net.Addr
	isUnix bool
	file   sockFile // the socket file we created, removed when we stop
	closed *deferred.Deferred
	paused gyre.DelayedCall // accepting paused after a resource error
	warned bool             // logged the descriptor-limit episode
}

// ListenTCP implements gyre.TCP.
func (n *Net) ListenTCP(addr string, f gyre.Factory, opts ...gyre.ListenOption) (gyre.Port, error) {
	if n.stopped {
		return nil, gyre.ErrStopped
	}
	if f == nil {
		return nil, gyre.ErrNilFunc
	}
	cfg := gyre.ApplyListen(opts...)
	ip, zone, portNum, err := splitLiteral(addr)
	if err != nil {
		return nil, err
	}
	var fd int
	if ip == nil {
		// No host: every address, both families where IPv6 is available.
		fd, err = listenSocket(&unix.SockaddrInet6{Port: portNum}, unix.AF_INET6, cfg, true)
		if errors.Is(err, unix.EAFNOSUPPORT) {
			fd, err = listenSocket(&unix.SockaddrInet4{Port: portNum}, unix.AF_INET, cfg, false)
		}
	} else {
		sa, family := tcpSockaddr(ip, portNum, zone)
		fd, err = listenSocket(sa, family, cfg, false)
	}
	if err != nil {
		return nil, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("getsockname", err)
	}
	return n.startPort(&port{n: n, fd: fd, f: f, addr: sockaddrToAddr(sa, false)})
}

func listenSocket(sa unix.Sockaddr, family int, cfg gyre.ListenConfig, dual bool) (int, error) {
	fd, err := socket(family, unix.SOCK_STREAM)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	fail := func(op string, err error) (int, error) {
		unix.Close(fd)
		return -1, os.NewSyscallError(op, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if cfg.ReusePort {
		if err := setReusePort(fd); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := bindInet(fd, sa, family, dual); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Listen(fd, backlog(cfg)); err != nil {
		return fail("listen", err)
	}
	return fd, nil
}

func backlog(cfg gyre.ListenConfig) int {
	if cfg.Backlog > 0 {
		return cfg.Backlog
	}
	return 4096 // the kernel caps it at its own maximum
}

// ListenUnix implements gyre.Unix.
func (n *Net) ListenUnix(path string, f gyre.Factory, opts ...gyre.ListenOption) (gyre.Port, error) {
	if n.stopped {
		return nil, gyre.ErrStopped
	}
	if f == nil {
		return nil, gyre.ErrNilFunc
	}
	cfg := gyre.ApplyListen(opts...)
	fd, err := socket(unix.AF_UNIX, unix.SOCK_STREAM)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	file, err := bindUnix(fd, path, cfg.Mode)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	p := &port{n: n, fd: fd, f: f, isUnix: true, addr: &net.UnixAddr{Name: path, Net: "unix"}, file: file}
	if err := unix.Listen(fd, backlog(cfg)); err != nil {
		p.file.remove()
		unix.Close(fd)
		return nil, os.NewSyscallError("listen", err)
	}
	return n.startPort(p)
}

func (n *Net) startPort(p *port) (gyre.Port, error) {
	if err := n.p.Add(p.fd, p, In); err != nil {
		p.file.remove()
		unix.Close(p.fd)
		return nil, err
	}
	n.ensureReserve()
	n.ports[p] = struct{}{}
	n.startFactory(p.f)
	return p, nil
}

// Addr implements gyre.Port.
func (p *port) Addr() net.Addr { return p.addr }

// StopListening implements gyre.Port.
func (p *port) StopListening() *deferred.Deferred {
	if p.closed != nil {
		return follow(p.closed)
	}
	p.closed = deferred.New(nil)
	if p.paused != nil {
		p.paused.Cancel()
		p.paused = nil
	}
	p.n.p.Remove(p.fd)
	unix.Close(p.fd)
	p.fd = -1
	p.file.remove()
	delete(p.n.ports, p)
	p.n.stopFactory(p.f)
	d := p.closed
	// Fire on a later pass, like every other completion.
	if err := p.n.l.CallFromThread(func() { d.Callback(nil) }); err != nil {
		d.Callback(nil)
	}
	return d
}

// Ready implements Handler: accept what is waiting.
func (p *port) Ready(Interest) {
	for i := 0; i < acceptBatch && p.fd >= 0; i++ {
		fd, remote, err := accept(p.fd, p.isUnix)
		switch err {
		case nil:
		case unix.EAGAIN:
			return
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EMFILE, unix.ENFILE:
			p.shedLoad(err)
			return
		default:
			p.n.l.Logger().Error("gyre: accept failed", "addr", p.addr.String(), "err", err)
			p.pause(100 * time.Millisecond)
			return
		}
		p.warned = false
		p.accept(fd, remote)
	}
}

// shedLoad handles the descriptor limit: the waiting peers are accepted with
// the reserved descriptor and closed at once, so they are told rather than
// left hanging, and the loop does not spin on a listener it cannot serve.
func (p *port) shedLoad(err error) {
	if !p.warned {
		p.warned = true
		p.n.l.Logger().Warn("gyre: descriptor limit reached; refusing connections until descriptors free up",
			"addr", p.addr.String(), "err", err)
	}
	n := p.n
	for n.reserve >= 0 {
		unix.Close(n.reserve)
		n.reserve = -1
		fd, _, aerr := accept(p.fd, p.isUnix)
		if aerr == nil {
			unix.Close(fd)
		}
		n.ensureReserve()
		if aerr != nil {
			if aerr == unix.EAGAIN {
				return // nobody else is waiting
			}
			break
		}
	}
	// No reserve to shed with: stop watching for a while.
	p.pause(100 * time.Millisecond)
}

// pause stops accepting for d.
func (p *port) pause(d time.Duration) {
	if p.paused != nil || p.fd < 0 {
		return
	}
	p.n.p.Modify(p.fd, 0)
	dc, err := p.n.l.CallLater(d, func() {
		p.paused = nil
		if p.fd >= 0 {
			p.n.p.Modify(p.fd, In)
		}
	})
	if err == nil {
		p.paused = dc
	}
}

func (p *port) accept(fd int, remote net.Addr) {
	n := p.n
	if !p.isUnix {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	var proto gyre.Protocol
	n.l.Call(func() { proto = p.f.BuildProtocol(remote) })
	if proto == nil {
		unix.Close(fd)
		return
	}
	c, t := n.newConn(fd, p.isUnix)
	if err := c.start(proto, t); err != nil {
		unix.Close(fd)
		n.l.Logger().Error("gyre: registering a connection", "err", err)
	}
}

// follow returns a new Deferred that fires with nil once d has fired: what
// a second StopListening gets.
func follow(d *deferred.Deferred) *deferred.Deferred {
	f := deferred.New(nil)
	d.AddBoth(func(v any) any {
		f.Callback(nil)
		return v
	})
	return f
}
