//go:build linux

package fdio

import "golang.org/x/sys/unix"

// The platform layer: Linux creates descriptors non-blocking and
// close-on-exec in one call, and gathers writes with writev.

func socket(family, typ int) (int, error) {
	return unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

func accept(fd int) (int, unix.Sockaddr, error) {
	return unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
}

func writev(fd int, bufs [][]byte) (int, error) { return unix.Writev(fd, bufs) }

const recvmsgFlags = unix.MSG_CMSG_CLOEXEC

func setReusePort(fd int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}
