//go:build unix && !linux

package fdio

import (
	"golang.org/x/sys/unix"
)

// Elsewhere a readiness event is drained with a loop of up to dgramBatch
// recvmsg calls into the loop's shared read buffer.

// dgramBufs is unused here: reads go to Net.readBuf.
type dgramBufs struct{}

// unixDgramOverhead is what the system keeps of a Unix socket's send buffer
// for itself.
const unixDgramOverhead = 0

// tuneDgram raises the socket buffers where they are too small for a
// datagram of dgramSlot bytes (the BSDs' and macOS's defaults for Unix
// datagram sockets, and macOS's UDP send limit, are a few kilobytes).
func tuneDgram(fd int) {
	const want = dgramSlot + 1024
	for _, opt := range []int{unix.SO_SNDBUF, unix.SO_RCVBUF} {
		if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, opt); err == nil && v < want {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, want)
		}
	}
}

// autobind does nothing: only Linux names an unbound socket, so the peer
// sees an empty address and cannot answer.
func autobind(int) error { return nil }

func (n *Net) readDatagrams(p *dgramPort) {
	buf := n.readBuf()
	isUnix := p.family == unix.AF_UNIX
	for i := 0; i < dgramBatch && p.fd >= 0; i++ {
		got, _, flags, from, err := unix.Recvmsg(p.fd, buf, nil, 0)
		switch err {
		case nil:
		case unix.EAGAIN:
			return
		case unix.EINTR:
			continue
		default:
			p.readError("recvmsg", err)
			if err != unix.ECONNREFUSED {
				return
			}
			continue // datagrams may wait behind the error
		}
		if flags&unix.MSG_TRUNC != 0 {
			p.truncated()
			continue
		}
		p.deliver(buf[:got], dgramAddr(from, isUnix))
	}
}
