//go:build unix && (linux || freebsd || netbsd || openbsd || dragonfly || solaris)

package poll

import (
	"os"

	"golang.org/x/sys/unix"
)

// selfPipe returns the read and write ends of a new pipe, both non-blocking
// and closed on exec, made in one step.
func selfPipe() (r, w int, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return -1, -1, os.NewSyscallError("pipe2", err)
	}
	return fds[0], fds[1], nil
}
