//go:build linux

// End-to-end tests: they build the real gyre binary once, start its demo
// servers as a user would (gyre echo -listen 127.0.0.1:0 ...), and talk to
// them with peers written elsewhere: netcat-openbsd, socat, and plain
// net.Conns of the test. This file holds the shared machinery: building the
// binary, starting and stopping processes, and waiting on their output.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gyreBin is the binary built by TestMain.
var gyreBin string

// envNofile makes the test binary a launcher instead of a test run: it sets
// RLIMIT_NOFILE (soft and hard) to the variable's value and execs its
// arguments. It is the fallback for prlimit(1); see startLimited.
const envNofile = "GYRE_E2E_NOFILE"

// Deadlines. The machine is small and shared, and the test process may run
// under -race: they are generous, and only bound how long a broken server
// can stall the run.
const (
	startTimeout = 15 * time.Second // a server prints its listening line
	stopTimeout  = 10 * time.Second // a server exits after SIGINT
	lineTimeout  = 10 * time.Second // an expected line arrives
	exitTimeout  = 15 * time.Second // a client exits by itself
)

func TestMain(m *testing.M) {
	if v := os.Getenv(envNofile); v != "" {
		execWithNofile(v, os.Args[1:]) // does not return
	}
	dir, err := os.MkdirTemp("", "gyre-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	gyreBin = filepath.Join(dir, "gyre")
	build := exec.Command(goTool(), "build", "-o", gyreBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building gyre:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if kids := children(2 * time.Second); len(kids) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: child processes left running: %s\n", strings.Join(kids, "; "))
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// goTool returns the go command. go test puts the toolchain that runs it
// first on the PATH of the test binary.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// execWithNofile is the launcher of envNofile: set the limit, then become
// args[0].
func execWithNofile(v string, args []string) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || len(args) == 0 {
		fmt.Fprintf(os.Stderr, "e2e launcher: bad %s=%q or no command\n", envNofile, v)
		os.Exit(2)
	}
	lim := syscall.Rlimit{Cur: n, Max: n}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintln(os.Stderr, "e2e launcher: setrlimit:", err)
		os.Exit(2)
	}
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, envNofile+"=") {
			env = append(env, e)
		}
	}
	err = syscall.Exec(args[0], args, env)
	fmt.Fprintln(os.Stderr, "e2e launcher: exec:", err)
	os.Exit(2)
}

// children lists the processes whose parent is this one, waiting up to d
// for them to go. Every process a test starts is waited for by its
// cleanup, so any that remains was leaked.
func children(d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		kids := childrenNow()
		if len(kids) == 0 || time.Now().After(deadline) {
			return kids
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func childrenNow() []string {
	me := strconv.Itoa(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	var kids []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		if statusField(b, "PPid") == me {
			kids = append(kids, e.Name()+" "+statusField(b, "Name"))
		}
	}
	return kids
}

// statusField returns a field of /proc/PID/status, trimmed.
func statusField(status []byte, name string) string {
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// needTool skips the test if a program it talks through is missing.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install %s): this test talks to gyre through it", name, pkg)
	}
	return p
}

// output collects what a process writes to one of its streams, and lets
// the test wait for it to satisfy a condition.
type output struct {
	mu   sync.Mutex
	data []byte
	wake chan struct{} // closed and replaced on every write
}

func newOutput() *output { return &output{wake: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	o.data = append(o.data, p...)
	close(o.wake)
	o.wake = make(chan struct{})
	o.mu.Unlock()
	return len(p), nil
}

// Bytes returns a copy of everything written so far.
func (o *output) Bytes() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.data)
}

func (o *output) String() string { return string(o.Bytes()) }

// lines returns the complete lines written so far, without their "\n".
func (o *output) lines() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := string(o.data)
	i := strings.LastIndexByte(s, '\n')
	if i < 0 {
		return nil
	}
	return strings.Split(s[:i], "\n")
}

// waitFor waits until cond holds for what was written, or until the
// process behind it is done (if done is not nil) or timeout passes. It
// reports whether cond held.
func (o *output) waitFor(timeout time.Duration, done <-chan struct{}, cond func(o *output) bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		o.mu.Lock()
		wake := o.wake
		o.mu.Unlock()
		if cond(o) {
			return true
		}
		select {
		case <-wake:
		case <-done:
			return cond(o) // one last look: the output is complete now
		case <-timer.C:
			return false
		}
	}
}

// proc is a process started by a test. Its cleanup kills it if it is still
// running and always waits for it, so no test leaves a process behind.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout *output
	stderr *output
	done   chan struct{} // closed once Wait returned
	err    error         // what Wait returned; read after done
}

// newProc prepares argv; the caller may set cmd.Stdin or take a pipe
// before start.
func newProc(name string, argv ...string) *proc {
	p := &proc{
		name:   name,
		cmd:    exec.Command(argv[0], argv[1:]...),
		stdout: newOutput(),
		stderr: newOutput(),
		done:   make(chan struct{}),
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	// Should the test binary die without its cleanups (a panic, a
	// timeout), its processes die with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return p
}

func (p *proc) start(t testing.TB) {
	t.Helper()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) did not die after SIGKILL", p.name, p.pid())
		}
	})
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitExit waits for the process to exit by itself and returns Wait's
// error, failing the test if it is still running after timeout.
func (p *proc) waitExit(t testing.TB, timeout time.Duration, why string) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("%s (pid %d) still running %v after %s\nstderr:\n%s", p.name, p.pid(), timeout, why, p.stderr)
		return nil
	}
}

// gyreServer is a running gyre demo server.
type gyreServer struct {
	*proc
	addr string // HOST:PORT it listens on, from its "listening" log line
}

// startServer runs gyre with args, which must include -listen
// 127.0.0.1:0, waits for its "listening" line and reads the address from it.
func startServer(t testing.TB, args ...string) *gyreServer {
	t.Helper()
	return startServerArgv(t, append([]string{gyreBin}, args...))
}

// startServerArgv runs argv (gyre, or a launcher that execs gyre) with
// extra environment variables env, as startServer does.
func startServerArgv(t testing.TB, argv []string, env ...string) *gyreServer {
	t.Helper()
	name := "gyre"
	for i, a := range argv {
		if a == gyreBin {
			name = "gyre " + strings.Join(argv[i+1:], " ")
		}
	}
	s := &gyreServer{proc: newProc(name, argv...)}
	if len(env) > 0 {
		s.cmd.Env = append(os.Environ(), env...)
	}
	s.start(t)
	var addr string
	ok := s.stderr.waitFor(startTimeout, s.done, func(o *output) bool {
		for _, line := range o.lines() {
			if a := logAttr(line, "addr"); logAttr(line, "msg") == "listening" && a != "" {
				addr = a
				return true
			}
		}
		return false
	})
	if !ok {
		state := "still running"
		if s.exited() {
			state = fmt.Sprintf("exited: %v", s.err)
		}
		t.Fatalf("%s printed no listening address (%s)\nstderr:\n%s", s.name, state, s.stderr)
	}
	s.addr = addr
	t.Logf("%s: pid %d listening on %s", s.name, s.pid(), addr)
	return s
}

// stop sends SIGINT and checks the server exits 0 within stopTimeout,
// having logged "stopped".
func (s *gyreServer) stop(t testing.TB) {
	t.Helper()
	if s.exited() {
		t.Fatalf("%s exited before it was stopped: %v\nstderr:\n%s", s.name, s.err, s.stderr)
	}
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("SIGINT to %s: %v", s.name, err)
	}
	err := s.waitExit(t, stopTimeout, "SIGINT")
	if err != nil {
		t.Errorf("%s exited with %v after SIGINT, want status 0\nstderr:\n%s", s.name, err, s.stderr)
	}
	if !hasLogMsg(s.stderr, "stopped") {
		t.Errorf("%s did not log msg=stopped\nstderr:\n%s", s.name, s.stderr)
	}
}

// logAttr returns the value of key in a line of slog's text format, or "".
func logAttr(line, key string) string {
	for rest := line; rest != ""; {
		i := strings.Index(rest, key+"=")
		if i < 0 {
			return ""
		}
		if i > 0 && rest[i-1] != ' ' {
			rest = rest[i+len(key)+1:]
			continue
		}
		v := rest[i+len(key)+1:]
		if strings.HasPrefix(v, `"`) {
			if q, err := strconv.QuotedPrefix(v); err == nil {
				s, _ := strconv.Unquote(q)
				return s
			}
		}
		if j := strings.IndexByte(v, ' '); j >= 0 {
			v = v[:j]
		}
		return v
	}
	return ""
}

// hasLogMsg reports whether a log line has msg=msg.
func hasLogMsg(o *output, msg string) bool {
	for _, line := range o.lines() {
		if logAttr(line, "msg") == msg {
			return true
		}
	}
	return false
}

// client is an interactive peer process (nc, socat) fed through a pipe.
type client struct {
	*proc
	in   io.WriteCloser
	seen int // lines of stdout already matched by expect
}

func startClient(t testing.TB, name string, argv ...string) *client {
	t.Helper()
	c := &client{proc: newProc(name, argv...)}
	in, err := c.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.in = in
	c.start(t)
	return c
}

// send writes line and "\n" to the client's standard input.
func (c *client) send(t testing.TB, line string) {
	t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		t.Fatalf("%s: writing %q: %v", c.name, abbrev(line), err)
	}
}

// closeInput closes the client's standard input (end of file).
func (c *client) closeInput(t testing.TB) {
	t.Helper()
	if err := c.in.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		t.Fatalf("%s: closing stdin: %v", c.name, err)
	}
}

// expect waits for want among the lines the client printed since the last
// match, and moves past it.
func (c *client) expect(t testing.TB, want string) {
	t.Helper()
	c.expectAll(t, want)
}

// expectAll waits until every one of wants has been printed since the last
// match, in any order, and moves past the last of them.
func (c *client) expectAll(t testing.TB, wants ...string) {
	t.Helper()
	end := -1
	ok := c.stdout.waitFor(lineTimeout, c.done, func(o *output) bool {
		lines := o.lines()
		end = -1
		for _, w := range wants {
			i := indexFrom(lines, c.seen, w)
			if i < 0 {
				return false
			}
			end = max(end, i)
		}
		return true
	})
	if !ok {
		state := "still running"
		if c.exited() {
			state = fmt.Sprintf("exited: %v", c.err)
		}
		var ws []string
		for _, w := range wants {
			ws = append(ws, strconv.Quote(abbrev(w)))
		}
		t.Fatalf("%s (%s) did not print %s within %v; new lines: %q",
			c.name, state, strings.Join(ws, ", "), lineTimeout, abbrevAll(c.stdout.lines()[min(c.seen, len(c.stdout.lines())):]))
	}
	c.seen = end + 1
}

func indexFrom(lines []string, from int, want string) int {
	for i := from; i < len(lines); i++ {
		if lines[i] == want {
			return i
		}
	}
	return -1
}

func abbrev(s string) string {
	if len(s) > 60 {
		return fmt.Sprintf("%s...(%d bytes)", s[:40], len(s))
	}
	return s
}

func abbrevAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = abbrev(s)
	}
	return out
}

// procCPU returns the CPU time (utime+stime) a process has used, in
// clock ticks of 1/100 s (USER_HZ, which is 100 on Linux).
func procCPU(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("reading stat of %d: %v", pid, err)
	}
	// The command name is in parentheses and may hold spaces: the fields
	// counted from 3 (state) start after the last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// utime and stime are fields 14 and 15 of stat, so 11 and 12 here.
	if len(f) < 13 {
		t.Fatalf("short stat of %d: %q", pid, s)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad stat of %d: %q", pid, s)
	}
	return u + st
}

const userHZ = 100

// peakRSS returns a process's peak resident set size (VmHWM) in bytes.
func peakRSS(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading status of %d: %v", pid, err)
	}
	v := statusField(b, "VmHWM") // "12345 kB"
	kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		t.Fatalf("bad VmHWM %q of %d", v, pid)
	}
	return kb << 10
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
