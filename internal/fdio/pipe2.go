//go:build linux || freebsd || netbsd || openbsd || dragonfly || solaris

package fdio

import (
	"os"

	"golang.org/x/sys/unix"
)

// Pipe returns a new pipe's read and write ends, both close-on-exec and
// blocking (the caller makes its own end non-blocking).
func Pipe() (r, w int, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return -1, -1, os.NewSyscallError("pipe2", err)
	}
	return fds[0], fds[1], nil
}
