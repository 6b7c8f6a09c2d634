//go:build !unix

package reactortest

import (
	"errors"
	"runtime"
	"syscall"
)

// Stand-ins for the helpers of processutil_unix.go: the process cases are
// skipped before they need them.

// procRequireUnix skips the case: its children are POSIX programs.
func procRequireUnix(c *C) {
	c.Helper()
	c.Skipf("the process cases run POSIX programs (/bin/sh, cat, ...), not available on %s", runtime.GOOS)
}

const (
	procSIGUSR1 = syscall.Signal(0)
	procSIGPIPE = syscall.Signal(0)
	procSIGHUP  = syscall.Signal(0)
)

var errProcNotUnix = errors.New("not available on " + runtime.GOOS)

func procWaitExited(int) error        { return errProcNotUnix }
func procChildFDs(int) ([]int, error) { return nil, errProcNotUnix }
func procInheritable() map[int]bool   { return nil }
func procState(int) (string, error)   { return "", errProcNotUnix }
