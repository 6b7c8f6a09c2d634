//go:build unix

package std

import (
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxRecvFDs is how many descriptors one read can receive.
const maxRecvFDs = 64

// setBacklog sets the length of the accept queue of a listening socket: a
// second listen() on a listening socket changes its backlog.
func setBacklog(ln net.Listener, n int) error {
	if n <= 0 {
		return nil
	}
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = unix.Listen(int(fd), n) }); err != nil {
		return err
	}
	return lerr
}

// newOOB returns the buffer for the control messages of one read.
func newOOB() []byte { return make([]byte, unix.CmsgSpace(maxRecvFDs*4)) }

// readMsg reads from a Unix connection, with any descriptors sent along.
func (c *conn) readMsg(b []byte) (int, []int, error) {
	n, oobn, flags, _, err := c.uc.ReadMsgUnix(b, c.oob)
	var fds []int
	if oobn > 0 {
		fds = parseRights(c.oob[:oobn])
	}
	if flags&unix.MSG_CTRUNC != 0 {
		c.r.logger().Warn("gyre: descriptors received on a Unix connection were truncated",
			"limit", maxRecvFDs)
	}
	if n == 0 && oobn == 0 && err == nil {
		err = io.EOF
	}
	return n, fds, err
}

func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&msgs[i])
		if err == nil {
			fds = append(fds, got...)
		}
	}
	return fds
}

// writeMsg writes b with the descriptors fds attached to its first byte.
func (c *conn) writeMsg(b []byte, fds []int) error {
	n, _, err := c.uc.WriteMsgUnix(b, unix.UnixRights(fds...), nil)
	if err == nil && n < len(b) {
		_, err = c.nc.Write(b[n:])
	}
	return err
}

// dupFDs copies descriptors, close-on-exec, for sending later.
func dupFDs(fds []int) ([]int, error) {
	out := make([]int, 0, len(fds))
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	for _, fd := range fds {
		nfd, err := syscall.Dup(fd)
		if err != nil {
			closeFDs(out)
			return nil, &net.OpError{Op: "dup", Net: "unix", Err: err}
		}
		syscall.CloseOnExec(nfd)
		out = append(out, nfd)
	}
	return out, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}

// rawConn returns the connection's descriptor access, for the loop's
// non-blocking writes.
func rawConn(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// direct is the loop's non-blocking write of c.dbuf; it never waits.
func (c *conn) direct(fd uintptr) bool {
	n, err := writeNow(fd, c.dbuf)
	if err != nil {
		err = &net.OpError{Op: "write", Net: c.nc.LocalAddr().Network(),
			Source: c.laddr, Addr: c.raddr, Err: os.NewSyscallError("write", err)}
	}
	c.dn, c.derr = n, err
	return true
}

// writeNow makes one non-blocking write of b to fd, repeated if a signal
// interrupts it. A full buffer is 0 bytes written and no error.
func writeNow(fd uintptr, b []byte) (int, error) {
	for {
		n, err := syscall.Write(int(fd), b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, nil
		case err != nil:
			return 0, err
		}
		return n, nil
	}
}

// trySendFDs makes one non-blocking sendmsg of b with fds attached, on the
// loop. It returns how many bytes went; if none did, the descriptors did not
// go either.
func (c *conn) trySendFDs(b []byte, fds []int) (int, error) {
	rights := unix.UnixRights(fds...)
	var n int
	var serr error
	err := c.rc.Write(func(fd uintptr) bool {
		for {
			n, serr = unix.SendmsgN(int(fd), b, rights, nil, 0)
			switch {
			case serr == unix.EINTR:
				continue
			case serr == unix.EAGAIN:
				n, serr = 0, nil
			case serr != nil:
				n, serr = 0, &net.OpError{Op: "write", Net: "unix", Source: c.laddr, Addr: c.raddr,
					Err: os.NewSyscallError("sendmsg", serr)}
			}
			return true
		}
	})
	if err != nil {
		return 0, err
	}
	if n < 0 {
		n = 0
	}
	return n, serr
}
