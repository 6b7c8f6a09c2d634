//go:build !linux

package std

import "syscall"

// autobindControl returns nil: the socket stays unbound here.
func autobindControl() func(network, address string, c syscall.RawConn) error { return nil }
