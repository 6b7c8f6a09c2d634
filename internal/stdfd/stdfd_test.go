//go:build unix

package stdfd

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func nonblock(t *testing.T, fd int) bool {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fl&unix.O_NONBLOCK != 0
}

// TestSharedDescription: one blocking socket as both in and out (as a shell
// hands a terminal over): both duplicates are non-blocking, releasing out
// leaves in non-blocking, releasing in too puts the flag back.
func TestSharedDescription(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	f := os.NewFile(uintptr(fds[0]), "socket")
	defer f.Close()
	p, err := Open(f, f)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Shared() {
		t.Error("one description as in and out is not seen as shared")
	}
	if p.In.FD < 3 || p.Out.FD < 3 || p.In.FD == fds[0] || p.Out.FD == fds[0] || p.In.FD == p.Out.FD {
		t.Errorf("duplicates %d and %d of %d", p.In.FD, p.Out.FD, fds[0])
	}
	for _, fd := range []int{p.In.FD, p.Out.FD} {
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
			t.Errorf("duplicate %d is not close-on-exec (%v)", fd, err)
		}
	}
	if !nonblock(t, fds[0]) {
		t.Fatal("the description was not made non-blocking")
	}
	unix.Close(p.Release(&p.Out))
	if !nonblock(t, p.In.FD) {
		t.Error("releasing out made the in still in use blocking")
	}
	unix.Close(p.Release(&p.In))
	if nonblock(t, fds[0]) {
		t.Error("the description is still non-blocking once both ends are released")
	}
	if p.Release(&p.In) != -1 {
		t.Error("a second Release returned a descriptor")
	}
}

// TestRegularFile: a regular file is duplicated but left as it is.
func TestRegularFile(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := Open(f, f)
	if err != nil {
		t.Fatal(err)
	}
	if !p.In.Regular || !p.Out.Regular || nonblock(t, p.In.FD) {
		t.Errorf("regular file: Regular %v %v, non-blocking %v", p.In.Regular, p.Out.Regular, nonblock(t, p.In.FD))
	}
	unix.Close(p.Release(&p.In))
	unix.Close(p.Release(&p.Out))
}
