//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd

package std

import "golang.org/x/sys/unix"

// setReusePortMC sets SO_REUSEPORT on a multicast socket.
func setReusePortMC(fd int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}
