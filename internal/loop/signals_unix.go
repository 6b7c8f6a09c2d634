//go:build unix

package loop

import (
	"os"
	"syscall"
)

// uncatchable reports whether no program can catch sig.
func uncatchable(sig os.Signal) bool { return sig == syscall.SIGKILL || sig == syscall.SIGSTOP }
