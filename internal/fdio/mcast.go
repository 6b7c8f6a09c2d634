//go:build unix

package fdio

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
)

// mcastPort is a UDP port bound with address reuse that can join multicast
// groups. An empty host binds the IPv4 wildcard address; IPv6 groups need an
// IPv6 port ("[::]:port").
type mcastPort struct {
	*dgramPort
}

// ListenMulticast implements gyre.Multicast.
func (n *Net) ListenMulticast(addr string, proto gyre.DatagramProtocol, opts ...gyre.ListenOption) (gyre.MulticastPort, error) {
	dp, err := n.listenUDP(addr, proto, true, false, opts)
	if err != nil {
		return nil, err
	}
	ownGroupsOnly(dp.fd, dp.family)
	mp := &mcastPort{dp}
	dp.self = mp // StartProtocol, still to come, gets the multicast port
	return mp, nil
}

// JoinGroup implements gyre.MulticastPort.
func (p *mcastPort) JoinGroup(group, iface string) error { return p.membership(true, group, iface) }

// LeaveGroup implements gyre.MulticastPort.
func (p *mcastPort) LeaveGroup(group, iface string) error { return p.membership(false, group, iface) }

func (p *mcastPort) membership(join bool, group, iface string) error {
	if p.fd < 0 {
		return errPortStopped
	}
	gip := net.ParseIP(group)
	if gip == nil || !gip.IsMulticast() {
		return fmt.Errorf("%w: %q is not a literal multicast address", gyre.ErrAddress, group)
	}
	if g4 := gip.To4(); g4 != nil {
		if p.family != unix.AF_INET && !p.dual {
			return fmt.Errorf("%w: IPv4 group %s on an IPv6 port", gyre.ErrAddress, group)
		}
		ifa, err := ifaceAddr4(iface)
		if err != nil {
			return err
		}
		mreq := &unix.IPMreq{Interface: ifa}
		copy(mreq.Multiaddr[:], g4)
		opt := unix.IP_ADD_MEMBERSHIP
		if !join {
			opt = unix.IP_DROP_MEMBERSHIP
		}
		return sockopt(unix.SetsockoptIPMreq(p.fd, unix.IPPROTO_IP, opt, mreq))
	}
	if p.family != unix.AF_INET6 {
		return fmt.Errorf("%w: IPv6 group %s on an IPv4 port", gyre.ErrAddress, group)
	}
	idx, err := ifaceIndex(iface)
	if err != nil {
		return err
	}
	mreq := &unix.IPv6Mreq{Interface: uint32(idx)}
	copy(mreq.Multiaddr[:], gip.To16())
	opt := unix.IPV6_JOIN_GROUP
	if !join {
		opt = unix.IPV6_LEAVE_GROUP
	}
	return sockopt(unix.SetsockoptIPv6Mreq(p.fd, unix.IPPROTO_IPV6, opt, mreq))
}

// SetLoopbackMode implements gyre.MulticastPort.
func (p *mcastPort) SetLoopbackMode(on bool) error {
	if p.fd < 0 {
		return errPortStopped
	}
	if p.family == unix.AF_INET6 {
		return sockopt(unix.SetsockoptInt(p.fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, boolInt(on)))
	}
	return sockopt(setIPv4McastOpt(p.fd, unix.IP_MULTICAST_LOOP, boolInt(on)))
}

// SetTTL implements gyre.MulticastPort.
func (p *mcastPort) SetTTL(ttl int) error {
	if p.fd < 0 {
		return errPortStopped
	}
	if ttl < 0 || ttl > 255 {
		return fmt.Errorf("gyre: multicast TTL %d out of range 0-255", ttl)
	}
	if p.family == unix.AF_INET6 {
		return sockopt(unix.SetsockoptInt(p.fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, ttl))
	}
	return sockopt(setIPv4McastOpt(p.fd, unix.IP_MULTICAST_TTL, ttl))
}

// SetOutgoingInterface implements gyre.MulticastPort.
func (p *mcastPort) SetOutgoingInterface(iface string) error {
	if p.fd < 0 {
		return errPortStopped
	}
	if p.family == unix.AF_INET6 {
		idx, err := ifaceIndex(iface)
		if err != nil {
			return err
		}
		return sockopt(unix.SetsockoptInt(p.fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, idx))
	}
	ifa, err := ifaceAddr4(iface)
	if err != nil {
		return err
	}
	return sockopt(unix.SetsockoptInet4Addr(p.fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, ifa))
}

// ifaceAddr4 returns the IPv4 address iface, which must be empty (the
// system's choice of interface) or literal: nothing is looked up.
func ifaceAddr4(iface string) ([4]byte, error) {
	var a [4]byte
	if iface == "" {
		return a, nil
	}
	ip := net.ParseIP(iface)
	if ip == nil {
		return a, fmt.Errorf("%w: interface address %q is not a literal IP address", gyre.ErrAddress, iface)
	}
	ip4 := ip.To4()
	if ip4 == nil {
		return a, fmt.Errorf("%w: interface address %q is not IPv4", gyre.ErrAddress, iface)
	}
	copy(a[:], ip4)
	return a, nil
}

// ifaceIndex returns the index of the interface that owns the literal
// address iface; empty is 0, the system's choice.
func ifaceIndex(iface string) (int, error) {
	if iface == "" {
		return 0, nil
	}
	ip := net.ParseIP(iface)
	if ip == nil {
		return 0, fmt.Errorf("%w: interface address %q is not a literal IP address", gyre.ErrAddress, iface)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return 0, err
	}
	for _, ifi := range ifs {
		addrs, _ := ifi.Addrs()
		for _, ad := range addrs {
			if in, ok := ad.(*net.IPNet); ok && in.IP.Equal(ip) {
				return ifi.Index, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: no interface has address %s", gyre.ErrAddress, iface)
}
