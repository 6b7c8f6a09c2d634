//go:build linux

// Command udpbench measures UDP echo servers — gyre on each backend through
// gyre.UDP, nbio's UDP support and a plain package net server — with a load
// generator of its own, and prints markdown tables.
//
// Every server runs in a child process (this binary run again with
// -child-server) pinned to one CPU, and the load generator in another child
// (-child-load) pinned to another. For every cell (senders × datagram size)
// the servers take turns, a fresh server process each time, and the order of
// the servers rotates from round to round; each figure is the median over
// -rounds.
//
// Usage (from the bench module):
//
//	go run ./cmd/udpbench            # the full run, about three minutes
//	go run ./cmd/udpbench -quick     # about half a minute
//	go run ./cmd/udpbench -servers gyre-epoll,net -senders 64 -sizes 64 -rounds 5
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre/bench/udpservers"
	"github.com/gyre-go/gyre/bench/udpservers/udpload"
)

var (
	fServers   = flag.String("servers", strings.Join(udpservers.Names(), ","), "servers to measure, comma-separated (known: "+strings.Join(udpservers.Names(), ", ")+")")
	fSenders   = flag.String("senders", "1,64", "sender counts (each sender has its own socket and goroutine)")
	fSizes     = flag.String("sizes", "64,1400", "datagram sizes in bytes (at least 16)")
	fWindow    = flag.Int("window", 8, "datagrams in flight per sender")
	fDuration  = flag.Duration("duration", 2*time.Second, "measured time per cell")
	fWarmup    = flag.Duration("warmup", 500*time.Millisecond, "load applied before each cell's measured time")
	fLostAfter = flag.Duration("lost-after", 200*time.Millisecond, "a datagram with no echo this long after it was sent gives its window place to a new one; one sent in the window counts as lost if no echo came by the window's end plus this")
	fRounds    = flag.Int("rounds", 3, "rounds; each figure is the median over them")
	fQuick     = flag.Bool("quick", false, "a quick look, about half a minute: -rounds 1 -duration 1s -warmup 300ms (flags given explicitly still win)")
	fServerCPU = flag.Int("server-cpu", 0, "CPU the server processes are pinned to; -1 leaves them unpinned")
	fClientCPU = flag.Int("client-cpu", 1, "CPU the load generator processes are pinned to; -1 leaves them unpinned")
	fVerbose   = flag.Bool("v", false, "pass the children's stderr through")
	fRaw       = flag.Bool("raw", true, "print every round's figure after the tables")

	// Internal: the children.
	childServer = flag.String("child-server", "", "internal: serve this server on 127.0.0.1:0")
	childLoad   = flag.Bool("child-load", false, "internal: run one load against -addr and print it as JSON")
	fAddr       = flag.String("addr", "", "internal: the server's address")
	fSize       = flag.Int("size", 64, "internal: datagram size of a -child-load")
	fNSenders   = flag.Int("n", 1, "internal: senders of a -child-load")
)

func main() {
	flag.Parse()
	switch {
	case *childServer != "":
		serveChild()
	case *childLoad:
		loadChild()
	default:
		parent()
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "udpbench: "+format+"\n", args...)
	os.Exit(1)
}

// ---------------------------------------------------------------- children

// serveChild runs one server until its stdin closes. It reports on file
// descriptor 3 "ready ADDR" once bound, or "unavailable: reason".
func serveChild() {
	ctl := os.NewFile(3, "control")
	serve, err := udpservers.Lookup(*childServer)
	if err == nil {
		var (
			addr string
			stop func()
		)
		addr, stop, err = serve("127.0.0.1:0")
		if err == nil {
			fmt.Fprintln(ctl, "ready "+addr)
			_ = ctl.Close()
			_, _ = io.Copy(io.Discard, os.Stdin)
			// The parent closed stdin: stop, but do not wait long.
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
	res, err := udpload.Run(udpload.Config{
		Addr: *fAddr, Senders: *fNSenders, Size: *fSize, Window: *fWindow,
		Warmup: *fWarmup, Duration: *fDuration, LostAfter: *fLostAfter,
	})
	if err != nil {
		fatalf("%v", err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fatalf("%v", err)
	}
}

// ---------------------------------------------------------------- processes

var self string

// startPinned starts cmd with its CPU affinity set to cpu (if cpu >= 0). A
// child inherits the affinity of the thread that forks it, so the mask is
// set on this goroutine's locked thread around Start, then put back. The
// child's Go runtime sees one CPU from its first instruction and sizes
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

// cpusAllowed returns the Cpus_allowed_list of a process.
func cpusAllowed(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && k == "Cpus_allowed_list" {
			return strings.TrimSpace(v)
		}
	}
	return ""
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
// without its UDP facet, say): it is left out of the rest of the run.
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

// startServer starts a server child and waits until it is bound. The child
// binds port 0 and reports the address, so no port is guessed.
func startServer(name string) (*serverProc, error) {
	s := &serverProc{name: name, stderr: &tailBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(self, "-child-server", name)
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
		case strings.HasPrefix(line, "ready "):
			s.addr = strings.TrimPrefix(line, "ready ")
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
func runLoad(s *serverProc, c cell) (*udpload.Result, error) {
	cmd := exec.Command(self, "-child-load", "-addr", s.addr,
		"-size", strconv.Itoa(c.size), "-n", strconv.Itoa(c.senders), "-window", strconv.Itoa(*fWindow),
		"-warmup", fWarmup.String(), "-duration", fDuration.String(), "-lost-after", fLostAfter.String())
	stderr := &tailBuffer{}
	cmd.Stderr = childStderr(stderr)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := startPinned(cmd, *fClientCPU); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timeout := *fWarmup + *fDuration + *fLostAfter + 30*time.Second
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
		return nil, errors.New(strings.TrimPrefix(msg, "udpbench: "))
	}
	var res udpload.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("load result: %v: %q", err, stdout.String())
	}
	return &res, nil
}

// ---------------------------------------------------------------- parent

type cell struct {
	senders int
	size    int
}

func (c cell) String() string {
	return fmt.Sprintf("%d sender%s, %d B", c.senders, plural(c.senders), c.size)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
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
	loads       map[string][]*udpload.Result // key: cell|server; nil entries for failed rounds
	failures    map[string]string            // key: cell|server
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
			*fDuration = time.Second
		}
		if !set["warmup"] {
			*fWarmup = 300 * time.Millisecond
		}
	}
	var err error
	if self, err = os.Executable(); err != nil {
		fatalf("%v", err)
	}
	names := splitList(*fServers)
	for _, n := range names {
		if !udpservers.Known(n) {
			fatalf("unknown server %q (known: %s)", n, strings.Join(udpservers.Names(), ", "))
		}
	}
	senders, sizes := intList("senders", *fSenders), intList("sizes", *fSizes)
	for _, s := range sizes {
		if s < 16 || s > 65507 {
			fatalf("-sizes: %d is not between 16 and 65507 bytes", s)
		}
	}
	if *fRounds < 1 || *fDuration <= 0 || *fWarmup < 0 || *fWindow < 1 || *fLostAfter <= 0 {
		fatalf("-rounds, -duration, -window and -lost-after must be positive")
	}
	var cells []cell
	for _, n := range senders {
		for _, s := range sizes {
			cells = append(cells, cell{n, s})
		}
	}
	checkCPUs()

	r := &run{
		names: names, cells: cells,
		unavailable: map[string]string{},
		loads:       map[string][]*udpload.Result{},
		failures:    map[string]string{},
	}
	perCell := *fWarmup + *fDuration + *fLostAfter + 150*time.Millisecond
	est := time.Duration(len(cells)*len(names)**fRounds) * perCell
	fmt.Fprintf(os.Stderr, "udpbench: %d servers x %d cells x %d rounds, %v warm-up + %v per cell; about %v if every server is available\n",
		len(names), len(cells), *fRounds, *fWarmup, *fDuration, est.Round(10*time.Second))

	start := time.Now()
	for round := range *fRounds {
		order := slices.Clone(names)
		rot := round % len(order)
		order = append(order[rot:], order[:rot]...)
		for _, c := range cells {
			fmt.Fprintf(os.Stderr, "round %d/%d %-20s", round+1, *fRounds, c.String()+":")
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
					fmt.Fprintf(os.Stderr, " %s=%.1fk", name, res.PerSec()/1e3)
				}
				r.loads[key(c, name)] = append(r.loads[key(c, name)], res)
			}
			fmt.Fprintf(os.Stderr, " (%.0fs)\n", time.Since(start).Seconds())
		}
	}
	r.report(time.Since(start))
}

func measureCell(name string, c cell) (*udpload.Result, error) {
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

var pinNote string

// checkCPUs checks that the CPUs to pin to exist and that pinning takes: it
// starts a child pinned to each and reads back its allowed CPUs.
func checkCPUs() {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		fatalf("sched_getaffinity: %v", err)
	}
	for _, p := range []*int{fServerCPU, fClientCPU} {
		if *p >= 0 && !set.IsSet(*p) {
			fmt.Fprintf(os.Stderr, "udpbench: CPU %d is not available to this process; running unpinned\n", *p)
			*fServerCPU, *fClientCPU = -1, -1
		}
	}
	if *fServerCPU >= 0 && *fServerCPU == *fClientCPU {
		fmt.Fprintf(os.Stderr, "udpbench: server and load generator share CPU %d\n", *fServerCPU)
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
	pinNote = fmt.Sprintf("Server processes on CPU(s) %s, load generator on CPU(s) %s (read back from /proc/PID/status of pinned children; machine has %d CPUs)",
		got[0], got[1], runtime.NumCPU())
}
