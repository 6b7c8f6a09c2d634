//go:build linux

package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// StartPinned starts cmd with its CPU affinity set to cpu (if cpu >= 0). A
// child inherits the affinity of the thread that forks it, so the mask is
// set on this goroutine's locked thread around Start, then put back. The
// child's Go runtime sees one CPU from its first instruction and sizes
// GOMAXPROCS to it.
func (h *Harness) StartPinned(cmd *exec.Cmd, cpu int) error {
	if cpu < 0 {
		return cmd.Start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return err
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to CPU %d: %w", cpu, err)
	}
	err := cmd.Start()
	if rerr := unix.SchedSetaffinity(0, &old); rerr != nil {
		h.Fatalf("restoring the CPU affinity: %v", rerr)
	}
	return err
}

// CheckCPUs checks that the CPUs to pin to exist and that pinning takes: it
// starts a child pinned to each and reads back its allowed CPUs, which it
// returns (server's, then load generator's). If either CPU is missing, both
// sides run unpinned.
func (h *Harness) CheckCPUs() (server, client string) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		h.Fatalf("sched_getaffinity: %v", err)
	}
	for _, p := range []*int{&h.ServerCPU, &h.ClientCPU} {
		if *p >= 0 && !set.IsSet(*p) {
			fmt.Fprintf(os.Stderr, "%s: CPU %d is not available to this process; running unpinned\n", h.Prog, *p)
			h.ServerCPU, h.ClientCPU = -1, -1
		}
	}
	if h.ServerCPU >= 0 && h.ServerCPU == h.ClientCPU {
		fmt.Fprintf(os.Stderr, "%s: server and load generator share CPU %d\n", h.Prog, h.ServerCPU)
	}
	got := make([]string, 2)
	for i, cpu := range []int{h.ServerCPU, h.ClientCPU} {
		cmd := exec.Command("sleep", "0.05")
		if err := h.StartPinned(cmd, cpu); err != nil {
			h.Fatalf("%v", err)
		}
		got[i] = CPUsAllowed(cmd.Process.Pid)
		_ = cmd.Wait()
	}
	return got[0], got[1]
}

// CPUsAllowed returns the Cpus_allowed_list line of a process.
func CPUsAllowed(pid int) string {
	return ProcStatus(pid, "Cpus_allowed_list")
}

// ProcStatus returns the value of one line of /proc/PID/status, or "".
func ProcStatus(pid int, key string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TailBuffer keeps the last few KiB written to it.
type TailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// ChildStderr is where a child's stderr goes: t, and os.Stderr if verbose.
func (h *Harness) ChildStderr(t *TailBuffer) io.Writer {
	if h.Verbose {
		return io.MultiWriter(os.Stderr, t)
	}
	return t
}

// ServerProc is a running server child.
type ServerProc struct {
	Name   string
	Addr   string
	Cmd    *exec.Cmd
	Stdin  io.WriteCloser
	Stderr *TailBuffer
	exited chan struct{}
}

// StartServer starts a server child (this binary with args), pinned to
// ServerCPU, and waits until it reports on its file descriptor 3. ready
// reads that first line: the server's address and true if the server is
// ready. A line "unavailable: reason" gives an ErrUnavailable.
func (h *Harness) StartServer(name string, args []string, ready func(line string) (addr string, ok bool)) (*ServerProc, error) {
	s := &ServerProc{Name: name, Stderr: &TailBuffer{}, exited: make(chan struct{})}
	s.Cmd = exec.Command(h.Self, args...)
	s.Cmd.Stderr = h.ChildStderr(s.Stderr)
	s.Cmd.Stdout = h.ChildStderr(s.Stderr)
	var err error
	if s.Stdin, err = s.Cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, ctlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer out.Close()
	s.Cmd.ExtraFiles = []*os.File{ctlW} // the child's fd 3
	err = h.StartPinned(s.Cmd, h.ServerCPU)
	_ = ctlW.Close()
	if err != nil {
		return nil, err
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		} else {
			lines <- ""
		}
	}()
	go func() {
		_ = s.Cmd.Wait()
		close(s.exited)
	}()
	select {
	case line := <-lines:
		if addr, ok := ready(line); ok {
			s.Addr = addr
			return s, nil
		}
		if strings.HasPrefix(line, "unavailable: ") {
			<-s.exited
			return nil, ErrUnavailable{strings.TrimPrefix(line, "unavailable: ")}
		}
		s.Kill()
		return nil, fmt.Errorf("server %s did not start: %q %s", name, line, s.Stderr)
	case <-time.After(15 * time.Second):
		s.Kill()
		return nil, fmt.Errorf("server %s: not ready after 15 s; stderr: %s", name, s.Stderr)
	}
}

// Alive reports whether the server process is still running.
func (s *ServerProc) Alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Stop closes the server's stdin and waits a little for it to exit; then
// kills it.
func (s *ServerProc) Stop() {
	_ = s.Stdin.Close()
	select {
	case <-s.exited:
	case <-time.After(2 * time.Second):
		s.Kill()
	}
}

// Kill kills the server and waits for it to exit.
func (s *ServerProc) Kill() {
	_ = s.Cmd.Process.Kill()
	<-s.exited
}

// RunLoad runs one load child (this binary with args), pinned to ClientCPU,
// for at most timeout, and decodes the JSON it prints into res.
func (h *Harness) RunLoad(args []string, timeout time.Duration, res any) error {
	cmd := exec.Command(h.Self, args...)
	stderr := &TailBuffer{}
	cmd.Stderr = h.ChildStderr(stderr)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := h.StartPinned(cmd, h.ClientCPU); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		err = fmt.Errorf("no result after %v", timeout)
	}
	if err != nil {
		msg := stderr.String()
		if msg == "" {
			msg = err.Error()
		}
		return errors.New(strings.TrimPrefix(msg, h.Prog+": "))
	}
	if err := json.Unmarshal(stdout.Bytes(), res); err != nil {
		return fmt.Errorf("load result: %v: %q", err, stdout.String())
	}
	return nil
}

// Measure starts a server, runs f against it and stops it. A server that
// exited meanwhile turns the result into an error that says so.
func Measure[R any](start func() (*ServerProc, error), f func(*ServerProc) (R, error)) (R, error) {
	s, err := start()
	if err != nil {
		var zero R
		return zero, err
	}
	defer s.Stop()
	res, err := f(s)
	if err == nil && !s.Alive() {
		err = errors.New("server exited")
	}
	if err != nil && !s.Alive() {
		err = fmt.Errorf("%v; server exited: %s", err, s.Stderr)
	}
	return res, err
}

// ServeChild is the body of a server child: serve starts the server and
// returns what to report after "ready" (or "") and how to stop it. The
// child reports on file descriptor 3 "ready[ ADDR]" or "unavailable:
// reason", serves until its stdin closes, and exits.
func ServeChild(serve func() (addr string, stop func(), err error)) {
	ctl := os.NewFile(3, "control")
	addr, stop, err := serve()
	if err == nil {
		if addr != "" {
			fmt.Fprintln(ctl, "ready "+addr)
		} else {
			fmt.Fprintln(ctl, "ready")
		}
		_ = ctl.Close()
		_, _ = io.Copy(io.Discard, os.Stdin)
		// The parent closed stdin: stop, but do not wait long for a
		// graceful shutdown the benchmark does not need.
		go stop()
		time.Sleep(20 * time.Millisecond)
		os.Exit(0)
	}
	fmt.Fprintf(ctl, "unavailable: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	_ = ctl.Close()
	os.Exit(0)
}
