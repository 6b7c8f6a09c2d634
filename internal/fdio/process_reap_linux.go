//go:build linux

package fdio

import (
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// pidfdWorks tells whether this kernel gives pidfds (Linux 5.3 and later,
// unless a sandbox refuses them).
var pidfdWorks = sync.OnceValue(func() bool {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
})

// setPidFD asks the fork for the child's pidfd where the kernel has them,
// and reports whether it did.
func setPidFD(sys *syscall.SysProcAttr, fd *int) bool {
	if !pidfdWorks() {
		return false
	}
	*fd = -1
	sys.PidFD = fd
	return true
}
