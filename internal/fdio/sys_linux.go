//go:build linux

package fdio

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The platform layer: Linux creates descriptors non-blocking and
// close-on-exec in one call, and gathers writes with writev.

func socket(family, typ int) (int, error) {
	return unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

// accept takes a waiting connection and returns its peer's address as a
// net.Addr. It reads the address into a buffer of its own instead of
// letting x/sys allocate a Sockaddr, so that accepting leaves no garbage
// beyond the address the protocol factory is given.
func accept(fd int, isUnix bool) (int, net.Addr, error) {
	var rsa unix.RawSockaddrAny
	l := uint32(unix.SizeofSockaddrAny)
	for {
		nfd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)),
			uintptr(unsafe.Pointer(&l)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return -1, nil, e
		}
		return int(nfd), rawToAddr(&rsa, isUnix), nil
	}
}

func rawToAddr(rsa *unix.RawSockaddrAny, isUnix bool) net.Addr {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		return &net.TCPAddr{IP: net.IPv4(a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3]), Port: int(p[0])<<8 | int(p[1])}
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		sa := &unix.SockaddrInet6{Port: int(p[0])<<8 | int(p[1]), ZoneId: a.Scope_id, Addr: a.Addr}
		return sockaddrToAddr(sa, false)
	}
	if isUnix {
		return &net.UnixAddr{Net: "unix"}
	}
	return nil
}

func writev(fd int, bufs [][]byte) (int, error) { return unix.Writev(fd, bufs) }

const recvmsgFlags = unix.MSG_CMSG_CLOEXEC

func setReusePort(fd int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}
