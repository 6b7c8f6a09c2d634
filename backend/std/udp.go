package std

import (
	"context"
	"net"
	"net/netip"

	"github.com/gyre-go/gyre"
)

// ListenUDP implements gyre.UDP.
func (r *Reactor) ListenUDP(addr string, p gyre.DatagramProtocol, opts ...gyre.ListenOption) (gyre.DatagramPort, error) {
	dp, err := r.listenUDP(addr, p, opts, false)
	if err != nil {
		return nil, err
	}
	dp.start()
	return dp, nil
}

// ListenMulticast implements gyre.Multicast.
func (r *Reactor) ListenMulticast(addr string, p gyre.DatagramProtocol, opts ...gyre.ListenOption) (gyre.MulticastPort, error) {
	dp, err := r.listenUDP(addr, p, opts, true)
	if err != nil {
		return nil, err
	}
	mp := &mcastPort{dgramPort: dp}
	dp.mc = mp
	dp.start()
	return mp, nil
}

// listenUDP binds a UDP socket at addr, a literal IP address or an empty
// host (every address, both families where IPv6 is available) and a port.
func (r *Reactor) listenUDP(addr string, p gyre.DatagramProtocol, opts []gyre.ListenOption, mcast bool) (*dgramPort, error) {
	if p == nil {
		return nil, gyre.ErrNilFunc
	}
	if r.down {
		return nil, gyre.ErrStopped
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, addressError(addr, err.Error())
	}
	if _, err := parseUint16(portStr); err != nil {
		return nil, addressError(addr, "bad port")
	}
	network := "udp"
	if host != "" {
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return nil, addressError(addr, "the host must be a literal IP address")
		}
		if ip.Is4() || ip.Is4In6() {
			network = "udp4"
			addr = net.JoinHostPort(ip.Unmap().String(), portStr)
		} else {
			network = "udp6"
		}
	}
	cfg := gyre.ApplyListen(opts...)
	lc := net.ListenConfig{Control: listenControl(cfg)}
	if mcast {
		lc.Control = mcastControl(cfg)
	}
	pc, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, listenError(err)
	}
	fam := famV4
	if la, ok := pc.LocalAddr().(*net.UDPAddr); ok && len(la.IP) == net.IPv6len && la.IP.To4() == nil {
		fam = famV6
		if network == "udp" {
			fam = famDual
		}
	}
	return r.newDgramPort(pc, p, fam), nil
}
