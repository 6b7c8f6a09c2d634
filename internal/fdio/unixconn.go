//go:build unix

package fdio

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
)

// maxRecvFDs is how many descriptors one read can receive.
const maxRecvFDs = 64

// fdMark attaches descriptors to the byte at offset off of the write buffer.
type fdMark struct {
	off int
	fds []int // our own duplicates, closed once sent
}

var errEmptyFDMessage = errors.New("gyre: SendFDs needs at least one byte of data")

// SendFDs implements gyre.UnixTransport.
func (c *unixConn) SendFDs(fds []int, data []byte) error {
	if len(data) == 0 {
		return errEmptyFDMessage
	}
	if c.closedForWrites() {
		return gyre.ErrNotConnected
	}
	c.wrote()
	if c.buffered() == 0 {
		n, err := unix.SendmsgN(c.fd, data, unix.UnixRights(fds...), nil, 0)
		switch {
		case err == nil:
			if n < len(data) {
				c.queue(data[n:])
			}
			return nil
		case err != unix.EAGAIN && err != unix.EINTR:
			c.loseWith(lostErr("sendmsg", err))
			return nil
		}
	}
	dups := make([]int, 0, len(fds))
	for _, fd := range fds {
		d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			for _, d := range dups {
				unix.Close(d)
			}
			return os.NewSyscallError("fcntl", err)
		}
		dups = append(dups, d)
	}
	if c.w == nil {
		c.w = &wbuf{}
	}
	w := c.w
	if w.off > 0 && !c.hasMarks() {
		k := copy(w.b, w.b[w.off:])
		w.b, w.off = w.b[:k], 0
	}
	x := c.extra()
	x.marks = append(x.marks, fdMark{off: len(w.b), fds: dups})
	w.b = append(w.b, data...)
	c.updateInterest()
	c.checkHighWater()
	return nil
}

// sendMarked writes the buffer up to the next mark, or from a mark with its
// descriptors attached.
func (c *conn) sendMarked() (int, error) {
	marks := c.x.marks
	m := marks[0]
	w := c.w
	if w.off < m.off {
		return unix.Write(c.fd, w.b[w.off:m.off])
	}
	end := len(w.b)
	if len(marks) > 1 {
		end = marks[1].off
	}
	n, err := unix.SendmsgN(c.fd, w.b[w.off:end], unix.UnixRights(m.fds...), nil, 0)
	if err != nil {
		return 0, err
	}
	for _, fd := range m.fds {
		unix.Close(fd)
	}
	if c.x.marks = marks[1:]; len(c.x.marks) == 0 {
		c.x.marks = nil
	}
	return n, nil
}

func (c *conn) dropMarks() {
	if !c.hasMarks() {
		return
	}
	for _, m := range c.x.marks {
		for _, fd := range m.fds {
			unix.Close(fd)
		}
	}
	c.x.marks = nil
}

// recvWithFDs reads into buf and collects any descriptors that came along.
func (c *conn) recvWithFDs(buf []byte) (int, []int, error) {
	if c.n.oob == nil {
		c.n.oob = make([]byte, unix.CmsgSpace(4*maxRecvFDs))
	}
	n, oobn, _, _, err := unix.Recvmsg(c.fd, buf, c.n.oob, recvmsgFlags)
	if err != nil || oobn == 0 {
		return n, nil, err
	}
	msgs, perr := unix.ParseSocketControlMessage(c.n.oob[:oobn])
	if perr != nil {
		return n, nil, nil
	}
	var fds []int
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err == nil {
			fds = append(fds, got...)
		}
	}
	if recvmsgFlags == 0 {
		for _, fd := range fds {
			unix.CloseOnExec(fd)
		}
	}
	return n, fds, nil
}
