//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd

package std

import (
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
)

// listenControl returns the Control function of a listening socket.
func listenControl(cfg gyre.ListenConfig) func(network, address string, c syscall.RawConn) error {
	if !cfg.ReusePort {
		return nil
	}
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}
}
