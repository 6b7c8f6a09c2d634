//go:build linux

package std

import (
	"os"

	"golang.org/x/sys/unix"
)

// exitedUnreaped tells whether the child pid has exited, reaped or not,
// without reaping it: waitid with WNOWAIT leaves it for the waiter. A pid
// that is no longer a child at all has been reaped.
func exitedUnreaped(pid int) bool {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		switch err {
		case unix.EINTR:
			continue
		case unix.ECHILD:
			return true
		case nil:
			// Linux clears the information when no child is waitable.
			return info.Signo == int32(unix.SIGCHLD)
		}
		return false
	}
}

// openPipe makes a pipe for a child: the parent's end non-blocking, which
// the runtime's poller watches, and the child's end blocking, which the
// poller never sees. out tells whether the child writes. Both are
// close-on-exec from the start.
func openPipe(out bool) (parent, child *os.File, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, os.NewSyscallError("pipe2", err)
	}
	pfd, cfd := p[1], p[0] // the child reads
	if out {
		pfd, cfd = p[0], p[1]
	}
	if err := unix.SetNonblock(pfd, true); err != nil {
		_ = unix.Close(p[0])
		_ = unix.Close(p[1])
		return nil, nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(pfd), "|parent"), os.NewFile(uintptr(cfd), "|child"), nil
}
