//go:build unix

package fdio

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// Datagram ports (UDP, multicast UDP and Unix datagram sockets).
//
// A port reads in batches of up to dgramBatch datagrams per readiness event
// (one recvmmsg call on Linux, a loop of recvmsg elsewhere), so that a burst
// is not handled one datagram per pass of the loop, and one busy port cannot
// starve the others. The datagrams are read into buffers shared by every
// port of the loop; the only allocation per datagram received is the
// sender's address handed to DatagramReceived, which is never reused since
// a protocol may keep it.
//
// MaxDatagramSize is 65507 bytes for IPv4 UDP and 65527 for IPv6 UDP (a
// dual-stack socket sending to an IPv4 peer is held to 65507). For Unix
// datagram sockets it is 65536 bytes, the size of a receive slot, or less if
// the system's send buffer cannot be raised to hold that much.

const (
	dgramBatch = 64       // datagrams read per readiness event
	dgramSlot  = 64 << 10 // the largest datagram a read takes whole

	maxUDP4 = 65507 // 65535 - 20 (IPv4 header) - 8 (UDP header)
	maxUDP6 = 65527 // 65535 - 8 (UDP header)
)

// dgramSet is the datagram state of one Net: its live ports and the shared
// receive buffers.
type dgramSet struct {
	ports map[*dgramPort]struct{}
	bufs  *dgramBufs // platform receive buffers, allocated on first read
}

func (n *Net) dgramState() *dgramSet {
	if n.dgram == nil {
		n.dgram = &dgramSet{ports: make(map[*dgramPort]struct{})}
	}
	return n.dgram
}

// shutdownDatagrams stops every datagram port; each protocol hears
// StopProtocol before shutdown goes on to the users' triggers.
func (n *Net) shutdownDatagrams() {
	if n.dgram == nil {
		return
	}
	var ps []*dgramPort
	for p := range n.dgram.ports {
		ps = append(ps, p)
	}
	for _, p := range ps {
		p.StopListening()
	}
	for _, p := range ps {
		p.finish()
		if !p.closed.Called() {
			p.closed.Callback(nil)
		}
	}
}

// dgramPort is a bound datagram socket; it is the Handler registered for
// its descriptor.
type dgramPort struct {
	n      *Net
	fd     int
	family int  // AF_INET, AF_INET6 or AF_UNIX
	dual   bool // an AF_INET6 socket that also takes IPv4 peers
	self   gyre.DatagramPort
	proto  gyre.DatagramProtocol
	local  net.Addr
	peer   net.Addr // set by Connect
	max    int      // MaxDatagramSize

	file sockFile // the Unix socket file we created, removed when we stop

	started bool // StartProtocol has been called
	stopped bool // StopProtocol has been called
	closed  *deferred.Deferred
	warned  bool // logged a truncated datagram

	// Socket addresses reused for sends, so that a write allocates nothing.
	sa4  unix.SockaddrInet4
	sa6  unix.SockaddrInet6
	saUn *unix.SockaddrUnix
}

// startDgram registers a bound socket and arranges for StartProtocol to be
// called on a later callback; reads begin after it.
func (n *Net) startDgram(p *dgramPort) error {
	if err := n.p.Add(p.fd, p, 0); err != nil {
		p.file.remove()
		unix.Close(p.fd)
		return err
	}
	if bp, ok := n.p.(BusyPoller); ok {
		bp.MarkBusy(p.fd)
	}
	if err := n.l.CallFromThread(p.start); err != nil {
		n.p.Remove(p.fd)
		p.file.remove()
		unix.Close(p.fd)
		return err
	}
	n.dgramState().ports[p] = struct{}{}
	return nil
}

func (p *dgramPort) start() {
	if p.started {
		return
	}
	p.started = true
	p.n.l.Call(func() { p.proto.StartProtocol(p.self) })
	if p.fd >= 0 {
		if err := p.n.p.Modify(p.fd, In); err != nil {
			p.n.l.Logger().Error("gyre: watching a datagram port", "addr", p.local.String(), "err", err)
		}
	}
}

// finish tells the protocol that the port has stopped, once.
func (p *dgramPort) finish() {
	if p.stopped {
		return
	}
	p.start()
	p.stopped = true
	if p.n.dgram != nil {
		delete(p.n.dgram.ports, p)
	}
	p.n.l.Call(p.proto.StopProtocol)
}

// StopListening implements gyre.DatagramPort.
func (p *dgramPort) StopListening() *deferred.Deferred {
	if p.closed != nil {
		return follow(p.closed)
	}
	p.closed = deferred.New(nil)
	p.n.p.Remove(p.fd)
	unix.Close(p.fd)
	p.fd = -1
	p.file.remove()
	d := p.closed
	done := func() {
		p.finish()
		if !d.Called() {
			d.Callback(nil)
		}
	}
	if err := p.n.l.CallFromThread(done); err != nil {
		done()
	}
	return d
}

// Ready implements Handler.
func (p *dgramPort) Ready(ev Interest) {
	if ev&In != 0 && p.fd >= 0 {
		p.n.readDatagrams(p)
	}
}

// deliver hands one datagram to the protocol; a panic is logged and the
// port goes on.
func (p *dgramPort) deliver(data []byte, addr net.Addr) {
	p.n.l.Call(func() { p.proto.DatagramReceived(data, addr) })
}

// truncated notes a datagram too large for a receive slot: it is dropped.
func (p *dgramPort) truncated() {
	if !p.warned {
		p.warned = true
		p.n.l.Logger().Warn("gyre: dropped a datagram larger than the receive buffer",
			"addr", p.local.String(), "limit", dgramSlot)
	}
}

// refused reports an ICMP port-unreachable (or a closed Unix peer) on a
// connected port to a protocol that wants to hear it.
func (p *dgramPort) refused() {
	if p.stopped || p.peer == nil {
		return
	}
	if rp, ok := p.proto.(gyre.ConnectionRefusedProtocol); ok {
		p.n.l.Call(rp.ConnectionRefused)
	}
}

// readError handles an error from a read other than EAGAIN and EINTR.
func (p *dgramPort) readError(op string, err error) {
	if err == unix.ECONNREFUSED {
		p.refused()
		return
	}
	if err == unix.ECONNRESET || err == unix.EHOSTUNREACH || err == unix.ENETUNREACH || err == unix.EHOSTDOWN {
		return // ICMP noise about an earlier send: datagrams may be lost
	}
	p.n.l.Logger().Warn("gyre: datagram read failed", "addr", p.local.String(), "err", os.NewSyscallError(op, err))
}

var errPortStopped = fmt.Errorf("%w: the datagram port has stopped listening", gyre.ErrNotConnected)

// Write implements gyre.DatagramPort.
func (p *dgramPort) Write(data []byte, addr net.Addr) error {
	return p.send(data, nil, addr)
}

// WriteSequence implements gyre.DatagramPort: the slices go out as one
// datagram, gathered by sendmsg.
func (p *dgramPort) WriteSequence(data [][]byte, addr net.Addr) error {
	if len(data) == 1 {
		return p.send(data[0], nil, addr)
	}
	return p.send(nil, data, addr)
}

func (p *dgramPort) send(data []byte, bufs [][]byte, addr net.Addr) error {
	if p.fd < 0 {
		return errPortStopped
	}
	size := len(data)
	for _, b := range bufs {
		size += len(b)
	}
	var to unix.Sockaddr
	limit := p.max
	if addr == nil {
		if p.peer == nil {
			return fmt.Errorf("%w: no destination, and the port is not connected", gyre.ErrAddress)
		}
		if p.family == unix.AF_INET6 {
			if ua, ok := p.peer.(*net.UDPAddr); ok && ua.IP.To4() != nil {
				limit = maxUDP4
			}
		}
	} else {
		var err error
		to, limit, err = p.sockaddr(addr)
		if err != nil {
			return err
		}
		if p.peer != nil {
			if !sameAddr(addr, p.peer) {
				return fmt.Errorf("%w: the port is connected to %v, not %v", gyre.ErrAddress, p.peer, addr)
			}
			to = nil
		}
	}
	if size > limit {
		return fmt.Errorf("%w: %d bytes, at most %d", gyre.ErrDatagramTooLarge, size, limit)
	}
	op := "sendto"
	var err error
	for {
		if bufs == nil {
			err = unix.Sendto(p.fd, data, 0, to)
		} else {
			op = "sendmsg"
			_, err = unix.SendmsgBuffers(p.fd, bufs, nil, to, 0)
		}
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err == nil:
		return nil
	case err == unix.ECONNREFUSED && p.peer != nil:
		if cerr := p.n.l.CallFromThread(p.refused); cerr != nil {
			p.refused()
		}
		return nil
	case err == unix.EMSGSIZE:
		return fmt.Errorf("%w: %w", gyre.ErrDatagramTooLarge, os.NewSyscallError(op, err))
	}
	return os.NewSyscallError(op, err)
}

// sameAddr reports whether a and b are the same peer.
func sameAddr(a, b net.Addr) bool {
	switch x := a.(type) {
	case *net.UDPAddr:
		y, ok := b.(*net.UDPAddr)
		return ok && x.Port == y.Port && x.IP.Equal(y.IP) && x.Zone == y.Zone
	case *net.UnixAddr:
		y, ok := b.(*net.UnixAddr)
		return ok && x.Name == y.Name
	}
	return false
}

// sockaddr converts a destination to a socket address of the port's
// family, reusing the port's own, and returns the datagram size limit
// towards it.
func (p *dgramPort) sockaddr(addr net.Addr) (unix.Sockaddr, int, error) {
	if p.family == unix.AF_UNIX {
		ua, ok := addr.(*net.UnixAddr)
		if !ok || ua == nil || ua.Name == "" {
			return nil, 0, fmt.Errorf("%w: %v (%T) is not a Unix socket address", gyre.ErrAddress, addr, addr)
		}
		if p.saUn == nil || p.saUn.Name != ua.Name {
			p.saUn = &unix.SockaddrUnix{Name: ua.Name}
		}
		return p.saUn, p.max, nil
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok || ua == nil || ua.IP == nil {
		return nil, 0, fmt.Errorf("%w: %v (%T) is not a UDP address", gyre.ErrAddress, addr, addr)
	}
	ip4 := ua.IP.To4()
	switch {
	case p.family == unix.AF_INET && ip4 != nil:
		p.sa4.Port = ua.Port
		copy(p.sa4.Addr[:], ip4)
		return &p.sa4, maxUDP4, nil
	case p.family == unix.AF_INET6 && ip4 != nil && p.dual:
		p.sa6.Port = ua.Port
		p.sa6.ZoneId = 0
		copy(p.sa6.Addr[:], ua.IP.To16())
		return &p.sa6, maxUDP4, nil
	case p.family == unix.AF_INET6 && ip4 == nil && len(ua.IP) == net.IPv6len:
		p.sa6.Port = ua.Port
		p.sa6.ZoneId = 0
		if ua.Zone != "" {
			if ifi, err := net.InterfaceByName(ua.Zone); err == nil {
				p.sa6.ZoneId = uint32(ifi.Index)
			}
		}
		copy(p.sa6.Addr[:], ua.IP)
		return &p.sa6, maxUDP6, nil
	}
	return nil, 0, fmt.Errorf("%w: %v is not of the port's address family", gyre.ErrAddress, addr)
}

// LocalAddr implements gyre.DatagramPort.
func (p *dgramPort) LocalAddr() net.Addr { return p.local }

// RemoteAddr implements gyre.DatagramPort.
func (p *dgramPort) RemoteAddr() net.Addr { return p.peer }

// MaxDatagramSize implements gyre.DatagramPort.
func (p *dgramPort) MaxDatagramSize() int { return p.max }

// SetBroadcastAllowed implements gyre.DatagramPort.
func (p *dgramPort) SetBroadcastAllowed(on bool) error {
	if p.fd < 0 {
		return errPortStopped
	}
	return sockopt(unix.SetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_BROADCAST, boolInt(on)))
}

func boolInt(on bool) int {
	if on {
		return 1
	}
	return 0
}

func sockopt(err error) error {
	if err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

// Connect implements gyre.DatagramPort.
func (p *dgramPort) Connect(addr string) error {
	if p.fd < 0 {
		return errPortStopped
	}
	if p.peer != nil {
		return gyre.ErrAlreadyConnected
	}
	if p.family == unix.AF_UNIX {
		if addr == "" {
			return fmt.Errorf("%w: empty socket path", gyre.ErrAddress)
		}
		if err := unix.Connect(p.fd, &unix.SockaddrUnix{Name: addr}); err != nil {
			return connectErr(err)
		}
		p.peer = &net.UnixAddr{Name: addr, Net: "unixgram"}
		return nil
	}
	ip, zone, port, err := splitLiteral(addr)
	if err != nil {
		return err
	}
	if ip == nil {
		return fmt.Errorf("%w: %q has no host", gyre.ErrAddress, addr)
	}
	peer := &net.UDPAddr{IP: ip, Port: port, Zone: zone}
	sa, _, err := p.sockaddr(peer)
	if err != nil {
		return err
	}
	if err := unix.Connect(p.fd, sa); err != nil {
		return connectErr(err)
	}
	p.peer = peer
	return nil
}

// dgramSocket creates a datagram socket of family and sizes its buffers
// for datagrams of dgramSlot bytes.
func dgramSocket(family int) (int, error) {
	fd, err := socket(family, unix.SOCK_DGRAM)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	tuneDgram(fd)
	return fd, nil
}

// newDgramPort wraps a bound socket.
func (n *Net) newDgramPort(fd, family int, dual bool, proto gyre.DatagramProtocol) (*dgramPort, error) {
	p := &dgramPort{n: n, fd: fd, family: family, dual: dual, proto: proto}
	p.self = p
	switch family {
	case unix.AF_INET:
		p.max = maxUDP4
	case unix.AF_INET6:
		p.max = maxUDP6
	default:
		p.max = unixDgramMax(fd)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("getsockname", err)
	}
	p.local = dgramAddr(sa, family == unix.AF_UNIX)
	return p, nil
}

// dgramAddr converts a socket address to a *net.UDPAddr or *net.UnixAddr.
func dgramAddr(sa unix.Sockaddr, isUnix bool) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return udpAddr4(a.Addr, a.Port)
	case *unix.SockaddrInet6:
		return udpAddr6(a.Addr, a.Port, a.ZoneId)
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unixgram"}
	}
	if isUnix {
		return &net.UnixAddr{Net: "unixgram"}
	}
	return nil
}

// udpAddrBuf holds an address and its IP in one allocation.
type udpAddrBuf struct {
	a  net.UDPAddr
	ip [net.IPv6len]byte
}

// udpAddr4 returns a new address for an IPv4 sender, in the 16-byte form
// net.IPv4 makes.
func udpAddr4(addr [4]byte, port int) *net.UDPAddr {
	b := &udpAddrBuf{}
	b.ip[10], b.ip[11] = 0xff, 0xff
	copy(b.ip[12:], addr[:])
	b.a.IP, b.a.Port = b.ip[:], port
	return &b.a
}

func udpAddr6(addr [16]byte, port int, zoneID uint32) *net.UDPAddr {
	b := &udpAddrBuf{ip: addr}
	b.a.IP, b.a.Port = b.ip[:], port
	if zoneID != 0 {
		if ifi, err := net.InterfaceByIndex(int(zoneID)); err == nil {
			b.a.Zone = ifi.Name
		} else {
			b.a.Zone = fmt.Sprint(zoneID)
		}
	}
	return &b.a
}

// unixDgramMax is the largest datagram a Unix socket sends whole: a receive
// slot, or less if the send buffer is smaller.
func unixDgramMax(fd int) int {
	max := dgramSlot
	if sb, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); err == nil && sb > 0 {
		if lim := sb - unixDgramOverhead; lim < max {
			max = lim
		}
	}
	return max
}
