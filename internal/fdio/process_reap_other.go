//go:build unix && !linux

package fdio

import "syscall"

// setPidFD reports false: children are reaped on SIGCHLD here.
func setPidFD(sys *syscall.SysProcAttr, fd *int) bool { return false }
