//go:build aix || zos

package stdfd

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// dupCloexec duplicates fd onto a descriptor of 3 or more, close-on-exec,
// where fcntl has no F_DUPFD_CLOEXEC: under ForkLock, so that no child
// started meanwhile inherits it.
func dupCloexec(fd int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD, 3)
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(nfd)
	return nfd, nil
}
