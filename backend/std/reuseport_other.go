//go:build !(aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package std

import (
	"syscall"

	"github.com/gyre-go/gyre"
)

// listenControl returns the Control function of a listening socket. There is
// no SO_REUSEPORT here.
func listenControl(cfg gyre.ListenConfig) func(network, address string, c syscall.RawConn) error {
	if !cfg.ReusePort {
		return nil
	}
	return func(string, string, syscall.RawConn) error { return gyre.ErrNotSupported }
}
