//go:build unix

package reactortest

import (
	"os"
	"syscall"
)

// Sending signals to the test process, for the signal cases; see
// signalutil_other.go for the systems where they are skipped.

// sigCanSend reports whether the cases can send signals to the process.
const sigCanSend = true

// The signals the cases use besides os.Interrupt and syscall.SIGTERM.
var (
	sigUser1 os.Signal = syscall.SIGUSR1
	sigUser2 os.Signal = syscall.SIGUSR2
)

// sigRaise sends sig to this process.
func sigRaise(sig os.Signal) error { return syscall.Kill(os.Getpid(), sig.(syscall.Signal)) }
