package spawn

import (
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// sigIgn returns the SigIgn mask a child reports for itself.
func sigIgn(t *testing.T, start func(*exec.Cmd) error) uint64 {
	t.Helper()
	cmd := exec.Command("sh", "-c", "grep SigIgn /proc/self/status")
	var out strings.Builder
	cmd.Stdout = &out
	if err := start(cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out.String())
	if len(f) != 2 {
		t.Fatalf("unexpected output %q", out.String())
	}
	m, err := strconv.ParseUint(f[1], 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestWithDefaultSignals(t *testing.T) {
	const bit = 1 << (syscall.SIGUSR2 - 1)
	signal.Ignore(syscall.SIGUSR2)
	defer signal.Reset(syscall.SIGUSR2)
	if m := sigIgn(t, (*exec.Cmd).Start); m&bit == 0 {
		t.Fatalf("without WithDefaultSignals the child should inherit the ignored SIGUSR2 (mask %x)", m)
	}
	m := sigIgn(t, func(c *exec.Cmd) error { return WithDefaultSignals(c.Start) })
	if m&bit != 0 {
		t.Fatalf("SIGUSR2 is still ignored in the child (mask %x)", m)
	}
	if !signal.Ignored(syscall.SIGUSR2) {
		t.Fatal("SIGUSR2 is no longer ignored in the parent")
	}
	// The parent still survives the signal.
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
}

func TestOpenPTY(t *testing.T) {
	m, s, err := OpenPTY(30, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(m)
	defer unix.Close(s)
	ws, err := unix.IoctlGetWinsize(m, unix.TIOCGWINSZ)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Row != 30 || ws.Col != 100 {
		t.Fatalf("window size %dx%d, want 30x100", ws.Row, ws.Col)
	}
	for _, fd := range []int{m, s} {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || fl&unix.FD_CLOEXEC == 0 {
			t.Fatalf("fd %d not close-on-exec (%v)", fd, err)
		}
	}
	if _, err := unix.Write(s, []byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	p := []unix.PollFd{{Fd: int32(m), Events: unix.POLLIN}}
	if _, err := unix.Poll(p, 5000); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := unix.Read(m, buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "hi") {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}

// TestIgnoredAtStartup runs this test binary again with SIGHUP ignored from
// the start, as nohup does: the runtime then leaves SIGHUP alone, and only
// WithDefaultSignals gives a grandchild the default.
func TestIgnoredAtStartup(t *testing.T) {
	if os.Getenv("GYRE_SPAWN_NOHUP") == "1" {
		const bit = 1 << (syscall.SIGHUP - 1)
		if !signal.Ignored(syscall.SIGHUP) {
			t.Fatal("SIGHUP is not ignored in the re-executed test")
		}
		if m := sigIgn(t, func(c *exec.Cmd) error { return WithDefaultSignals(c.Start) }); m&bit != 0 {
			t.Fatalf("SIGHUP is still ignored in the grandchild (mask %x)", m)
		}
		if !signal.Ignored(syscall.SIGHUP) {
			t.Fatal("SIGHUP is no longer ignored")
		}
		return
	}
	signal.Ignore(syscall.SIGHUP)
	cmd := exec.Command(os.Args[0], "-test.run=^TestIgnoredAtStartup$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GYRE_SPAWN_NOHUP=1")
	out, err := cmd.CombinedOutput()
	signal.Reset(syscall.SIGHUP)
	if err != nil {
		t.Fatalf("re-executed test: %v\n%s", err, out)
	}
}
