package std

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"

	"github.com/gyre-go/gyre"
)

var errNilFactory = errors.New("gyre: nil factory")

// ListenTCP implements gyre.TCP.
func (r *Reactor) ListenTCP(addr string, f gyre.Factory, opts ...gyre.ListenOption) (gyre.Port, error) {
	if f == nil {
		return nil, errNilFactory
	}
	if r.down {
		return nil, gyre.ErrStopped
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, addressError(addr, err.Error())
	}
	if !validPort(portStr) {
		return nil, addressError(addr, "bad port")
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return nil, addressError(addr, "the host must be a literal IP address")
		}
	}
	cfg := gyre.ApplyListen(opts...)
	lc := net.ListenConfig{Control: listenControl(cfg)}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, listenError(err)
	}
	if err := setBacklog(ln, cfg.Backlog); err != nil {
		_ = ln.Close()
		return nil, listenError(err)
	}
	return r.startPort(ln, f), nil
}

// ConnectTCP implements gyre.TCP.
func (r *Reactor) ConnectTCP(addr string, f gyre.ClientFactory, opts ...gyre.ConnectOption) (gyre.Connector, error) {
	if f == nil {
		return nil, errNilFactory
	}
	if r.down {
		return nil, gyre.ErrStopped
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, addressError(addr, err.Error())
	}
	if host == "" || !validPort(portStr) {
		return nil, addressError(addr, "want host:port")
	}
	var dest net.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		if port, err := strconv.ParseUint(portStr, 10, 16); err == nil {
			dest = net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port)))
		}
	}
	c := r.newConnector("tcp", addr, dest, f, opts)
	c.begin()
	return c, nil
}

// validPort accepts a port number from 0 to 65535, or a service name such
// as "http" (looked up in the services database when the socket is made).
func validPort(s string) bool {
	if s == "" {
		return false
	}
	if s[0] >= '0' && s[0] <= '9' {
		_, err := strconv.ParseUint(s, 10, 16)
		return err == nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' && i > 0) {
			return false
		}
	}
	return true
}
