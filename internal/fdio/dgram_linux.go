//go:build linux

package fdio

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On Linux a readiness event is drained with one recvmmsg call that takes
// up to dgramBatch datagrams into the shared slots.

// dgramBufs are the receive buffers shared by the datagram ports of a loop.
type dgramBufs struct {
	hdrs  [dgramBatch]unix.Mmsghdr
	iovs  [dgramBatch]unix.Iovec
	names [dgramBatch]unix.RawSockaddrAny
	data  []byte // dgramBatch slots of dgramSlot bytes
}

func newDgramBufs() *dgramBufs {
	b := &dgramBufs{data: make([]byte, dgramBatch*dgramSlot)}
	for i := range b.hdrs {
		b.iovs[i].Base = &b.data[i*dgramSlot]
		b.iovs[i].SetLen(dgramSlot)
		h := &b.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
	}
	return b
}

// unixDgramOverhead is what Linux keeps of a Unix socket's send buffer for
// itself: a datagram may take the rest.
const unixDgramOverhead = 32

// tuneDgram leaves Linux's buffer sizes (over 200 KB by default) alone.
func tuneDgram(int) {}

// autobind binds a Unix socket to an address of the kernel's choosing in
// the abstract namespace, so that its peer can answer it.
func autobind(fd int) error {
	return unix.Bind(fd, &unix.SockaddrUnix{})
}

func (n *Net) readDatagrams(p *dgramPort) {
	st := n.dgramState()
	if st.bufs == nil {
		st.bufs = newDgramBufs()
	}
	b := st.bufs
	isUnix := p.family == unix.AF_UNIX
	for budget := dgramBatch; budget > 0 && p.fd >= 0; {
		for i := 0; i < budget; i++ {
			b.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrAny
			b.hdrs[i].Hdr.Flags = 0
			b.hdrs[i].Len = 0
		}
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&b.hdrs[0])),
			uintptr(budget), 0, 0, 0)
		switch e {
		case 0:
		case unix.EAGAIN:
			return
		case unix.EINTR:
			budget--
			continue
		default:
			p.readError("recvmmsg", e)
			if e != unix.ECONNREFUSED {
				return
			}
			budget-- // datagrams may wait behind the error
			continue
		}
		got := int(r)
		for i := 0; i < got && p.fd >= 0; i++ {
			h := &b.hdrs[i]
			if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
				p.truncated()
				continue
			}
			data := b.data[i*dgramSlot : i*dgramSlot+int(h.Len)]
			p.deliver(data, rawDgramAddr(&b.names[i], h.Hdr.Namelen, isUnix))
		}
		if got < budget {
			return // drained
		}
		budget -= got
	}
}

// rawDgramAddr converts the sender's address of a datagram.
func rawDgramAddr(rsa *unix.RawSockaddrAny, l uint32, isUnix bool) net.Addr {
	if isUnix {
		a := (*unix.RawSockaddrUnix)(unsafe.Pointer(rsa))
		n := int(l) - 2 // the family
		if n <= 0 {
			return &net.UnixAddr{Net: "unixgram"}
		}
		if n > len(a.Path) {
			n = len(a.Path)
		}
		path := unsafe.Slice((*byte)(unsafe.Pointer(&a.Path[0])), n)
		if path[0] == 0 {
			// Abstract: the name is every byte of the address.
			b := make([]byte, n)
			copy(b, path)
			b[0] = '@'
			return &net.UnixAddr{Name: string(b), Net: "unixgram"}
		}
		for i, c := range path {
			if c == 0 {
				path = path[:i]
				break
			}
		}
		return &net.UnixAddr{Name: string(path), Net: "unixgram"}
	}
	switch rsa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		pb := (*[2]byte)(unsafe.Pointer(&a.Port))
		return udpAddr4(a.Addr, int(pb[0])<<8|int(pb[1]))
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		pb := (*[2]byte)(unsafe.Pointer(&a.Port))
		return udpAddr6(a.Addr, int(pb[0])<<8|int(pb[1]), a.Scope_id)
	}
	return nil
}
