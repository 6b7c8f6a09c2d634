//go:build !linux

package spawn

import "github.com/gyre-go/gyre"

// PTYSupported tells whether OpenPTY works on this platform.
const PTYSupported = false

// OpenPTY returns gyre.ErrNotSupported: pseudo-terminals are only opened on
// Linux for now.
func OpenPTY(rows, cols uint16) (master, slave int, err error) {
	return -1, -1, gyre.ErrNotSupported
}

// SetPTYSize returns gyre.ErrNotSupported.
func SetPTYSize(fd int, rows, cols uint16) error { return gyre.ErrNotSupported }
