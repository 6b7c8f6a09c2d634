//go:build linux

package std

import "golang.org/x/sys/unix"

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
