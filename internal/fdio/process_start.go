//go:build unix

package fdio

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/internal/spawn"
)

var _ gyre.Processes = (*Net)(nil)

// closeFD in a child's file table: syscall.ForkExec closes the child's
// descriptor i when Files[i] is this.
const closeFD = ^uintptr(0)

// SpawnProcess implements gyre.Processes.
func (n *Net) SpawnProcess(proto gyre.ProcessProtocol, path string, args []string, opts *gyre.SpawnOptions) (gyre.ProcessTransport, error) {
	if n.stopped {
		return nil, gyre.ErrStopped
	}
	if proto == nil {
		return nil, gyre.ErrNilFunc
	}
	if opts == nil {
		opts = &gyre.SpawnOptions{}
	}
	if err := checkSpawn(path, args, opts); err != nil {
		return nil, err
	}
	n.procSet()
	if len(args) == 0 {
		args = []string{path}
	}
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	if opts.Dir != "" {
		if _, err := os.Stat(opts.Dir); err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				pe.Op = "chdir"
			}
			return nil, fmt.Errorf("%w: %w", gyre.ErrSpawn, err)
		}
	}

	p := &process{n: n, proto: proto, pidfd: -1, tty: opts.PTY != nil}
	sys := &syscall.SysProcAttr{}
	var files, childEnds []uintptr
	fail := func(err error) (gyre.ProcessTransport, error) {
		for _, fd := range childEnds {
			unix.Close(int(fd))
		}
		for _, pp := range p.pipes {
			unix.Close(pp.fd)
		}
		return nil, err
	}
	if p.tty {
		master, slave, err := spawn.OpenPTY(opts.PTY.Rows, opts.PTY.Cols)
		if err != nil {
			if errors.Is(err, gyre.ErrNotSupported) {
				return nil, fmt.Errorf("%w: pseudo-terminals on %s", gyre.ErrNotSupported, runtime.GOOS)
			}
			return nil, fmt.Errorf("%w: %w", gyre.ErrSpawn, err)
		}
		p.pipes = []*procPipe{{p: p, fd: master, child: 1, tty: true}}
		childEnds = []uintptr{uintptr(slave)}
		files = []uintptr{uintptr(slave), uintptr(slave), uintptr(slave)}
		sys.Setsid, sys.Setctty, sys.Ctty = true, true, 0
	} else {
		fds := opts.FDs
		if fds == nil {
			fds = map[int]gyre.ChildFD{0: gyre.ChildReads, 1: gyre.ChildWrites, 2: gyre.ChildWrites}
		}
		order := make([]int, 0, len(fds))
		for fd := range fds {
			order = append(order, fd)
		}
		sort.Ints(order)
		top := 2 // 0, 1 and 2 are always set: closed if not mapped
		for _, fd := range order {
			top = max(top, fd)
		}
		files = make([]uintptr, top+1)
		for i := range files {
			files[i] = closeFD
		}
		for _, fd := range order {
			k := fds[fd]
			if inherited, ok := k.Inherited(); ok {
				files[fd] = uintptr(inherited)
				continue
			}
			r, w, err := Pipe()
			if err != nil {
				return fail(fmt.Errorf("%w: %w", gyre.ErrSpawn, err))
			}
			parent, child := r, w
			if k.IsChildReads() {
				parent, child = w, r
			}
			childEnds = append(childEnds, uintptr(child))
			p.pipes = append(p.pipes, &procPipe{p: p, fd: parent, child: fd, toChild: k.IsChildReads()})
			files[fd] = uintptr(child)
			if err := unix.SetNonblock(parent, true); err != nil {
				return fail(fmt.Errorf("%w: %w", gyre.ErrSpawn, os.NewSyscallError("fcntl", err)))
			}
		}
	}
	if c := opts.Credential; c != nil {
		sys.Credential = &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: c.Groups}
	}
	var pidfd int
	usePidfd := setPidFD(sys, &pidfd)
	if !usePidfd {
		// Watch SIGCHLD before the fork, so that an exit right after it
		// is not missed.
		chldAcquire(n)
		p.sigchld = true
	}
	attr := &syscall.ProcAttr{Dir: opts.Dir, Env: env, Files: files, Sys: sys}
	var pid int
	err := spawn.WithDefaultSignals(func() error {
		var err error
		pid, err = syscall.ForkExec(path, args, attr)
		return err
	})
	if err != nil {
		if p.sigchld {
			p.sigchld = false
			chldRelease(n)
		}
		return fail(fmt.Errorf("%w: %w", gyre.ErrSpawn, &os.PathError{Op: "fork/exec", Path: path, Err: err}))
	}
	for _, fd := range childEnds {
		unix.Close(int(fd))
	}
	p.pid = pid
	n.procs.live[p] = struct{}{}
	if usePidfd {
		p.pidfd = pidfd
		if pidfd < 0 || n.p.Add(pidfd, pidWatch{p}, In) != nil {
			// No pidfd after all: fall back to SIGCHLD, and look once
			// in case the exit has come already.
			if pidfd >= 0 {
				unix.Close(pidfd)
			}
			p.pidfd = -1
			chldAcquire(n)
			p.sigchld = true
			n.queueReapAll()
		}
	}
	for _, pp := range p.pipes {
		pp.interest = pp.want()
		if err := n.p.Add(pp.fd, pp, pp.interest); err != nil {
			n.l.Logger().Error("gyre: watching a child's pipe", "pid", pid, "fd", pp.child, "err", err)
			unix.Close(pp.fd)
			pp.fd, pp.interest = -1, 0
			pp.lost = true
			n.procLater(procEvent{p: p, pp: pp})
		}
	}
	n.l.Call(func() { proto.ConnectionMade(p) })
	return p, nil
}

// checkSpawn refuses options that contradict each other or are malformed.
func checkSpawn(path string, args []string, opts *gyre.SpawnOptions) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", gyre.ErrSpawnOptions, fmt.Sprintf(format, a...))
	}
	if opts.PTY != nil && opts.FDs != nil {
		return bad("FDs and PTY cannot be combined")
	}
	for fd, k := range opts.FDs {
		switch {
		case fd < 0:
			return bad("negative child descriptor %d", fd)
		case !k.Valid():
			return bad("child descriptor %d: invalid ChildFD", fd)
		}
		if parent, ok := k.Inherited(); ok && parent < 0 {
			return bad("child descriptor %d: InheritFD(%d)", fd, parent)
		}
	}
	if strings.IndexByte(path, 0) >= 0 {
		return bad("NUL byte in the program's path")
	}
	if strings.IndexByte(opts.Dir, 0) >= 0 {
		return bad("NUL byte in the directory")
	}
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return bad("NUL byte in an argument")
		}
	}
	for _, kv := range opts.Env {
		if strings.IndexByte(kv, 0) >= 0 {
			return bad("NUL byte in an environment entry")
		}
	}
	return nil
}
