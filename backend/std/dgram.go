package std

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// # Datagrams
//
// A datagram port (UDP, multicast UDP or Unix datagram socket) has one reader
// goroutine, which reads one datagram at a time into the port's buffer of
// dgramBufSize bytes, hands it to the loop through a method value bound once
// and waits until the loop has delivered it before it reads again, as a
// stream connection's reader does. The sender's address handed to
// DatagramReceived is allocated for each datagram (a protocol may keep it).
//
// Writes go straight from the loop: on Unix systems as one non-blocking
// sendto/sendmsg through the socket's syscall.RawConn, so that a full socket
// buffer returns an error wrapping syscall.EAGAIN instead of blocking the
// loop; elsewhere through the net package's WriteTo.
//
// The largest datagram is 65507 bytes on IPv4 UDP sockets, 65527 on IPv6 (and
// dual-stack) ones and dgramBufSize, 65536, on Unix datagram sockets.

const (
	// dgramBufSize is the size of each datagram port's read buffer, and
	// the largest Unix datagram Write accepts.
	dgramBufSize = 64 << 10
	// dgramBatch is the most datagrams the reader hands over at once.
	dgramBatch = 64
	maxUDP4    = 65507
	maxUDP6    = 65527
	// dgramErrBackoff is how long the reader waits after a read error it
	// does not understand, so that a persistent one does not spin.
	dgramErrBackoff = 10 * time.Millisecond
)

// Socket families of datagram ports.
const (
	famV4   = iota + 1 // AF_INET
	famV6              // AF_INET6, IPv6 only in practice (bound to an IPv6 address)
	famDual            // AF_INET6 bound to the wildcard address: IPv4 peers too
	famUnix            // AF_UNIX
)

// dgramPort is one datagram socket and its reader goroutine.
type dgramPort struct {
	dgramSys // the platform's part

	r       *Reactor
	seq     uint64
	pc      net.PacketConn
	uc      *net.UDPConn  // UDP ports
	xc      *net.UnixConn // Unix datagram ports
	rc      syscall.RawConn
	proto   gyre.DatagramProtocol
	refused gyre.ConnectionRefusedProtocol
	laddr   net.Addr
	raddr   net.Addr       // the connected peer, or nil
	rap     netip.AddrPort // the connected UDP peer
	mc      *mcastPort     // the multicast port wrapping this one, if any
	fam     int
	path    string // the socket file to remove once closed
	max     int

	// Loop goroutine only.
	closing
	started      bool
	protoStopped bool

	stop    chan struct{} // closed with the socket: the reader exits
	exited  chan struct{} // closed by the reader as it exits
	goAhead chan struct{}

	// Reading: written by the reader, read by deliver on the loop; the
	// queue and goAhead order them.
	rbuf     []byte
	slots    [dgramBatch]dgSlot
	nslots   int
	rrefused bool // a refusal was read while batching: report it after the batch
	rlogged  bool

	deliverFn   func()
	startFn     func()
	finishFn    func()
	refusedFn   func()
	stopProtoFn func()
}

var (
	_ gyre.DatagramPort  = (*dgramPort)(nil)
	_ gyre.MulticastPort = (*mcastPort)(nil)
)

// newDgramPort wraps a bound socket; start registers it.
func (r *Reactor) newDgramPort(pc net.PacketConn, proto gyre.DatagramProtocol, fam int) *dgramPort {
	p := &dgramPort{
		r:       r,
		seq:     r.nextSeq(),
		pc:      pc,
		proto:   proto,
		laddr:   pc.LocalAddr(),
		fam:     fam,
		stop:    make(chan struct{}),
		exited:  make(chan struct{}),
		goAhead: make(chan struct{}, 1),
		rbuf:    make([]byte, dgramRbufSize),
	}
	p.refused, _ = proto.(gyre.ConnectionRefusedProtocol)
	switch c := pc.(type) {
	case *net.UDPConn:
		p.uc = c
	case *net.UnixConn:
		p.xc = c
		if p.laddr == nil || isNilAddr(p.laddr) {
			p.laddr = &net.UnixAddr{Net: "unixgram"}
		}
	}
	switch fam {
	case famV4:
		p.max = maxUDP4
	case famV6, famDual:
		p.max = maxUDP6
	default:
		p.max = dgramBufSize
	}
	if sc, ok := pc.(syscall.Conn); ok {
		p.rc, _ = sc.SyscallConn()
	}
	p.deliverFn = p.deliver
	p.startFn = p.begin
	p.finishFn = p.finish
	p.refusedFn = p.notifyRefused
	p.stopProtoFn = p.stopProto
	p.initSys()
	return p
}

// start registers the port, starts its reader and, on a later callback,
// the protocol.
func (p *dgramPort) start() {
	p.r.dports[p] = struct{}{}
	p.r.later(p.startFn)
	p.r.wg.Add(1)
	go p.readLoop()
}

// begin calls StartProtocol, once.
func (p *dgramPort) begin() {
	if p.started {
		return
	}
	p.started = true
	defer p.r.recoverLog()
	p.proto.StartProtocol(p.self())
}

// self is the port as the protocol sees it.
func (p *dgramPort) self() gyre.DatagramPort {
	if p.mc != nil {
		return p.mc
	}
	return p
}

// readLoop is the reader goroutine.
func (p *dgramPort) readLoop() {
	defer p.r.wg.Done()
	defer close(p.exited)
	for {
		err := p.read()
		if err != nil {
			select {
			case <-p.stop:
				_ = p.r.CallFromThread(p.finishFn)
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				_ = p.r.CallFromThread(p.finishFn)
				return
			}
			if dgramRefused(err) {
				if p.r.CallFromThread(p.refusedFn) != nil {
					return
				}
				continue
			}
			if !p.rlogged {
				p.rlogged = true
				p.r.logger().Warn("gyre: datagram read failed; retrying", "addr", p.laddr.String(), "err", err)
			}
			select {
			case <-time.After(dgramErrBackoff):
			case <-p.stop:
				_ = p.r.CallFromThread(p.finishFn)
				return
			}
			continue
		}
		p.rlogged = false
		if p.r.CallFromThread(p.deliverFn) != nil {
			return
		}
		select {
		case <-p.goAhead:
		case <-p.stop:
			_ = p.r.CallFromThread(p.finishFn)
			return
		}
	}
}

// dgSlot is one datagram of a batch: rbuf[off:off+n], and its sender.
type dgSlot struct {
	off, n int
	from   netip.AddrPort // UDP sender
	ufrom  *net.UnixAddr  // Unix sender
}

// read reads one datagram into rbuf, waiting for it, then (where the
// platform allows) those already queued behind it, without waiting.
func (p *dgramPort) read() error {
	s := &p.slots[0]
	s.off = 0
	if p.uc != nil {
		n, ap, err := p.uc.ReadFromUDPAddrPort(p.rbuf[:dgramBufSize])
		if err != nil {
			return err
		}
		s.n, s.from = n, ap
	} else {
		n, a, err := p.xc.ReadFromUnix(p.rbuf[:dgramBufSize])
		if err != nil {
			return err
		}
		s.n, s.ufrom = n, a
	}
	p.nslots = 1
	p.readMore()
	return nil
}

// deliver runs on the loop with the datagrams the reader read.
func (p *dgramPort) deliver() {
	if p.stopped {
		return // the reader sees stop closed
	}
	if !p.started {
		p.begin()
	}
	for i := 0; i < p.nslots && !p.stopped; i++ {
		s := &p.slots[i]
		var addr net.Addr
		if p.uc != nil {
			ap := netip.AddrPortFrom(s.from.Addr().Unmap(), s.from.Port())
			if p.rap.IsValid() && p.filterPeer() && ap != p.rap {
				continue // not from the connected peer
			}
			addr = net.UDPAddrFromAddrPort(ap)
		} else {
			a := s.ufrom
			if a == nil {
				a = &net.UnixAddr{Net: "unixgram"}
			}
			s.ufrom = nil
			addr = a
		}
		p.receive(p.rbuf[s.off:s.off+s.n], addr)
	}
	if p.rrefused && !p.stopped {
		p.rrefused = false
		p.notifyRefused()
	}
	if !p.stopped {
		p.goAhead <- struct{}{}
	}
}

func (p *dgramPort) receive(b []byte, addr net.Addr) {
	defer p.r.recoverLog()
	p.proto.DatagramReceived(b, addr)
}

// notifyRefused runs on the loop when the connected peer refused a datagram.
func (p *dgramPort) notifyRefused() {
	if p.stopped || p.refused == nil {
		return
	}
	if !p.started {
		p.begin()
		if p.stopped {
			return
		}
	}
	defer p.r.recoverLog()
	p.refused.ConnectionRefused()
}

// Write implements gyre.DatagramPort.
func (p *dgramPort) Write(data []byte, addr net.Addr) error {
	if len(data) > p.max {
		return p.tooLarge(len(data))
	}
	to, err := p.dest(addr)
	if err != nil {
		return err
	}
	return p.sendOut(data, nil, to)
}

// WriteSequence implements gyre.DatagramPort.
func (p *dgramPort) WriteSequence(data [][]byte, addr net.Addr) error {
	n := 0
	for _, b := range data {
		n += len(b)
	}
	if n > p.max {
		return p.tooLarge(n)
	}
	to, err := p.dest(addr)
	if err != nil {
		return err
	}
	return p.sendOut(nil, data, to)
}

func (p *dgramPort) tooLarge(n int) error {
	return &dgramSizeError{size: n, max: p.max}
}

type dgramSizeError struct{ size, max int }

func (e *dgramSizeError) Error() string {
	return gyre.ErrDatagramTooLarge.Error() + ": " + itoa(e.size) + " bytes, at most " + itoa(e.max)
}

func (e *dgramSizeError) Unwrap() error { return gyre.ErrDatagramTooLarge }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// dest checks the destination of a write: nil (the connected peer) or an
// address of the socket's family. It returns nil for the connected peer.
func (p *dgramPort) dest(addr net.Addr) (net.Addr, error) {
	if p.stopped {
		return nil, &net.OpError{Op: "write", Net: p.laddr.Network(), Source: p.laddr, Err: net.ErrClosed}
	}
	if addr == nil {
		if p.raddr == nil {
			return nil, addressError("", "no address given and the port is not connected")
		}
		return nil, nil
	}
	switch a := addr.(type) {
	case *net.UDPAddr:
		if p.uc == nil {
			return nil, addressError(a.String(), "a Unix datagram port takes *net.UnixAddr")
		}
		if a == nil {
			return nil, addressError("", "nil address")
		}
		if err := p.checkFamily(a.IP, a.String()); err != nil {
			return nil, err
		}
		if a.Port <= 0 || a.Port > 65535 {
			return nil, addressError(a.String(), "bad port")
		}
		return a, nil
	case *net.UnixAddr:
		if p.xc == nil {
			return nil, addressError(a.String(), "a UDP port takes *net.UDPAddr")
		}
		if a == nil || a.Name == "" {
			return nil, addressError("", "empty Unix address")
		}
		return a, nil
	}
	return nil, addressError(addr.String(), "unsupported address type "+addr.Network())
}

// checkFamily tells whether ip may be a peer of the socket.
func (p *dgramPort) checkFamily(ip net.IP, s string) error {
	is4 := ip.To4() != nil
	switch {
	case len(ip) != net.IPv4len && len(ip) != net.IPv6len:
		return addressError(s, "bad IP address")
	case p.fam == famV4 && !is4:
		return addressError(s, "an IPv6 address on an IPv4 socket")
	case p.fam == famV6 && is4:
		return addressError(s, "an IPv4 address on an IPv6 socket")
	}
	return nil
}

// Connect implements gyre.DatagramPort.
func (p *dgramPort) Connect(addr string) error {
	if p.stopped {
		return &net.OpError{Op: "connect", Net: p.laddr.Network(), Source: p.laddr, Err: net.ErrClosed}
	}
	if p.raddr != nil {
		return gyre.ErrAlreadyConnected
	}
	var to net.Addr
	if p.uc != nil {
		ap, err := parseLiteral(addr)
		if err != nil {
			return err
		}
		if ap.Port() == 0 {
			return addressError(addr, "port 0")
		}
		ua := net.UDPAddrFromAddrPort(ap)
		if err := p.checkFamily(ua.IP, addr); err != nil {
			return err
		}
		if err := p.connectSys(ua); err != nil {
			return err
		}
		p.rap = ap
		to = ua
	} else {
		if addr == "" {
			return addressError(addr, "empty path")
		}
		if addr[0] == '@' && !abstractOK {
			return addressError(addr, "the abstract namespace is Linux only")
		}
		ua := &net.UnixAddr{Name: addr, Net: "unixgram"}
		if err := p.connectSys(ua); err != nil {
			return err
		}
		to = ua
	}
	p.raddr = to
	return nil
}

// parseLiteral parses "ip:port" with a literal IP.
func parseLiteral(addr string) (netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, addressError(addr, err.Error())
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, addressError(addr, "the host must be a literal IP address")
	}
	port, err := parseUint16(portStr)
	if err != nil {
		return netip.AddrPort{}, addressError(addr, "bad port")
	}
	return netip.AddrPortFrom(ip.Unmap(), port), nil
}

func parseUint16(s string) (uint16, error) {
	if s == "" || len(s) > 5 {
		return 0, errBadPort
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadPort
		}
		n = n*10 + int(s[i]-'0')
	}
	if n > 65535 {
		return 0, errBadPort
	}
	return uint16(n), nil
}

var errBadPort = errors.New("bad port")

// LocalAddr implements gyre.DatagramPort.
func (p *dgramPort) LocalAddr() net.Addr { return p.laddr }

// RemoteAddr implements gyre.DatagramPort.
func (p *dgramPort) RemoteAddr() net.Addr { return p.raddr }

// SetBroadcastAllowed implements gyre.DatagramPort.
func (p *dgramPort) SetBroadcastAllowed(on bool) error {
	if p.stopped {
		return net.ErrClosed
	}
	return p.setBroadcast(on)
}

// MaxDatagramSize implements gyre.DatagramPort.
func (p *dgramPort) MaxDatagramSize() int { return p.max }

// StopListening implements gyre.DatagramPort.
func (p *dgramPort) StopListening() *deferred.Deferred { return p.request(p.closeSocket) }

// closeSocket closes the socket; the reader then exits.
func (p *dgramPort) closeSocket() {
	if p.stopped {
		return
	}
	p.stopped = true
	close(p.stop)
	_ = p.pc.Close()
	if p.path != "" {
		_ = os.Remove(p.path)
	}
}

// finish runs on the loop once the reader has exited, and the socket with
// it: the socket file goes, the Deferreds fire and StopProtocol follows on a
// later callback.
func (p *dgramPort) finish() {
	if p.fired {
		return
	}
	delete(p.r.dports, p)
	if !p.started {
		p.begin()
	}
	p.fire(p.r.safely)
	p.r.later(p.stopProtoFn)
}

// stopProto calls StopProtocol, once.
func (p *dgramPort) stopProto() {
	if p.protoStopped {
		return
	}
	p.protoStopped = true
	defer p.r.recoverLog()
	p.proto.StopProtocol()
}

// shutdown stops the port for the reactor's shutdown: the socket closes, the
// reader (which never waits for the loop once stop is closed) exits, and the
// protocol stops before the users' shutdown triggers run.
func (p *dgramPort) shutdown() {
	p.closeSocket()
	<-p.exited
	p.finish()
	p.stopProto()
}
