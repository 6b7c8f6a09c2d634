//go:build unix && !linux

package fdio

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// The portable platform layer: descriptors are made non-blocking and
// close-on-exec after they are created (under ForkLock, so no child started
// meanwhile inherits them), and a gathered write is a sequence of writes.

func socket(family, typ int) (int, error) {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, typ, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func accept(fd int, isUnix bool) (int, net.Addr, error) {
	nfd, sa, err := accept1(fd)
	if err != nil {
		return -1, nil, err
	}
	return nfd, sockaddrToAddr(sa, isUnix), nil
}

func accept1(fd int) (int, unix.Sockaddr, error) {
	syscall.ForkLock.RLock()
	nfd, sa, err := unix.Accept(fd)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, nil, err
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, nil, err
	}
	return nfd, sa, nil
}

func writev(fd int, bufs [][]byte) (int, error) {
	total := 0
	for _, b := range bufs {
		n, err := unix.Write(fd, b)
		if n > 0 {
			total += n
		}
		if err != nil {
			if total > 0 {
				return total, nil
			}
			return 0, err
		}
		if n < len(b) {
			break
		}
	}
	return total, nil
}

const recvmsgFlags = 0

func setReusePort(fd int) error { return setReusePortOpt(fd) }
