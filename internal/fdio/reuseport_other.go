//go:build unix && !linux && !solaris && !illumos

package fdio

import "golang.org/x/sys/unix"

func setReusePortOpt(fd int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}
