//go:build unix

package fdio

import (
	"context"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
)

type connState uint8

const (
	stateIdle connState = iota
	stateResolving
	stateConnecting
	stateConnected
	stateCancelled // StopConnecting: the failure is yet to be reported
)

// connector makes outgoing connections, one attempt at a time.
type connector struct {
	n       *Net
	isUnix  bool
	addr    string
	f       gyre.ClientFactory
	cfg     gyre.ConnectConfig
	state   connState
	attempt uint64 // counts attempts, to ignore late results of old ones
	fd      int
	dest    net.Addr
	targets []unix.Sockaddr // addresses still to try in this attempt
	lastErr error
	timer   gyre.DelayedCall
	cancel  context.CancelFunc // of a lookup under way
	active  bool               // counted in the factory's users
	conn    *conn              // the connection, while it is up
}

// ConnectTCP implements gyre.TCP.
func (n *Net) ConnectTCP(addr string, f gyre.ClientFactory, opts ...gyre.ConnectOption) (gyre.Connector, error) {
	return n.connect(false, addr, f, opts)
}

// ConnectUnix implements gyre.Unix.
func (n *Net) ConnectUnix(path string, f gyre.ClientFactory, opts ...gyre.ConnectOption) (gyre.Connector, error) {
	return n.connect(true, path, f, opts)
}

func (n *Net) connect(isUnix bool, addr string, f gyre.ClientFactory, opts []gyre.ConnectOption) (gyre.Connector, error) {
	if n.stopped {
		return nil, gyre.ErrStopped
	}
	if f == nil {
		return nil, gyre.ErrNilFunc
	}
	c := &connector{n: n, isUnix: isUnix, addr: addr, f: f, cfg: gyre.ApplyConnect(opts...), fd: -1}
	if isUnix {
		if addr == "" {
			return nil, fmt.Errorf("%w: empty socket path", gyre.ErrAddress)
		}
		c.dest = &net.UnixAddr{Name: addr, Net: "unix"}
	} else {
		_, ps, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", gyre.ErrAddress, err)
		}
		if _, err := parsePort(ps); err != nil {
			return nil, err
		}
	}
	if err := c.Connect(); err != nil {
		return nil, err
	}
	return c, nil
}

// Connect implements gyre.Connector.
func (c *connector) Connect() error {
	if c.state != stateIdle {
		return gyre.ErrAlreadyConnecting
	}
	if c.n.stopped {
		return gyre.ErrStopped
	}
	c.attempt++
	c.lastErr = nil
	if !c.active {
		c.active = true
		c.n.connectors[c] = struct{}{}
		c.n.startFactory(c.f)
	}
	c.state = stateResolving
	attempt := c.attempt
	c.n.l.Call(func() { c.f.StartedConnecting(c) })
	if c.state != stateResolving || c.attempt != attempt {
		return nil // StartedConnecting stopped it
	}
	if dc, err := c.n.l.CallLater(c.cfg.Timeout, func() {
		if c.attempt == attempt && (c.state == stateResolving || c.state == stateConnecting) {
			c.timer = nil
			c.fail(fmt.Errorf("%w after %v", gyre.ErrTimeout, c.cfg.Timeout))
		}
	}); err == nil {
		c.timer = dc
	}
	if c.isUnix {
		c.targets = []unix.Sockaddr{&unix.SockaddrUnix{Name: c.addr}}
		c.startLater(attempt)
		return nil
	}
	host, ps, _ := net.SplitHostPort(c.addr)
	portNum, err := parsePort(ps)
	if err != nil {
		c.failLater(attempt, err)
		return nil
	}
	if ip := net.ParseIP(host); ip != nil || host == "" {
		if ip == nil {
			ip = net.IPv4(127, 0, 0, 1)
		}
		sa, _ := tcpSockaddr(ip, portNum, "")
		c.targets = []unix.Sockaddr{sa}
		c.dest = sockaddrToAddr(sa, false)
		c.startLater(attempt)
		return nil
	}
	c.resolve(attempt, host, portNum)
	return nil
}

// startLater begins connecting on a later pass, so that even an immediate
// failure is never reported inside Connect.
func (c *connector) startLater(attempt uint64) {
	if err := c.n.l.CallFromThread(func() {
		if c.attempt == attempt && c.state == stateResolving {
			c.state = stateConnecting
			c.tryNext()
		}
	}); err != nil {
		c.failLater(attempt, err)
	}
}

func (c *connector) failLater(attempt uint64, reason error) {
	_ = c.n.l.CallFromThread(func() {
		if c.attempt == attempt && c.state != stateIdle && c.state != stateConnected {
			c.fail(reason)
		}
	})
}

// resolve looks the host up off the loop.
func (c *connector) resolve(attempt uint64, host string, portNum int) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	c.cancel = cancel
	l := c.n.l
	go func() {
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		cancel()
		_ = l.CallFromThread(func() {
			if c.attempt != attempt || c.state != stateResolving {
				return
			}
			c.cancel = nil
			if err != nil {
				c.fail(fmt.Errorf("%w: %w", gyre.ErrDNSLookup, err))
				return
			}
			c.targets = c.targets[:0]
			for _, ip := range ips {
				sa, _ := tcpSockaddr(ip.IP, portNum, ip.Zone)
				c.targets = append(c.targets, sa)
			}
			if len(c.targets) == 0 {
				c.fail(fmt.Errorf("%w: %s has no addresses", gyre.ErrDNSLookup, host))
				return
			}
			c.state = stateConnecting
			c.tryNext()
		})
	}()
}

// tryNext starts a non-blocking connect to the next address, or fails the
// attempt with the last error once none is left.
func (c *connector) tryNext() {
	for len(c.targets) > 0 {
		sa := c.targets[0]
		c.targets = c.targets[1:]
		c.dest = sockaddrToAddr(sa, c.isUnix)
		if err := c.dial(sa); err != nil {
			c.lastErr = err
			continue
		}
		return
	}
	reason := c.lastErr
	if reason == nil {
		reason = gyre.ErrConnectionRefused
	}
	c.fail(reason)
}

func (c *connector) dial(sa unix.Sockaddr) error {
	family := unix.AF_UNIX
	switch sa.(type) {
	case *unix.SockaddrInet4:
		family = unix.AF_INET
	case *unix.SockaddrInet6:
		family = unix.AF_INET6
	}
	fd, err := socket(family, unix.SOCK_STREAM)
	if err != nil {
		return fmt.Errorf("%w: %w", gyre.ErrConnectionLost, os.NewSyscallError("socket", err))
	}
	if c.cfg.BindAddr != "" {
		if err := c.bind(fd, family); err != nil {
			unix.Close(fd)
			return err
		}
	}
	err = unix.Connect(fd, sa)
	if err != nil && err != unix.EINPROGRESS && err != unix.EAGAIN && err != unix.EINTR {
		unix.Close(fd)
		return connectErr(err)
	}
	if err := c.n.p.Add(fd, c, Out); err != nil {
		unix.Close(fd)
		return err
	}
	c.fd = fd
	return nil
}

func (c *connector) bind(fd, family int) error {
	var sa unix.Sockaddr
	if family == unix.AF_UNIX {
		sa = &unix.SockaddrUnix{Name: c.cfg.BindAddr}
	} else {
		ip, zone, portNum, err := splitLiteral(c.cfg.BindAddr)
		if err != nil {
			return fmt.Errorf("%w: %w", gyre.ErrBind, err)
		}
		if ip == nil {
			ip = net.IPv4zero
			if family == unix.AF_INET6 {
				ip = net.IPv6unspecified
			}
		}
		sa, _ = tcpSockaddr(ip, portNum, zone)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("%w: %w", gyre.ErrBind, os.NewSyscallError("bind", err))
	}
	return nil
}

// Ready implements Handler: the connect has finished, one way or the other.
func (c *connector) Ready(Interest) {
	if c.state != stateConnecting || c.fd < 0 {
		return
	}
	fd := c.fd
	soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soerr != 0 {
		err = unix.Errno(soerr)
	}
	c.n.p.Remove(fd)
	c.fd = -1
	if err != nil {
		unix.Close(fd)
		c.lastErr = connectErr(err)
		c.tryNext()
		return
	}
	c.connected(fd)
}

func (c *connector) connected(fd int) {
	c.stopTimer()
	n := c.n
	if !c.isUnix {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if sa, err := unix.Getpeername(fd); err == nil {
			c.dest = sockaddrToAddr(sa, false)
		}
	}
	var proto gyre.Protocol
	n.l.Call(func() { proto = c.f.BuildProtocol(c.dest) })
	if proto == nil {
		unix.Close(fd)
		c.fail(fmt.Errorf("%w: BuildProtocol returned nil", gyre.ErrUserCancelled))
		return
	}
	c.state = stateConnected
	conn, t := n.newConn(fd, c.isUnix)
	conn.client = c
	c.conn = conn
	if err := conn.start(proto, t); err != nil {
		c.conn = nil
		unix.Close(fd)
		c.state = stateConnecting
		c.fail(err)
	}
}

func (c *connector) stopTimer() {
	if c.timer != nil {
		c.timer.Cancel()
		c.timer = nil
	}
}

// cancel ends the attempt at once and tells the factory on a later pass:
// StopConnecting and Disconnect never call back into the caller.
func (c *connector) cancelAttempt() {
	c.abandon()
	c.state = stateCancelled
	attempt := c.attempt
	if err := c.n.l.CallFromThread(func() {
		if c.attempt == attempt && c.state == stateCancelled {
			c.fail(gyre.ErrUserCancelled)
		}
	}); err != nil {
		c.fail(gyre.ErrUserCancelled)
	}
}

// abandon releases what an attempt holds.
func (c *connector) abandon() {
	c.stopTimer()
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
	if c.fd >= 0 {
		c.n.p.Remove(c.fd)
		unix.Close(c.fd)
		c.fd = -1
	}
	c.targets = nil
}

// fail ends the attempt and tells the factory.
func (c *connector) fail(reason error) {
	c.abandon()
	c.state = stateIdle
	attempt := c.attempt
	c.n.l.Call(func() { c.f.ClientConnectionFailed(c, reason) })
	c.settle(attempt)
}

// connectionLost is called by the connection after its protocol heard.
func (c *connector) connectionLost(reason error) {
	c.state = stateIdle
	c.conn = nil
	attempt := c.attempt
	c.n.l.Call(func() { c.f.ClientConnectionLost(c, reason) })
	c.settle(attempt)
}

// settle stops counting the connector as a user of its factory unless the
// callback just made has started a new attempt.
func (c *connector) settle(attempt uint64) {
	if c.attempt == attempt && c.state == stateIdle && c.active {
		c.active = false
		delete(c.n.connectors, c)
		c.n.stopFactory(c.f)
	}
}

// StopConnecting implements gyre.Connector.
func (c *connector) StopConnecting() error {
	if c.state != stateResolving && c.state != stateConnecting {
		return gyre.ErrNotConnecting
	}
	c.cancelAttempt()
	return nil
}

// Disconnect implements gyre.Connector.
func (c *connector) Disconnect() {
	switch c.state {
	case stateResolving, stateConnecting:
		c.cancelAttempt()
	case stateConnected:
		if c.conn != nil {
			c.conn.LoseConnection()
		}
	}
}

// Destination implements gyre.Connector.
func (c *connector) Destination() net.Addr { return c.dest }
