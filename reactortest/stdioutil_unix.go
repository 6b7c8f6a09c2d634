//go:build unix

package reactortest

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// System-level helpers of the standard I/O cases, for Unix systems; see
// stdioutil_other.go for the rest.

// stdioNonblock reports whether f's open file description is non-blocking,
// without changing f (File.Fd would make it blocking).
func stdioNonblock(f *os.File) (nonblock bool, ok bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, false
	}
	fl := -1
	if rc.Control(func(fd uintptr) { fl, _ = unix.FcntlInt(fd, unix.F_GETFL, 0) }) != nil || fl < 0 {
		return false, false
	}
	return fl&unix.O_NONBLOCK != 0, true
}

// stdioBlockingPipe returns a pipe whose ends are blocking, as a shell hands
// them to a program (os.Pipe makes them non-blocking for the runtime's
// poller). Reading one blocks a thread until data or end of file comes.
func stdioBlockingPipe() (r, w *os.File, err error) {
	var p [2]int
	syscall.ForkLock.RLock()
	err = unix.Pipe(p[:])
	if err == nil {
		unix.CloseOnExec(p[0])
		unix.CloseOnExec(p[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, os.NewSyscallError("pipe", err)
	}
	return os.NewFile(uintptr(p[0]), "|0"), os.NewFile(uintptr(p[1]), "|1"), nil
}

// stdioEPIPE is the error a write to a pipe without a reader wraps.
var stdioEPIPE error = unix.EPIPE
