//go:build unix

package reactortest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The system-level helpers of the process cases, for Unix systems.

// procRequireUnix lets the case go on: children are POSIX programs here.
func procRequireUnix(c *C) {}

// Signals the cases use that not every GOOS defines.
const (
	procSIGUSR1 = syscall.SIGUSR1
	procSIGPIPE = syscall.SIGPIPE
	procSIGHUP  = syscall.SIGHUP
)

// procWaitExited waits, up to procWaitLimit, until the process pid has
// exited: it is a zombie that nobody has reaped yet, or it is gone (reaped).
// It does not reap it.
func procWaitExited(pid int) error {
	deadline := time.Now().Add(procWaitLimit)
	for {
		state, err := procState(pid)
		if err != nil {
			return err
		}
		if state == "" || state[0] == 'Z' {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d has not exited after %v (state %s)", pid, procWaitLimit, state)
		}
		time.Sleep(time.Millisecond)
	}
}

// procState returns the state letters of process pid ("S", "Z", ...), or ""
// if there is no such process.
func procState(pid int) (string, error) {
	if runtime.GOOS == "linux" {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		// Reaped before the open (no such file) or during the read
		// (ESRCH, wrapped in a *PathError).
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		s := string(data)
		end := strings.LastIndexByte(s, ')')
		if f := strings.Fields(s[end+1:]); end >= 0 && len(f) > 0 {
			return f[0], nil
		}
		return "", fmt.Errorf("cannot parse /proc/%d/stat: %q", pid, s)
	}
	ps, err := exec.LookPath("ps")
	if err != nil {
		return "", fmt.Errorf("cannot tell whether a process has exited: no /proc and no ps: %w", err)
	}
	out, err := exec.Command(ps, "-o", "stat=", "-p", strconv.Itoa(pid)).Output()
	s := strings.TrimSpace(string(out))
	if err != nil && s == "" {
		return "", nil // ps exits 1 when there is no such process
	}
	return s, nil
}

// procChildFDs lists the descriptors the process pid has open. It needs
// /proc (Linux).
func procChildFDs(pid int) ([]int, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("listing another process's descriptors needs /proc, which %s does not have", runtime.GOOS)
	}
	return procListFDs("/proc/" + strconv.Itoa(pid) + "/fd")
}

func procListFDs(dir string) ([]int, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil {
			fds = append(fds, fd)
		}
	}
	sort.Ints(fds)
	return fds, nil
}

// procInheritable returns this process's descriptors above 2 that are not
// close-on-exec: descriptors the test process was given by whatever started
// it, which every child inherits whatever the reactor does.
func procInheritable() map[int]bool {
	out := make(map[int]bool)
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		fds, err := procListFDs(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if fd <= 2 {
				continue
			}
			flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			if err == nil && flags&unix.FD_CLOEXEC == 0 {
				out[fd] = true
			}
		}
		break
	}
	return out
}
