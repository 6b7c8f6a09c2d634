//go:build linux

package std_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/backend/std"
)

func init() {
	// os/signal's goroutine runs for good once anything has called
	// signal.Notify (Run does, and so does a spawn while a signal is
	// ignored): start it before the tests count goroutines.
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR2)
	signal.Stop(c)
}

// child records what a ProcessProtocol hears, in order.
type child struct {
	t       gyre.ProcessTransport
	out     map[int]*bytes.Buffer
	discard bool // count nothing into out
	events  []string
	exited  *gyre.ExitStatus
	ended   *gyre.ExitStatus
	made    func(c *child)
	data    func(c *child, fd int, b []byte)
	onExit  func(c *child)
	onEnded func(c *child)
}

func (c *child) ConnectionMade(t gyre.ProcessTransport) {
	c.t = t
	c.out = map[int]*bytes.Buffer{}
	if c.made != nil {
		c.made(c)
	}
}

func (c *child) ChildDataReceived(fd int, b []byte) {
	if c.discard {
		c.data(c, fd, b)
		return
	}
	if c.out[fd] == nil {
		c.out[fd] = &bytes.Buffer{}
	}
	c.out[fd].Write(b)
	if c.data != nil {
		c.data(c, fd, b)
	}
}

func (c *child) ChildConnectionLost(fd int) {
	c.events = append(c.events, fmt.Sprintf("lost %d", fd))
}

func (c *child) ProcessExited(s gyre.ExitStatus) {
	c.exited = &s
	c.events = append(c.events, "exited "+s.String())
	if c.onExit != nil {
		c.onExit(c)
	}
}

func (c *child) ProcessEnded(s gyre.ExitStatus) {
	c.ended = &s
	c.events = append(c.events, "ended "+s.String())
	if c.onEnded != nil {
		c.onEnded(c)
	}
}

func (c *child) text(fd int) string {
	if c.out[fd] == nil {
		return ""
	}
	return c.out[fd].String()
}

// spawn starts sh -c script and stops the reactor when it ends.
func spawn(t *testing.T, r *std.Reactor, c *child, script string, opts *gyre.SpawnOptions) gyre.ProcessTransport {
	t.Helper()
	if c.onEnded == nil {
		c.onEnded = func(*child) { _ = r.Stop() }
	}
	pt, err := r.SpawnProcess(c, "/bin/sh", []string{"sh", "-c", script}, opts)
	if err != nil {
		t.Fatalf("SpawnProcess: %v", err)
	}
	return pt
}

func fdCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestProcessEcho(t *testing.T) {
	before, fds := runtime.NumGoroutine(), fdCount(t)
	r := newReactor(t)
	c := &child{made: func(c *child) {
		_ = c.t.Write([]byte("hello "))
		_ = c.t.WriteSequence([][]byte{[]byte("wor"), []byte("ld\n")})
		_ = c.t.CloseStdin()
	}}
	spawn(t, r, c, "cat; echo err >&2; exit 3", nil)
	run(t, r, before)
	if got := c.text(1); got != "hello world\n" {
		t.Errorf("stdout %q", got)
	}
	if got := c.text(2); got != "err\n" {
		t.Errorf("stderr %q", got)
	}
	if c.ended == nil || c.ended.Code != 3 || !errors.Is(c.ended.Err(), gyre.ErrProcessFailed) {
		t.Errorf("ended %v", c.ended)
	}
	if last := c.events[len(c.events)-1]; last != "ended exit status 3" {
		t.Errorf("events %v", c.events)
	}
	if c.t.Pid() != 0 {
		t.Errorf("Pid after ProcessEnded: %d", c.t.Pid())
	}
	if n := fdCount(t); n != fds {
		t.Errorf("%d descriptors before, %d after", fds, n)
	}
}

func TestProcessSignal(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newReactor(t)
	c := &child{data: func(c *child, fd int, b []byte) {
		if err := c.t.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("Signal: %v", err)
		}
	}}
	c.onEnded = func(c *child) {
		if err := c.t.Signal(syscall.SIGTERM); !errors.Is(err, gyre.ErrProcessExited) {
			t.Errorf("Signal after end: %v", err)
		}
		_ = r.Stop()
	}
	spawn(t, r, c, "echo ready; exec sleep 30", nil)
	run(t, r, before)
	if c.ended == nil || c.ended.Signal != syscall.SIGTERM || c.ended.Code != -1 {
		t.Errorf("ended %v", c.ended)
	}
}

// TestProcessSignalUnreaped checks that Signal knows of an exit the reactor
// has not yet noticed: the loop is kept busy until the child is a zombie.
func TestProcessSignalUnreaped(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newReactor(t)
	c := &child{}
	c.made = func(c *child) {
		pid := c.t.Pid()
		// Block the loop until the child is a zombie.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if f := strings.Fields(string(st)); len(f) > 2 && f[2] == "Z" {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if err := c.t.Signal(syscall.SIGTERM); !errors.Is(err, gyre.ErrProcessExited) {
			t.Errorf("Signal to an unreaped child: %v", err)
		}
	}
	spawn(t, r, c, "exit 7", nil)
	run(t, r, before)
	if c.ended == nil || c.ended.Code != 7 {
		t.Errorf("ended %v", c.ended)
	}
}

func TestProcessVolume(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newReactor(t)
	n := 0
	const size = 50 << 20
	c := &child{discard: true, data: func(c *child, fd int, b []byte) { n += len(b) }}
	spawn(t, r, c, fmt.Sprintf("head -c %d /dev/zero", size), nil)
	run(t, r, before)
	if c.ended == nil || !c.ended.Success() {
		t.Errorf("ended %v", c.ended)
	}
	if got := n; got != size {
		t.Errorf("got %d bytes, want %d", got, size)
	}
}

func TestProcessWriteVolume(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newReactor(t)
	const size = 50 << 20
	c := &child{made: func(c *child) {
		_ = c.t.Write(bytes.Repeat([]byte{'x'}, size))
		_ = c.t.CloseStdin()
	}}
	spawn(t, r, c, "wc -c", nil)
	run(t, r, before)
	if got := strings.TrimSpace(c.text(1)); got != fmt.Sprint(size) {
		t.Errorf("child counted %q, want %d", got, size)
	}
}

func TestProcessStdinBroken(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newReactor(t)
	c := &child{}
	spawn(t, r, c, "exec 0<&-; echo closed; sleep 0.2", nil)
	c.data = func(c *child, fd int, b []byte) {}
	run(t, r, before)
	want := "lost 0"
	found := false
	for _, e := range c.events {
		found = found || e == want
	}
	if !found {
		t.Errorf("events %v", c.events)
	}
	if err := c.t.Write([]byte("x")); !errors.Is(err, gyre.ErrUnknownChildFD) {
		t.Errorf("Write after loss: %v", err)
	}
}

func TestProcessExitedBeforeEnded(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newReactor(t)
	c := &child{}
	c.onExit = func(c *child) {
		if c.ended != nil {
			t.Error("ended before exited")
		}
	}
	// The grandchild keeps the pipes for 0.3 s after the child exits.
	spawn(t, r, c, "(sleep 0.3; echo late) & exit 0", nil)
	run(t, r, before)
	if c.text(1) != "late\n" {
		t.Errorf("stdout %q", c.text(1))
	}
	// (A background job's stdin is /dev/null: the child's exit may close
	// descriptor 0 before it is reaped.)
	ev := strings.Join(c.events, ",")
	ex := strings.Index(ev, "exited exit status 0")
	if ex < 0 || ex > strings.Index(ev, "lost 1") || ex > strings.Index(ev, "lost 2") ||
		!strings.HasSuffix(ev, "ended exit status 0") {
		t.Errorf("events %v", c.events)
	}
}

func TestProcessPause(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newReactor(t)
	c := &child{}
	c.made = func(c *child) { c.t.PauseProducing() }
	c.onExit = func(c *child) {
		if c.text(1) != "" {
			t.Errorf("data while paused: %q", c.text(1))
		}
		c.t.ResumeProducing()
	}
	spawn(t, r, c, "echo one; exit 0", nil)
	run(t, r, before)
	if c.text(1) != "one\n" {
		t.Errorf("stdout %q", c.text(1))
	}
}

func TestProcessFDs(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newReactor(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	c := &child{made: func(c *child) {
		_ = c.t.WriteToChild(4, []byte("to four\n"))
		_ = c.t.CloseChildFD(4)
		if err := c.t.WriteToChild(3, []byte("x")); !errors.Is(err, gyre.ErrUnknownChildFD) {
			t.Errorf("WriteToChild(3): %v", err)
		}
	}}
	opts := &gyre.SpawnOptions{FDs: map[int]gyre.ChildFD{
		1: gyre.ChildWrites, 3: gyre.ChildWrites, 4: gyre.ChildReads, 5: gyre.InheritFD(int(pw.Fd())),
	}}
	spawn(t, r, c, "read l <&4; echo \"$l\" >&3; echo via5 >&5; for f in 0 1 2 3 4 5; do [ -e /proc/$$/fd/$f ] && echo \"$f\"; done", opts)
	run(t, r, before)
	pw.Close()
	if c.text(3) != "to four\n" {
		t.Errorf("fd 3: %q", c.text(3))
	}
	buf := make([]byte, 16)
	n, _ := pr.Read(buf)
	if string(buf[:n]) != "via5\n" {
		t.Errorf("inherited: %q", buf[:n])
	}
	if got := strings.Fields(c.text(1)); strings.Join(got, " ") != "1 3 4 5" {
		t.Errorf("child descriptors %v, want 1 3 4 5", got)
	}
}

func TestProcessPTY(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newReactor(t)
	c := &child{}
	spawn(t, r, c, "tty >/dev/null && echo tty; stty size", &gyre.SpawnOptions{PTY: &gyre.PTYOptions{Rows: 24, Cols: 91}})
	run(t, r, before)
	if got := c.text(1); got != "tty\r\n24 91\r\n" {
		t.Errorf("output %q", got)
	}
	for _, e := range c.events {
		if strings.HasPrefix(e, "lost") {
			t.Errorf("ChildConnectionLost for a terminal: %v", c.events)
		}
	}
	if err := c.t.CloseStdin(); !errors.Is(err, gyre.ErrUnknownChildFD) {
		t.Errorf("CloseStdin on a terminal: %v", err)
	}
}

func TestProcessSpawnErrors(t *testing.T) {
	fds := fdCount(t)
	r := newReactor(t)
	c := &child{}
	_, err := r.SpawnProcess(c, "/nonexistent/prog", nil, nil)
	if !errors.Is(err, gyre.ErrSpawn) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing program: %v", err)
	}
	_, err = r.SpawnProcess(c, "/", nil, nil)
	if !errors.Is(err, gyre.ErrSpawn) || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("directory: %v", err)
	}
	_, err = r.SpawnProcess(c, "/bin/true", nil, &gyre.SpawnOptions{Dir: "/nonexistent/dir"})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(fmt.Sprint(err), "/nonexistent/dir") {
		t.Errorf("bad dir: %v", err)
	}
	_, err = r.SpawnProcess(c, "/bin/true", nil, &gyre.SpawnOptions{FDs: map[int]gyre.ChildFD{0: {}}})
	if !errors.Is(err, gyre.ErrSpawnOptions) {
		t.Errorf("invalid ChildFD: %v", err)
	}
	_, err = r.SpawnProcess(c, "/bin/true", []string{"a\x00b"}, nil)
	if !errors.Is(err, gyre.ErrSpawnOptions) {
		t.Errorf("NUL: %v", err)
	}
	if c.t != nil {
		t.Error("ConnectionMade called")
	}
	if n := fdCount(t); n != fds {
		t.Errorf("%d descriptors before, %d after", fds, n)
	}
	_ = r.FireSystemEvent(gyre.Shutdown)
}

// TestProcessShutdown checks that a child still running at shutdown is let
// go: pipes lost, no ProcessEnded, Pid 0, Signal ErrStopped; and that it is
// still reaped once it exits.
func TestProcessShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newReactor(t)
	c := &child{data: func(c *child, fd int, b []byte) { _ = r.Stop() }}
	c.onEnded = func(*child) {}
	pt := spawn(t, r, c, "echo up; exec sleep 30", nil)
	pid := pt.Pid()
	run(t, r, before+1) // the waiter outlives the reactor
	if strings.Join(c.events, ",") != "lost 0,lost 1,lost 2" {
		t.Errorf("events %v", c.events)
	}
	if pt.Pid() != 0 || !errors.Is(pt.Signal(syscall.SIGKILL), gyre.ErrStopped) {
		t.Errorf("after shutdown: pid %d", pt.Pid())
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d not reaped after the reactor stopped", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
