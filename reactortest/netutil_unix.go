//go:build unix

package reactortest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// System-level helpers of the TCP and Unix cases, for Unix systems; see
// netutil_other.go for the rest.

func netCloseFD(fd int) { _ = syscall.Close(fd) }

// netReservedPort is a TCP socket bound to a loopback port that does not
// listen: connections to it are refused, and no other socket can take the
// port meanwhile.
type netReservedPort struct {
	fd   int
	addr string
}

func netReserve(c *C) *netReservedPort {
	c.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		c.Fatalf("socket: %v", err)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		_ = syscall.Close(fd)
		c.Fatalf("bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		_ = syscall.Close(fd)
		c.Fatalf("getsockname: %v", err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	return &netReservedPort{fd: fd, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
}

// listen makes the reserved socket listen: connections to it then complete
// (they wait in its queue, as nothing accepts them).
func (r *netReservedPort) listen() error { return syscall.Listen(r.fd, 16) }

func (r *netReservedPort) close() {
	if r != nil && r.fd >= 0 {
		_ = syscall.Close(r.fd)
		r.fd = -1
	}
}

// netBlackhole is a loopback address where a connect neither succeeds nor
// fails: a socket listening with a queue of length 0 that never accepts, its
// queue filled by connections made beforehand, so that the system drops
// further connection requests (Linux does; elsewhere the case is skipped if
// the queue cannot be seen to be full).
type netBlackhole struct {
	fd      int
	addr    string
	fillers []net.Conn
}

func netNewBlackhole(c *C) *netBlackhole {
	c.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		c.Fatalf("socket: %v", err)
	}
	syscall.CloseOnExec(fd)
	b := &netBlackhole{fd: fd}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		b.close()
		c.Fatalf("bind: %v", err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		b.close()
		c.Fatalf("listen: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		b.close()
		c.Fatalf("getsockname: %v", err)
	}
	b.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// Fill the queue until a connection request goes unanswered.
	for i := 0; i < 16; i++ {
		conn, err := net.DialTimeout("tcp", b.addr, 100*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return b // full: requests are dropped
			}
			b.close()
			c.Skipf("cannot make a loopback address that never answers: dial: %v", err)
		}
		b.fillers = append(b.fillers, conn)
	}
	b.close()
	c.Skipf("cannot make a loopback address that never answers: the listen queue never filled (%s)", runtime.GOOS)
	return nil
}

func (b *netBlackhole) close() {
	if b == nil {
		return
	}
	for _, conn := range b.fillers {
		_ = conn.Close()
	}
	b.fillers = nil
	if b.fd >= 0 {
		_ = syscall.Close(b.fd)
		b.fd = -1
	}
}

// netMaxBacklog returns the length of the accept queue of the TCP socket
// listening on 127.0.0.1:port, as Linux reports it through sock_diag.
func netMaxBacklog(c *C, port int) int {
	c.Helper()
	if runtime.GOOS != "linux" {
		c.Skipf("the listen queue length is only read on Linux (sock_diag), not on %s", runtime.GOOS)
	}
	n, err := netSockDiagBacklog(port)
	if err != nil {
		c.Skipf("cannot read the listen queue length through sock_diag: %v", err)
	}
	return n
}

func netSockDiagBacklog(port int) (int, error) {
	const (
		afNetlink        = 16
		netlinkSockDiag  = 4
		sockDiagByFamily = 20
		nlmRequest       = 0x1
		nlmDump          = 0x300
		nlmsgError       = 2
		nlmsgDone        = 3
		tcpListen        = 10
	)
	fd, err := syscall.Socket(afNetlink, syscall.SOCK_DGRAM, netlinkSockDiag)
	if err != nil {
		return 0, fmt.Errorf("netlink socket: %w", err)
	}
	defer syscall.Close(fd)
	syscall.CloseOnExec(fd)
	// struct nlmsghdr (16 bytes), then struct inet_diag_req_v2 (56 bytes).
	req := make([]byte, 16+56)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], sockDiagByFamily)
	binary.NativeEndian.PutUint16(req[6:], nlmRequest|nlmDump)
	binary.NativeEndian.PutUint32(req[8:], 1)
	req[16] = syscall.AF_INET
	req[17] = syscall.IPPROTO_TCP
	binary.NativeEndian.PutUint32(req[20:], 1<<tcpListen)
	if _, err := syscall.Write(fd, req); err != nil {
		return 0, fmt.Errorf("netlink write: %w", err)
	}
	buf := make([]byte, 1<<16)
	for {
		n, err := syscall.Read(fd, buf)
		if err != nil {
			return 0, fmt.Errorf("netlink read: %w", err)
		}
		b := buf[:n]
		for len(b) >= 16 {
			l := int(binary.NativeEndian.Uint32(b))
			typ := binary.NativeEndian.Uint16(b[4:])
			if l < 16 || l > len(b) {
				return 0, fmt.Errorf("malformed netlink message")
			}
			switch typ {
			case nlmsgDone:
				return 0, fmt.Errorf("no TCP socket listens on 127.0.0.1:%d", port)
			case nlmsgError:
				if l >= 20 {
					return 0, fmt.Errorf("netlink error %d", -int32(binary.NativeEndian.Uint32(b[16:])))
				}
				return 0, fmt.Errorf("netlink error")
			case sockDiagByFamily:
				// struct inet_diag_msg: the source port (big-endian) at 4,
				// the source address at 8, the queue limit at 60.
				m := b[16:l]
				if len(m) >= 64 && int(binary.BigEndian.Uint16(m[4:])) == port &&
					m[8] == 127 && m[9] == 0 && m[10] == 0 && m[11] == 1 {
					return int(binary.NativeEndian.Uint32(m[60:])), nil
				}
			}
			b = b[(l+3)&^3:]
		}
	}
}

// netSomaxconn returns the system's limit on listen queues.
func netSomaxconn(c *C) int {
	c.Helper()
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		c.Skipf("cannot read the system's listen queue limit: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		c.Skipf("cannot read the system's listen queue limit: %v", err)
	}
	return n
}

// netSocketpair returns a connected pair of Unix stream sockets.
func netSocketpair(c *C) [2]int {
	c.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		c.Fatalf("socketpair: %v", err)
	}
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	return fds
}

// netPipe returns a pipe's read and write ends.
func netPipe(c *C) (r, w int) {
	c.Helper()
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		c.Fatalf("pipe: %v", err)
	}
	syscall.CloseOnExec(p[0])
	syscall.CloseOnExec(p[1])
	return p[0], p[1]
}

// netWriteFD writes s to fd.
func netWriteFD(fd int, s string) error {
	n, err := syscall.Write(fd, []byte(s))
	if err == nil && n != len(s) {
		err = fmt.Errorf("short write: %d of %d bytes", n, len(s))
	}
	return err
}

// netReadFD reads what fd holds without waiting: it returns the bytes, and
// eof when the other end has closed (every copy of it).
func netReadFD(fd int) (data string, eof bool, err error) {
	if err := syscall.SetNonblock(fd, true); err != nil {
		return "", false, err
	}
	buf := make([]byte, 4096)
	var out []byte
	for {
		n, err := syscall.Read(fd, buf)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			return string(out), false, nil
		case err == syscall.EINTR:
			continue
		case err != nil:
			return string(out), false, err
		case n == 0:
			return string(out), true, nil
		}
		out = append(out, buf[:n]...)
	}
}

// netLowestFreeFD returns the lowest descriptor number not in use.
func netLowestFreeFD() (int, error) {
	fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	_ = syscall.Close(fd)
	return fd, nil
}

// netLimitFDs lowers the soft limit on descriptors so that the process can
// open no new one, and returns a function that restores the limit.
func netLimitFDs() (restore func(), err error) {
	netFlushFinalizers()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		return nil, err
	}
	low, err := netLowestFreeFD()
	if err != nil {
		return nil, err
	}
	lim := old
	// The type of Rlimit.Cur differs between systems: count up to low.
	lim.Cur = 0
	for i := 0; i < low; i++ {
		lim.Cur++
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil, err
	}
	return func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) }, nil
}

// netFlushFinalizers runs the finalizers of garbage left by earlier cases
// (an os.File or net.Conn nobody closed closes its descriptor there), so that
// no descriptor below the limit netLimitFDs sets is freed behind its back.
func netFlushFinalizers() {
	done := make(chan struct{})
	runtime.GC()
	sentinel := new([16]byte)
	runtime.SetFinalizer(sentinel, func(*[16]byte) { close(done) })
	sentinel = nil
	_ = sentinel
	runtime.GC()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
}

// netPreSocket makes an unconnected TCP socket, so that it can be connected
// while the process may open no new descriptor.
func netPreSocket() (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	return fd, err
}

// netConnectFD connects a socket made by netPreSocket to addr (a loopback
// address that listens), blocking.
func netConnectFD(fd int, addr *net.TCPAddr) error {
	sa := &syscall.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	return syscall.Connect(fd, sa)
}
