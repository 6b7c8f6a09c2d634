//go:build unix

package fdio

import (
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
)

func stack() string { return string(debug.Stack()) }

// sockaddrToAddr converts a socket address to a net.Addr.
func sockaddrToAddr(sa unix.Sockaddr, isUnix bool) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3]), Port: a.Port}
	case *unix.SockaddrInet6:
		ip := make(net.IP, net.IPv6len)
		copy(ip, a.Addr[:])
		var zone string
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			} else {
				zone = strconv.Itoa(int(a.ZoneId))
			}
		}
		return &net.TCPAddr{IP: ip, Port: a.Port, Zone: zone}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	if isUnix {
		return &net.UnixAddr{Net: "unix"}
	}
	return nil
}

// tcpSockaddr converts an IP and port to a socket address and its family.
func tcpSockaddr(ip net.IP, port int, zone string) (unix.Sockaddr, int) {
	if ip4 := ip.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: port}
		copy(sa.Addr[:], ip4)
		return sa, unix.AF_INET
	}
	sa := &unix.SockaddrInet6{Port: port}
	copy(sa.Addr[:], ip.To16())
	if zone != "" {
		if ifi, err := net.InterfaceByName(zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		} else if n, err := strconv.Atoi(zone); err == nil {
			sa.ZoneId = uint32(n)
		}
	}
	return sa, unix.AF_INET6
}

// splitLiteral parses "host:port" where host must be empty or a literal IP.
func splitLiteral(addr string) (ip net.IP, zone string, port int, err error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", 0, fmt.Errorf("%w: %w", gyre.ErrAddress, err)
	}
	port, err = parsePort(ps)
	if err != nil {
		return nil, "", 0, err
	}
	if host == "" {
		return nil, "", port, nil
	}
	h, z := host, ""
	for i := 0; i < len(host); i++ {
		if host[i] == '%' {
			h, z = host[:i], host[i+1:]
			break
		}
	}
	ip = net.ParseIP(h)
	if ip == nil {
		return nil, "", 0, fmt.Errorf("%w: %q is not a literal IP address (no lookup is done here)", gyre.ErrAddress, host)
	}
	return ip, z, port, nil
}

func parsePort(ps string) (int, error) {
	port, err := net.LookupPort("tcp", ps)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", gyre.ErrAddress, err)
	}
	return port, nil
}

// bindInet binds an IP socket to sa. An IPv6 socket takes IPv4 peers too
// when dual is set, and only IPv6 ones otherwise.
func bindInet(fd int, sa unix.Sockaddr, family int, dual bool) error {
	if family == unix.AF_INET6 {
		v6only := 1
		if dual {
			v6only = 0
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("%w: %w", gyre.ErrBind, os.NewSyscallError("bind", err))
	}
	return nil
}
