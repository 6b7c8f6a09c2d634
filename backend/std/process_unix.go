//go:build unix

package std

import (
	"os"
	"syscall"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/internal/spawn"
	"golang.org/x/sys/unix"
)

// canWatchPipes tells whether a watcher goroutine can learn that the child
// closed its end of a pipe it reads: the runtime's poller reports the error
// on the parent's end.
const canWatchPipes = true

// minChildFiles is the shortest descriptor list os.StartProcess takes.
const minChildFiles = 0

// spawnSupported reports what opts ask for that this platform cannot do.
func spawnSupported(opts *gyre.SpawnOptions) error {
	if opts.PTY != nil && !spawn.PTYSupported {
		return errPTYNotSupported
	}
	return nil
}

// checkChildFDs checks that the child can have n descriptors (any limit
// allows the first 64).
func checkChildFDs(n int) error {
	if n <= 64 {
		return nil
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && uint64(n) > uint64(lim.Cur) {
		return os.NewSyscallError("dup2", syscall.EBADF)
	}
	return nil
}

// inheritFile returns a close-on-exec duplicate of the parent's descriptor
// fd, for the child; the caller's descriptor and its flags stay as they are
// (a non-blocking descriptor stays non-blocking in both).
func inheritFile(fd int) (*os.File, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("dup", err)
	}
	return os.NewFile(uintptr(nfd), "inherited"), nil
}

// sysProcAttr returns the system attributes opts need, or nil (which lets
// os.StartProcess check the directory itself, for a clearer error).
func sysProcAttr(opts *gyre.SpawnOptions) *syscall.SysProcAttr {
	if opts.Credential == nil && opts.PTY == nil {
		return nil
	}
	sys := &syscall.SysProcAttr{}
	if c := opts.Credential; c != nil {
		groups := c.Groups
		if groups == nil {
			groups = []uint32{} // none, rather than the parent's
		}
		sys.Credential = &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: groups}
	}
	if opts.PTY != nil {
		// A new session, with the terminal (the child's descriptor 0) as
		// its controlling terminal.
		sys.Setsid = true
		sys.Setctty = true
		sys.Ctty = 0
	}
	return sys
}

// fileRawConn returns the descriptor access of a pipe the runtime polls, for
// the loop's non-blocking writes, or nil.
func fileRawConn(f *os.File) syscall.RawConn {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// direct is the loop's non-blocking write of pp.dbuf; it never waits.
func (pp *procPipe) direct(fd uintptr) bool {
	n, err := writeNow(fd, pp.dbuf)
	if err != nil {
		err = os.NewSyscallError("write", err)
	}
	pp.dn, pp.derr = n, err
	return true
}

// peerGone tells whether the other end of the pipe fd has closed; used as
// the watcher's read callback, it makes the watcher wait until then.
func peerGone(fd uintptr) bool {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	for {
		n, err := unix.Poll(fds[:], 0)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0
	}
}

// signalError is the error of a failed os.Process.Signal.
func signalError(_ syscall.Signal, err error) error { return err }
