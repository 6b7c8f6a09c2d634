//go:build !unix

package reactortest

import (
	"errors"
	"os"
	"runtime"
)

// Stand-ins for signalutil_unix.go: the signal cases are skipped.

const sigCanSend = false

var (
	sigUser1 os.Signal = os.Interrupt
	sigUser2 os.Signal = os.Interrupt
)

func sigRaise(os.Signal) error { return errors.New("cannot send signals on " + runtime.GOOS) }
