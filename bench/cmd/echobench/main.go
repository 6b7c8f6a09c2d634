//go:build linux

// Command echobench measures TCP echo servers — gyre on each backend and its
// peers gnet, nbio, cloudwego/netpoll and package net — with a load
// generator of its own, and prints markdown tables.
//
// Every server runs in a child process (this binary run again with
// -child-server) pinned to one CPU, and the load generator in another child
// (-child-load, -child-idle) pinned to another, so that each side has a core
// of its own and the server's resident memory is its own. For every cell
// (mode × message size × connections) the servers take turns, a fresh
// server process each time, and the order of the servers rotates from round
// to round; each figure is the median over -rounds.
//
// Usage (from the bench module):
//
//	go run ./cmd/echobench            # the full run, about ten minutes
//	go run ./cmd/echobench -quick     # about a minute
//	go run ./cmd/echobench -servers gyre-epoll,gnet,nbio -modes pingpong -sizes 64 -conns 100
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre/bench/loadgen"
	"github.com/gyre-go/gyre/bench/servers"
)

var defaultServers = []string{"gyre-epoll", "gyre-poll", "gyre-std", "gnet", "nbio", "netpoll", "net"}

var (
	fServers   = flag.String("servers", strings.Join(defaultServers, ","), "servers to measure, comma-separated (known: "+strings.Join(servers.Names(), ", ")+")")
	fModes     = flag.String("modes", "pingpong,pipelined", "load modes: pingpong (one message in flight per connection), pipelined (-depth in flight)")
	fSizes     = flag.String("sizes", "64,4096", "message sizes in bytes (at least 8)")
	fConns     = flag.String("conns", "1,100,1000", "connection counts")
	fDepth     = flag.Int("depth", 16, "messages in flight per connection in pipelined mode")
	fDuration  = flag.Duration("duration", 1500*time.Millisecond, "measured time per cell")
	fWarmup    = flag.Duration("warmup", 400*time.Millisecond, "load applied before each cell's measured time")
	fRounds    = flag.Int("rounds", 3, "rounds; each figure is the median over them")
	fIdle      = flag.Int("idle", 10000, "idle connections for the memory measurement; 0 skips it")
	fQuick     = flag.Bool("quick", false, "a quick look, about a minute: -rounds 1 -duration 400ms -warmup 200ms -idle 5000 (flags given explicitly still win)")
	fServerCPU = flag.Int("server-cpu", 0, "CPU the server processes are pinned to; -1 leaves them unpinned")
	fClientCPU = flag.Int("client-cpu", 1, "CPU the load generator processes are pinned to; -1 leaves them unpinned")
	fVerbose   = flag.Bool("v", false, "pass the children's stderr through")
	fRaw       = flag.Bool("raw", true, "print every round's figure after the tables")

	// Internal: the children.
	childServer = flag.String("child-server", "", "internal: serve this server on -addr")
	childLoad   = flag.Bool("child-load", false, "internal: run one load against -addr and print it as JSON")
	childIdle   = flag.Int("child-idle", 0, "internal: hold this many idle connections to -addr until stdin closes")
	fAddr       = flag.String("addr", "", "internal: the server's address")
	fSize       = flag.Int("size", 64, "internal: message size of a -child-load")
	fNConns     = flag.Int("n", 1, "internal: connections of a -child-load")
	fInFlight   = flag.Int("inflight", 1, "internal: messages in flight per connection of a -child-load")
)

func main() {
	flag.Parse()
	switch {
	case *childServer != "":
		serveChild()
	case *childLoad:
		loadChild()
	case *childIdle > 0:
		idleChild()
	default:
		parent()
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "echobench: "+format+"\n", args...)
	os.Exit(1)
}

// fileLimit is the RLIMIT_NOFILE every process asks for: room for both ends
// of every idle connection and a margin. Each end is in a process of its own,
// so needLimit, one end and the margin, is enough when the hard limit is
// lower and cannot be raised.
func fileLimit() uint64 { return uint64(2*max(*fIdle, 1000) + 1024) }

func needLimit() uint64 { return uint64(max(*fIdle, 1000) + 1024) }

// raiseFileLimit raises RLIMIT_NOFILE and complains only if the result is
// too low for this run.
func raiseFileLimit() {
	lim, err := loadgen.RaiseFileLimit(fileLimit())
	if err != nil && lim < needLimit() {
		fmt.Fprintf(os.Stderr, "echobench: %v (soft limit now %d, need %d)\n", err, lim, needLimit())
	}
}

// ---------------------------------------------------------------- children

// serveChild runs one server until its stdin closes. It reports on file
// descriptor 3 (its stdout is left to the server's own logging) "ready" once
// listening, or "unavailable: reason".
func serveChild() {
	raiseFileLimit()
	ctl := os.NewFile(3, "control")
	serve, err := servers.Lookup(*childServer)
	if err == nil {
		var stop func()
		stop, err = serve(*fAddr)
		if err == nil {
			fmt.Fprintln(ctl, "ready")
			_ = ctl.Close()
			_, _ = io.Copy(io.Discard, os.Stdin)
			// The parent closed stdin: stop, but do not wait long
			// for a graceful shutdown the benchmark does not need.
			go stop()
			time.Sleep(20 * time.Millisecond)
			os.Exit(0)
		}
	}
	fmt.Fprintf(ctl, "unavailable: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	_ = ctl.Close()
	os.Exit(0)
}

func loadChild() {
	raiseFileLimit()
	res, err := loadgen.Run(loadgen.Config{
		Addr: *fAddr, Conns: *fNConns, Size: *fSize, Depth: *fInFlight,
		Warmup: *fWarmup, Duration: *fDuration,
	})
	if err != nil {
		fatalf("%v", err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fatalf("%v", err)
	}
}

// idleChild opens the idle connections, says "idle N" on stdout, and holds
// them until stdin closes.
func idleChild() {
	raiseFileLimit()
	conns, err := loadgen.OpenIdle(*fAddr, *childIdle)
	if err != nil {
		fatalf("%v", err)
	}
	fmt.Printf("idle %d\n", len(conns))
	_, _ = io.Copy(io.Discard, os.Stdin)
	loadgen.Close(conns)
}

// ---------------------------------------------------------------- processes

var self string

// startPinned starts cmd with its CPU affinity set to cpu (if cpu >= 0). The
// child inherits the affinity of the thread that forks it, so the mask is
// set on this goroutine's locked thread around Start and then restored. The
// child's Go runtime then sees one CPU from its first instruction, and sizes
// GOMAXPROCS to it.
func startPinned(cmd *exec.Cmd, cpu int) error {
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
		fatalf("restoring the CPU affinity: %v", rerr)
	}
	return err
}

// cpusAllowed returns the Cpus_allowed_list line of a process.
func cpusAllowed(pid int) string {
	return procStatus(pid, "Cpus_allowed_list")
}

func procStatus(pid int, key string) string {
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

// rss returns the resident set size of a process in bytes.
func rss(pid int) (int64, error) {
	v := procStatus(pid, "VmRSS")
	f := strings.Fields(v)
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("VmRSS of %d: %q", pid, v)
	}
	kb, err := strconv.ParseInt(f[0], 10, 64)
	return kb << 10, err
}

// tailBuffer keeps the last few KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

func childStderr(t *tailBuffer) io.Writer {
	if *fVerbose {
		return io.MultiWriter(os.Stderr, t)
	}
	return t
}

// errUnavailable marks a server that cannot serve at all (a gyre backend
// without its TCP facet, say): it is left out of the rest of the run.
type errUnavailable struct{ reason string }

func (e errUnavailable) Error() string { return "unavailable: " + e.reason }

type serverProc struct {
	name   string
	addr   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer
	exited chan struct{}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startServer starts a server child and waits until it listens.
func startServer(name string) (*serverProc, error) {
	var lastErr error
	for range 3 { // the free port may be taken before the child binds it
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		s, err := startServerOn(name, addr)
		if err == nil {
			return s, nil
		}
		lastErr = err
		var u errUnavailable
		if errors.As(err, &u) && !strings.Contains(u.reason, "address already in use") {
			return nil, err
		}
	}
	return nil, lastErr
}

func startServerOn(name, addr string) (*serverProc, error) {
	s := &serverProc{name: name, addr: addr, stderr: &tailBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(self, "-child-server", name, "-addr", addr, "-idle", strconv.Itoa(*fIdle))
	s.cmd.Stderr = childStderr(s.stderr)
	s.cmd.Stdout = childStderr(s.stderr)
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, ctlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer out.Close()
	s.cmd.ExtraFiles = []*os.File{ctlW} // the child's fd 3
	err = startPinned(s.cmd, *fServerCPU)
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
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case line := <-lines:
		switch {
		case line == "ready":
			return s, nil
		case strings.HasPrefix(line, "unavailable: "):
			<-s.exited
			return nil, errUnavailable{strings.TrimPrefix(line, "unavailable: ")}
		default:
			s.kill()
			return nil, fmt.Errorf("server %s did not start: %q %s", name, line, s.stderr)
		}
	case <-time.After(15 * time.Second):
		s.kill()
		return nil, fmt.Errorf("server %s: not ready after 15 s; stderr: %s", name, s.stderr)
	}
}

// alive reports whether the server process is still running.
func (s *serverProc) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop closes the server's stdin and waits a little for it to exit; then
// kills it.
func (s *serverProc) stop() {
	_ = s.stdin.Close()
	select {
	case <-s.exited:
	case <-time.After(2 * time.Second):
		s.kill()
	}
}

func (s *serverProc) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// runLoad runs one load child against the server and returns its result.
func runLoad(s *serverProc, c cell) (*loadgen.Result, error) {
	cmd := exec.Command(self, "-child-load", "-addr", s.addr,
		"-size", strconv.Itoa(c.size), "-n", strconv.Itoa(c.conns), "-inflight", strconv.Itoa(c.depth()),
		"-warmup", fWarmup.String(), "-duration", fDuration.String(), "-idle", strconv.Itoa(*fIdle))
	stderr := &tailBuffer{}
	cmd.Stderr = childStderr(stderr)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := startPinned(cmd, *fClientCPU); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timeout := *fWarmup + *fDuration + time.Duration(c.conns)*20*time.Millisecond + 30*time.Second
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
		return nil, errors.New(strings.TrimPrefix(msg, "echobench: "))
	}
	var res loadgen.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("load result: %v: %q", err, stdout.String())
	}
	return &res, nil
}

// idleResult is one idle-memory measurement.
type idleResult struct {
	conns         int
	before, after int64 // server RSS, bytes
}

func (r idleResult) perConn() float64 { return float64(r.after-r.before) / float64(r.conns) }

// runIdle measures the server's RSS before and after -idle connections.
func runIdle(s *serverProc) (idleResult, error) {
	settle(s.cmd.Process.Pid, 200*time.Millisecond)
	before, err := rss(s.cmd.Process.Pid)
	if err != nil {
		return idleResult{}, err
	}
	cmd := exec.Command(self, "-child-idle", strconv.Itoa(*fIdle), "-addr", s.addr, "-idle", strconv.Itoa(*fIdle))
	stderr := &tailBuffer{}
	cmd.Stderr = childStderr(stderr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return idleResult{}, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return idleResult{}, err
	}
	if err := startPinned(cmd, *fClientCPU); err != nil {
		return idleResult{}, err
	}
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case l, ok := <-line:
		if !ok || l != fmt.Sprintf("idle %d", *fIdle) {
			_ = cmd.Process.Kill()
			return idleResult{}, fmt.Errorf("idle connections: %s %s", l, strings.TrimPrefix(stderr.String(), "echobench: "))
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		return idleResult{}, errors.New("idle connections: not all open after 2 minutes")
	}
	after := settle(s.cmd.Process.Pid, 3*time.Second)
	if !s.alive() {
		return idleResult{}, fmt.Errorf("server died: %s", s.stderr)
	}
	return idleResult{conns: *fIdle, before: before, after: after}, nil
}

// settle samples a process's RSS every 50 ms until three samples in a row
// agree within 64 KiB, or for at most limit, and returns the last sample.
func settle(pid int, limit time.Duration) int64 {
	deadline := time.Now().Add(limit)
	last, _ := rss(pid)
	steady := 0
	for time.Now().Before(deadline) && steady < 3 {
		time.Sleep(50 * time.Millisecond)
		v, err := rss(pid)
		if err != nil {
			return last
		}
		if d := v - last; d < 64<<10 && d > -64<<10 {
			steady++
		} else {
			steady = 0
		}
		last = v
	}
	return last
}

// ---------------------------------------------------------------- parent

type cell struct {
	mode  string // "pingpong" or "pipelined"
	size  int
	conns int
}

func (c cell) depth() int {
	if c.mode == "pipelined" {
		return *fDepth
	}
	return 1
}

func (c cell) String() string {
	return fmt.Sprintf("%s %s %d", c.mode, sizeName(c.size), c.conns)
}

func sizeName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func intList(name, s string) []int {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			fatalf("-%s: bad number %q", name, f)
		}
		out = append(out, n)
	}
	return out
}

// run holds everything measured.
type run struct {
	names       []string
	cells       []cell
	unavailable map[string]string
	loads       map[string][]*loadgen.Result // key: cell|server; nil entries for failed rounds
	failures    map[string]string            // key: cell|server
	idle        map[string][]idleResult
	idleFail    map[string]string
}

func key(c cell, name string) string { return c.String() + "|" + name }

func parent() {
	if *fQuick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["rounds"] {
			*fRounds = 1
		}
		if !set["duration"] {
			*fDuration = 400 * time.Millisecond
		}
		if !set["warmup"] {
			*fWarmup = 200 * time.Millisecond
		}
		if !set["idle"] {
			*fIdle = 5000
		}
	}
	var err error
	if self, err = os.Executable(); err != nil {
		fatalf("%v", err)
	}
	names := splitList(*fServers)
	for _, n := range names {
		if !servers.Known(n) {
			fatalf("unknown server %q (known: %s)", n, strings.Join(servers.Names(), ", "))
		}
	}
	modes := splitList(*fModes)
	for _, m := range modes {
		if m != "pingpong" && m != "pipelined" {
			fatalf("unknown mode %q", m)
		}
	}
	sizes, conns := intList("sizes", *fSizes), intList("conns", *fConns)
	for _, s := range sizes {
		if s < 8 {
			fatalf("-sizes: %d is below 8 bytes", s)
		}
	}
	if *fRounds < 1 || *fDuration <= 0 || *fWarmup < 0 || *fDepth < 1 {
		fatalf("-rounds, -duration and -depth must be positive")
	}
	var cells []cell
	for _, m := range modes {
		for _, s := range sizes {
			for _, n := range conns {
				cells = append(cells, cell{m, s, n})
			}
		}
	}
	raiseFileLimit()
	checkCPUs()

	r := &run{
		names: names, cells: cells,
		unavailable: map[string]string{},
		loads:       map[string][]*loadgen.Result{},
		failures:    map[string]string{},
		idle:        map[string][]idleResult{},
		idleFail:    map[string]string{},
	}
	perCell := *fWarmup + *fDuration + 100*time.Millisecond
	est := time.Duration(len(cells)*len(names)**fRounds) * perCell
	if *fIdle > 0 {
		est += time.Duration(len(names)**fRounds) * (time.Duration(*fIdle)*100*time.Microsecond + 500*time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "echobench: %d servers x %d cells x %d rounds, %v warm-up + %v per cell; about %v if every server is available\n",
		len(names), len(cells), *fRounds, *fWarmup, *fDuration, est.Round(10*time.Second))

	start := time.Now()
	for round := range *fRounds {
		order := slices.Clone(names)
		rot := round % len(order)
		order = append(order[rot:], order[:rot]...)
		for _, c := range cells {
			fmt.Fprintf(os.Stderr, "round %d/%d %-22s", round+1, *fRounds, c.String()+":")
			for _, name := range order {
				if _, gone := r.unavailable[name]; gone {
					continue
				}
				res, err := measureCell(name, c)
				var u errUnavailable
				switch {
				case errors.As(err, &u):
					r.unavailable[name] = u.reason
					fmt.Fprintf(os.Stderr, " %s=unavailable", name)
					continue
				case err != nil:
					r.failures[key(c, name)] = err.Error()
					fmt.Fprintf(os.Stderr, " %s=FAILED", name)
				default:
					fmt.Fprintf(os.Stderr, " %s=%.1fk", name, res.MsgsPerSec()/1e3)
				}
				r.loads[key(c, name)] = append(r.loads[key(c, name)], res)
			}
			fmt.Fprintf(os.Stderr, " (%.0fs)\n", time.Since(start).Seconds())
		}
		if *fIdle > 0 {
			fmt.Fprintf(os.Stderr, "round %d/%d idle %-17d", round+1, *fRounds, *fIdle)
			for _, name := range order {
				if _, gone := r.unavailable[name]; gone {
					continue
				}
				ir, err := measureIdle(name)
				var u errUnavailable
				switch {
				case errors.As(err, &u):
					r.unavailable[name] = u.reason
					fmt.Fprintf(os.Stderr, " %s=unavailable", name)
				case err != nil:
					r.idleFail[name] = err.Error()
					fmt.Fprintf(os.Stderr, " %s=FAILED", name)
				default:
					r.idle[name] = append(r.idle[name], ir)
					fmt.Fprintf(os.Stderr, " %s=%.0fB", name, ir.perConn())
				}
			}
			fmt.Fprintf(os.Stderr, " (%.0fs)\n", time.Since(start).Seconds())
		}
	}
	r.report(time.Since(start))
}

func measureCell(name string, c cell) (*loadgen.Result, error) {
	s, err := startServer(name)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	res, err := runLoad(s, c)
	if err == nil && !s.alive() {
		err = errors.New("server exited")
	}
	if err != nil && !s.alive() {
		err = fmt.Errorf("%v; server exited: %s", err, s.stderr)
	}
	return res, err
}

func measureIdle(name string) (idleResult, error) {
	s, err := startServer(name)
	if err != nil {
		return idleResult{}, err
	}
	defer s.stop()
	return runIdle(s)
}

var pinNote string

// checkCPUs checks that the CPUs to pin to exist, and that pinning takes:
// it starts a child pinned to each and reads back its allowed CPUs.
func checkCPUs() {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		fatalf("sched_getaffinity: %v", err)
	}
	for _, p := range []*int{fServerCPU, fClientCPU} {
		if *p >= 0 && !set.IsSet(*p) {
			fmt.Fprintf(os.Stderr, "echobench: CPU %d is not available to this process; running unpinned\n", *p)
			*fServerCPU, *fClientCPU = -1, -1
		}
	}
	if *fServerCPU >= 0 && *fServerCPU == *fClientCPU {
		fmt.Fprintf(os.Stderr, "echobench: server and load generator share CPU %d\n", *fServerCPU)
	}
	got := make([]string, 2)
	for i, cpu := range []int{*fServerCPU, *fClientCPU} {
		cmd := exec.Command("sleep", "0.05")
		if err := startPinned(cmd, cpu); err != nil {
			fatalf("%v", err)
		}
		got[i] = cpusAllowed(cmd.Process.Pid)
		_ = cmd.Wait()
	}
	pinNote = fmt.Sprintf("server processes on CPU(s) %s, load generator on CPU(s) %s (read back from /proc/PID/status of pinned children; machine has %d CPUs)",
		got[0], got[1], runtime.NumCPU())
}
