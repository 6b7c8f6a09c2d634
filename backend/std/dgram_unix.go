//go:build unix

package std

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
)

// dgramSys holds what a datagram port's non-blocking writes from the loop
// need: socket addresses reused for every write (the loop is the only
// writer), and the inputs and outputs of sendRaw, which runs inside
// RawConn.Write through a method value bound once.
type dgramSys struct {
	sa4    unix.SockaddrInet4
	sa6    unix.SockaddrInet6
	sau    unix.SockaddrUnix
	wto    unix.Sockaddr
	wb     []byte
	wbs    [][]byte
	werr   error
	sendFn func(fd uintptr) bool

	// The reader's non-blocking reads (readRaw), reader goroutine only.
	roff   int
	rmore  bool
	readFn func(fd uintptr) bool
}

func (p *dgramPort) initSys() {
	p.sendFn = p.sendRaw
	p.readFn = p.readRaw
}

// filterPeer tells whether deliver must drop datagrams from others than the
// connected peer: not here, the kernel does it.
func (p *dgramPort) filterPeer() bool { return false }

// dgramRefused tells whether a read error reports a datagram refused by the
// connected peer.
func dgramRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// sockaddr converts a checked destination to the socket's kind of address,
// in one of the port's reused structures.
func (p *dgramPort) sockaddr(to net.Addr) unix.Sockaddr {
	switch a := to.(type) {
	case *net.UDPAddr:
		if p.fam == famV4 {
			copy(p.sa4.Addr[:], a.IP.To4())
			p.sa4.Port = a.Port
			return &p.sa4
		}
		copy(p.sa6.Addr[:], a.IP.To16())
		p.sa6.Port = a.Port
		p.sa6.ZoneId = 0
		if a.Zone != "" {
			if ifi, err := net.InterfaceByName(a.Zone); err == nil {
				p.sa6.ZoneId = uint32(ifi.Index)
			}
		}
		return &p.sa6
	case *net.UnixAddr:
		p.sau.Name = a.Name
		return &p.sau
	}
	return nil
}

// sendOut sends one datagram, b or the gathered bufs, to to (nil: the
// connected peer) with one non-blocking system call on the loop.
func (p *dgramPort) sendOut(b []byte, bufs [][]byte, to net.Addr) error {
	if p.rc == nil {
		return gyre.ErrNotSupported
	}
	p.wto = nil
	if to != nil {
		p.wto = p.sockaddr(to)
	}
	p.wb, p.wbs = b, bufs
	err := p.rc.Write(p.sendFn)
	p.wb, p.wbs, p.wto = nil, nil, nil
	if err == nil {
		err, p.werr = p.werr, nil
		if err == nil {
			return nil
		}
		if errors.Is(err, syscall.ECONNREFUSED) && p.raddr != nil {
			// An earlier datagram to the connected peer was refused.
			p.r.later(p.refusedFn)
			return nil
		}
		err = os.NewSyscallError("sendmsg", err)
	}
	if to == nil {
		to = p.raddr
	}
	return &net.OpError{Op: "write", Net: p.laddr.Network(), Source: p.laddr, Addr: to, Err: err}
}

// sendRaw makes the one send attempt; it never waits for the socket.
func (p *dgramPort) sendRaw(fd uintptr) bool {
	for {
		var err error
		if p.wbs != nil {
			_, err = unix.SendmsgBuffers(int(fd), p.wbs, nil, p.wto, 0)
		} else {
			err = unix.Sendto(int(fd), p.wb, 0, p.wto)
		}
		if err == unix.EINTR {
			continue
		}
		p.werr = err
		return true
	}
}

// connectSys connects the socket to a checked address.
func (p *dgramPort) connectSys(to net.Addr) error {
	if p.rc == nil {
		return gyre.ErrNotSupported
	}
	sa := p.sockaddr(to)
	var serr error
	if err := p.rc.Control(func(fd uintptr) { serr = unix.Connect(int(fd), sa) }); err != nil {
		return err
	}
	if serr != nil {
		return &net.OpError{Op: "connect", Net: p.laddr.Network(), Source: p.laddr, Addr: to,
			Err: os.NewSyscallError("connect", serr)}
	}
	return nil
}

// setBroadcast sets SO_BROADCAST.
func (p *dgramPort) setBroadcast(on bool) error {
	return p.setsockoptInt(unix.SOL_SOCKET, unix.SO_BROADCAST, boolInt(on))
}

func (p *dgramPort) setsockoptInt(level, opt, v int) error {
	if p.rc == nil {
		return gyre.ErrNotSupported
	}
	var serr error
	if err := p.rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, v) }); err != nil {
		return err
	}
	if serr != nil {
		return os.NewSyscallError("setsockopt", serr)
	}
	return nil
}

func boolInt(on bool) int {
	if on {
		return 1
	}
	return 0
}

// dgramRbufSize is the size of a port's read buffer, which a batch of
// datagrams shares: a datagram is read only while a whole dgramBufSize is
// left after the ones before it.
const dgramRbufSize = 4 * dgramBufSize

// readMore reads the datagrams already queued behind the first of a batch,
// with one non-blocking recvfrom each, until the socket is empty, the batch
// holds dgramBatch datagrams or the buffer has no room for another whole one.
func (p *dgramPort) readMore() {
	if p.rc == nil {
		return
	}
	for p.nslots < dgramBatch {
		prev := &p.slots[p.nslots-1]
		off := prev.off + prev.n
		if off+dgramBufSize > len(p.rbuf) {
			return
		}
		p.roff, p.rmore = off, false
		if err := p.rc.Read(p.readFn); err != nil || !p.rmore {
			return
		}
	}
}

// readRaw makes one non-blocking recvfrom into rbuf at roff; it never waits.
func (p *dgramPort) readRaw(fd uintptr) bool {
	for {
		n, from, err := unix.Recvfrom(int(fd), p.rbuf[p.roff:p.roff+dgramBufSize], 0)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.ECONNREFUSED:
			p.rrefused = true
			return true
		case err != nil:
			return true // EAGAIN, or an error the next blocking read reports
		}
		s := &p.slots[p.nslots]
		s.off, s.n = p.roff, n
		switch a := from.(type) {
		case *unix.SockaddrInet4:
			s.from = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
		case *unix.SockaddrInet6:
			ip := netip.AddrFrom16(a.Addr)
			if a.ZoneId != 0 {
				if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
					ip = ip.WithZone(ifi.Name)
				}
			}
			s.from = netip.AddrPortFrom(ip, uint16(a.Port))
		case *unix.SockaddrUnix:
			s.ufrom = &net.UnixAddr{Name: a.Name, Net: "unixgram"}
		default:
			s.from, s.ufrom = netip.AddrPort{}, nil
		}
		p.nslots++
		p.rmore = true
		return true
	}
}
