//go:build unix && !(linux || freebsd || netbsd || openbsd || dragonfly || solaris)

package fdio

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Pipe returns a new pipe's read and write ends, both close-on-exec and
// blocking. Without pipe2 this takes several calls; the fork lock keeps a
// fork meanwhile from inheriting the descriptors.
func Pipe() (r, w int, err error) {
	var fds [2]int
	syscall.ForkLock.RLock()
	err = unix.Pipe(fds[:])
	if err == nil {
		unix.CloseOnExec(fds[0])
		unix.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, -1, os.NewSyscallError("pipe", err)
	}
	return fds[0], fds[1], nil
}
