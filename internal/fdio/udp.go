//go:build unix

package fdio

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
)

// ListenUDP implements gyre.UDP. An empty host binds every address, of both
// families where IPv6 is available (a dual-stack socket).
func (n *Net) ListenUDP(addr string, p gyre.DatagramProtocol, opts ...gyre.ListenOption) (gyre.DatagramPort, error) {
	dp, err := n.listenUDP(addr, p, false, true, opts)
	if err != nil {
		return nil, err
	}
	return dp, nil
}

// listenUDP binds a UDP socket; reuse sets SO_REUSEADDR and SO_REUSEPORT
// (multicast), dualAny makes an empty host a dual-stack socket rather than
// an IPv4 one.
func (n *Net) listenUDP(addr string, proto gyre.DatagramProtocol, reuse, dualAny bool, opts []gyre.ListenOption) (*dgramPort, error) {
	if n.stopped {
		return nil, gyre.ErrStopped
	}
	if proto == nil {
		return nil, gyre.ErrNilFunc
	}
	cfg := gyre.ApplyListen(opts...)
	ip, zone, portNum, err := splitLiteral(addr)
	if err != nil {
		return nil, err
	}
	var fd, family int
	dual := false
	switch {
	case ip == nil && dualAny:
		family, dual = unix.AF_INET6, true
		fd, err = bindUDP(&unix.SockaddrInet6{Port: portNum}, family, cfg, reuse, true)
		if errors.Is(err, unix.EAFNOSUPPORT) {
			family, dual = unix.AF_INET, false
			fd, err = bindUDP(&unix.SockaddrInet4{Port: portNum}, family, cfg, reuse, false)
		}
	case ip == nil:
		family = unix.AF_INET
		fd, err = bindUDP(&unix.SockaddrInet4{Port: portNum}, family, cfg, reuse, false)
	default:
		var sa unix.Sockaddr
		sa, family = tcpSockaddr(ip, portNum, zone)
		fd, err = bindUDP(sa, family, cfg, reuse, false)
	}
	if err != nil {
		return nil, err
	}
	dp, err := n.newDgramPort(fd, family, dual, proto)
	if err != nil {
		return nil, err
	}
	if err := n.startDgram(dp); err != nil {
		return nil, err
	}
	return dp, nil
}

func bindUDP(sa unix.Sockaddr, family int, cfg gyre.ListenConfig, reuse, dual bool) (int, error) {
	fd, err := dgramSocket(family)
	if err != nil {
		return -1, err
	}
	fail := func(op string, err error) (int, error) {
		unix.Close(fd)
		return -1, os.NewSyscallError(op, err)
	}
	if reuse {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if cfg.ReusePort || reuse {
		// Multicast ports share the port number with SO_REUSEADDR alone
		// where SO_REUSEPORT is missing.
		if err := setReusePort(fd); err == gyre.ErrNotSupported {
			if cfg.ReusePort {
				unix.Close(fd)
				return -1, err
			}
		} else if err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := bindInet(fd, sa, family, dual); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
