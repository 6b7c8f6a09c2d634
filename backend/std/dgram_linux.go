//go:build linux

package std

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// autobindControl binds a Unix datagram socket to an address the kernel
// picks in the abstract namespace (an address of the family alone).
func autobindControl() func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = unix.Bind(int(fd), &unix.SockaddrUnix{}) }); err != nil {
			return err
		}
		if serr != nil {
			return os.NewSyscallError("bind", serr)
		}
		return nil
	}
}
