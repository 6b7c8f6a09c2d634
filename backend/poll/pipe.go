//go:build unix && !(linux || freebsd || netbsd || openbsd || dragonfly || solaris)

package poll

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// selfPipe returns the read and write ends of a new pipe, both non-blocking
// and closed on exec. Without pipe2 this takes several calls; the fork lock
// keeps a concurrent fork and exec from inheriting the descriptors between
// them, as the standard library does.
func selfPipe() (r, w int, err error) {
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
	for _, fd := range fds {
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fds[0])
			unix.Close(fds[1])
			return -1, -1, os.NewSyscallError("fcntl", err)
		}
	}
	return fds[0], fds[1], nil
}
