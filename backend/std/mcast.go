package std

import (
	"fmt"
	"net"
	"net/netip"
)

// mcastPort is a UDP port that can join multicast groups. Its socket has
// SO_REUSEADDR (and SO_REUSEPORT where there is one), so that several ports
// may share a port number.
type mcastPort struct {
	*dgramPort
}

// JoinGroup implements gyre.MulticastPort.
func (m *mcastPort) JoinGroup(group, iface string) error { return m.membership(group, iface, true) }

// LeaveGroup implements gyre.MulticastPort.
func (m *mcastPort) LeaveGroup(group, iface string) error { return m.membership(group, iface, false) }

func (m *mcastPort) membership(group, iface string, join bool) error {
	if m.stopped {
		return net.ErrClosed
	}
	g, err := netip.ParseAddr(group)
	if err != nil {
		return addressError(group, "the group must be a literal IP address")
	}
	g = g.Unmap()
	if !g.IsMulticast() {
		return addressError(group, "not a multicast address")
	}
	if err := m.checkFamily(net.IP(g.AsSlice()), group); err != nil {
		return err
	}
	ifc, err := parseIface(iface)
	if err != nil {
		return err
	}
	return m.membershipSys(g, ifc, join)
}

// mcastIface is an interface given by its address (or, failing that, its
// name): the address for IPv4 options, the index for IPv6 ones.
type mcastIface struct {
	addr  netip.Addr // invalid: the default interface
	index int
}

// parseIface resolves iface: "" is the default interface.
func parseIface(iface string) (mcastIface, error) {
	if iface == "" {
		return mcastIface{}, nil
	}
	a, err := netip.ParseAddr(iface)
	if err != nil {
		// An interface name.
		ifi, ierr := net.InterfaceByName(iface)
		if ierr != nil {
			return mcastIface{}, addressError(iface, "neither an IP address nor an interface name")
		}
		out := mcastIface{index: ifi.Index}
		if addrs, err := ifi.Addrs(); err == nil {
			for _, ad := range addrs {
				if ipn, ok := ad.(*net.IPNet); ok {
					if v, ok := netip.AddrFromSlice(ipn.IP); ok && v.Unmap().Is4() {
						out.addr = v.Unmap()
						break
					}
				}
			}
		}
		return out, nil
	}
	a = a.Unmap()
	out := mcastIface{addr: a}
	ifs, err := net.Interfaces()
	if err != nil {
		return out, nil
	}
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, ad := range addrs {
			ipn, ok := ad.(*net.IPNet)
			if !ok {
				continue
			}
			if v, ok := netip.AddrFromSlice(ipn.IP); ok && v.Unmap() == a.WithZone("") {
				out.index = ifi.Index
				return out, nil
			}
		}
	}
	if a.Is6() {
		return out, addressError(iface, "no interface has this address")
	}
	return out, nil
}

// SetLoopbackMode implements gyre.MulticastPort.
func (m *mcastPort) SetLoopbackMode(on bool) error {
	if m.stopped {
		return net.ErrClosed
	}
	return m.loopbackSys(on)
}

// SetTTL implements gyre.MulticastPort.
func (m *mcastPort) SetTTL(ttl int) error {
	if m.stopped {
		return net.ErrClosed
	}
	if ttl < 0 || ttl > 255 {
		return fmt.Errorf("gyre: multicast TTL %d out of range 0-255", ttl)
	}
	return m.ttlSys(ttl)
}

// SetOutgoingInterface implements gyre.MulticastPort.
func (m *mcastPort) SetOutgoingInterface(iface string) error {
	if m.stopped {
		return net.ErrClosed
	}
	ifc, err := parseIface(iface)
	if err != nil {
		return err
	}
	return m.outIfaceSys(ifc)
}
