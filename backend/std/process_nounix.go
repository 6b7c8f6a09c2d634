//go:build !unix

package std

import (
	"fmt"
	"os"
	"runtime"
	"syscall"

	"github.com/gyre-go/gyre"
)

// canWatchPipes is false: nothing tells when the child closes its end of a
// pipe it reads, other than a failing write; such a pipe counts as lost when
// the child has been reaped.
const canWatchPipes = false

// checkChildFDs accepts any count; spawnSupported has refused what the
// platform cannot map.
func checkChildFDs(int) error { return nil }

// inheritFile returns gyre.ErrNotSupported: the parent's descriptors are not
// given to children here.
func inheritFile(int) (*os.File, error) {
	return nil, fmt.Errorf("%w: InheritFD on %s", gyre.ErrNotSupported, runtime.GOOS)
}

// sysProcAttr returns nil; spawnSupported has refused credentials and
// terminals.
func sysProcAttr(*gyre.SpawnOptions) *syscall.SysProcAttr { return nil }

// fileRawConn returns nil: every write to a child goes through the writer
// goroutine here.
func fileRawConn(*os.File) syscall.RawConn { return nil }

func (pp *procPipe) direct(uintptr) bool { return true }

func peerGone(uintptr) bool { return true }

// exitedUnreaped reports false: an exit is known once the child is reaped.
func exitedUnreaped(int) bool { return false }

// signalError is the error of a failed os.Process.Signal; only SIGKILL can
// be sent here.
func signalError(sig syscall.Signal, err error) error {
	if sig != syscall.SIGKILL {
		return fmt.Errorf("%w: signal %v on %s: %w", gyre.ErrNotSupported, sig, runtime.GOOS, err)
	}
	return err
}
