//go:build unix

package std

import (
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
)

// mcastControl returns the Control function of a multicast socket:
// SO_REUSEADDR, and SO_REUSEPORT where the system has it.
func mcastControl(cfg gyre.ListenConfig) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			if serr == nil {
				serr = setReusePortMC(int(fd))
			}
		}); err != nil {
			return err
		}
		if serr != nil {
			return os.NewSyscallError("setsockopt", serr)
		}
		return nil
	}
}

// control runs f on the socket's descriptor and returns its error.
func (m *mcastPort) control(f func(fd int) error) error {
	if m.rc == nil {
		return gyre.ErrNotSupported
	}
	var serr error
	if err := m.rc.Control(func(fd uintptr) { serr = f(int(fd)) }); err != nil {
		return err
	}
	if serr != nil {
		return os.NewSyscallError("setsockopt", serr)
	}
	return nil
}

func (m *mcastPort) membershipSys(g netip.Addr, ifc mcastIface, join bool) error {
	if g.Is4() {
		mreq := &unix.IPMreq{Multiaddr: g.As4()}
		if ifc.addr.Is4() {
			mreq.Interface = ifc.addr.As4()
		}
		opt := unix.IP_ADD_MEMBERSHIP
		if !join {
			opt = unix.IP_DROP_MEMBERSHIP
		}
		return m.control(func(fd int) error { return unix.SetsockoptIPMreq(fd, unix.IPPROTO_IP, opt, mreq) })
	}
	mreq := &unix.IPv6Mreq{Multiaddr: g.As16(), Interface: uint32(ifc.index)}
	opt := unix.IPV6_JOIN_GROUP
	if !join {
		opt = unix.IPV6_LEAVE_GROUP
	}
	return m.control(func(fd int) error { return unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, opt, mreq) })
}

// v4, v6 tell which levels' options apply to the socket; a dual-stack one
// takes both.
func (m *mcastPort) v4() bool { return m.fam == famV4 || m.fam == famDual }
func (m *mcastPort) v6() bool { return m.fam == famV6 || m.fam == famDual }

// both sets an option at the IPv4 and the IPv6 level, as the socket's family
// allows. On a dual-stack socket the IPv6 level decides the error.
func (m *mcastPort) both(set4, set6 func(fd int) error) error {
	var err4, err6 error
	if m.v4() {
		err4 = m.control(set4)
	}
	if m.v6() {
		err6 = m.control(set6)
		return err6
	}
	return err4
}

func (m *mcastPort) loopbackSys(on bool) error {
	v := boolInt(on)
	return m.both(
		func(fd int) error { return unix.SetsockoptByte(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, byte(v)) },
		func(fd int) error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, v) })
}

func (m *mcastPort) ttlSys(ttl int) error {
	return m.both(
		func(fd int) error { return unix.SetsockoptByte(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, byte(ttl)) },
		func(fd int) error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, ttl) })
}

func (m *mcastPort) outIfaceSys(ifc mcastIface) error {
	if ifc.addr.Is6() {
		if !m.v6() {
			return addressError(ifc.addr.String(), "an IPv6 interface for an IPv4 socket")
		}
		return m.control(func(fd int) error {
			return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifc.index)
		})
	}
	var a [4]byte
	if ifc.addr.Is4() {
		a = ifc.addr.As4()
	}
	set4 := func(fd int) error { return unix.SetsockoptInet4Addr(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, a) }
	if m.fam == famV6 {
		return m.control(func(fd int) error {
			return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifc.index)
		})
	}
	if m.fam == famDual && !ifc.addr.IsValid() {
		_ = m.control(func(fd int) error {
			return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifc.index)
		})
	}
	return m.control(set4)
}
