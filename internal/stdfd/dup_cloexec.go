//go:build unix && !aix && !zos

package stdfd

import "golang.org/x/sys/unix"

// dupCloexec duplicates fd onto a descriptor of 3 or more, close-on-exec.
func dupCloexec(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3) }
