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
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gyre-go/gyre/bench/internal/harness"
	"github.com/gyre-go/gyre/bench/loadgen"
	"github.com/gyre-go/gyre/bench/servers"
)

var defaultServers = []string{"gyre-epoll", "gyre-poll", "gyre-std", "gnet", "nbio", "netpoll", "net"}

var (
	common           = harness.RegisterFlags()
	fRounds, fRaw    = common.Rounds, common.Raw
	childLoad, fAddr = common.ChildLoad, common.Addr

	fServers  = flag.String("servers", strings.Join(defaultServers, ","), "servers to measure, comma-separated (known: "+strings.Join(servers.Names(), ", ")+")")
	fModes    = flag.String("modes", "pingpong,pipelined", "load modes: pingpong (one message in flight per connection), pipelined (-depth in flight)")
	fSizes    = flag.String("sizes", "64,4096", "message sizes in bytes (at least 8)")
	fConns    = flag.String("conns", "1,100,1000", "connection counts")
	fDepth    = flag.Int("depth", 16, "messages in flight per connection in pipelined mode")
	fDuration = flag.Duration("duration", 1500*time.Millisecond, "measured time per cell")
	fWarmup   = flag.Duration("warmup", 400*time.Millisecond, "load applied before each cell's measured time")
	fIdle     = flag.Int("idle", 10000, "idle connections for the memory measurement; 0 skips it")
	fQuick    = flag.Bool("quick", false, "a quick look, about a minute: -rounds 1 -duration 400ms -warmup 200ms -idle 5000 (flags given explicitly still win)")

	// Internal: the children.
	childServer = flag.String("child-server", "", "internal: serve this server on -addr")
	childIdle   = flag.Int("child-idle", 0, "internal: hold this many idle connections to -addr until stdin closes")
	fSize       = flag.Int("size", 64, "internal: message size of a -child-load")
	fNConns     = flag.Int("n", 1, "internal: connections of a -child-load")
	fInFlight   = flag.Int("inflight", 1, "internal: messages in flight per connection of a -child-load")
)

var h = &harness.Harness{Prog: "echobench"}

func main() {
	flag.Parse()
	h.Verbose, h.ServerCPU, h.ClientCPU = *common.Verbose, *common.ServerCPU, *common.ClientCPU
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

func fatalf(format string, args ...any) { h.Fatalf(format, args...) }

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
	harness.ServeChild(func() (string, func(), error) {
		serve, err := servers.Lookup(*childServer)
		if err != nil {
			return "", nil, err
		}
		stop, err := serve(*fAddr)
		return "", stop, err
	})
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

// rss returns the resident set size of a process in bytes.
func rss(pid int) (int64, error) {
	v := harness.ProcStatus(pid, "VmRSS")
	f := strings.Fields(v)
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("VmRSS of %d: %q", pid, v)
	}
	kb, err := strconv.ParseInt(f[0], 10, 64)
	return kb << 10, err
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
func startServer(name string) (*harness.ServerProc, error) {
	var lastErr error
	for range 3 { // the free port may be taken before the child binds it
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		s, err := h.StartServer(name, []string{"-child-server", name, "-addr", addr, "-idle", strconv.Itoa(*fIdle)},
			func(line string) (string, bool) { return addr, line == "ready" })
		if err == nil {
			return s, nil
		}
		lastErr = err
		var u harness.ErrUnavailable
		if errors.As(err, &u) && !strings.Contains(u.Reason, "address already in use") {
			return nil, err
		}
	}
	return nil, lastErr
}

// runLoad runs one load child against the server and returns its result.
func runLoad(s *harness.ServerProc, c cell) (*loadgen.Result, error) {
	args := []string{"-child-load", "-addr", s.Addr,
		"-size", strconv.Itoa(c.size), "-n", strconv.Itoa(c.conns), "-inflight", strconv.Itoa(c.depth()),
		"-warmup", fWarmup.String(), "-duration", fDuration.String(), "-idle", strconv.Itoa(*fIdle)}
	timeout := *fWarmup + *fDuration + time.Duration(c.conns)*20*time.Millisecond + 30*time.Second
	var res loadgen.Result
	if err := h.RunLoad(args, timeout, &res); err != nil {
		return nil, err
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
func runIdle(s *harness.ServerProc) (idleResult, error) {
	settle(s.Cmd.Process.Pid, 200*time.Millisecond)
	before, err := rss(s.Cmd.Process.Pid)
	if err != nil {
		return idleResult{}, err
	}
	cmd := exec.Command(h.Self, "-child-idle", strconv.Itoa(*fIdle), "-addr", s.Addr, "-idle", strconv.Itoa(*fIdle))
	stderr := &harness.TailBuffer{}
	cmd.Stderr = h.ChildStderr(stderr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return idleResult{}, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return idleResult{}, err
	}
	if err := h.StartPinned(cmd, h.ClientCPU); err != nil {
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
	after := settle(s.Cmd.Process.Pid, 3*time.Second)
	if !s.Alive() {
		return idleResult{}, fmt.Errorf("server died: %s", s.Stderr)
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

// run holds everything measured.
type run struct {
	*harness.Run[cell, loadgen.Result]
	idle     map[string][]idleResult
	idleFail map[string]string
}

func parent() {
	if *fQuick {
		if err := harness.Defaults(map[string]string{"rounds": "1", "duration": "400ms", "warmup": "200ms", "idle": "5000"}); err != nil {
			fatalf("%v", err)
		}
	}
	var err error
	if h.Self, err = os.Executable(); err != nil {
		fatalf("%v", err)
	}
	names := h.ServerList(*fServers, servers.Known, servers.Names())
	modes := harness.SplitList(*fModes)
	for _, m := range modes {
		if m != "pingpong" && m != "pipelined" {
			fatalf("unknown mode %q", m)
		}
	}
	sizes, err := harness.IntList("sizes", *fSizes)
	if err != nil {
		fatalf("%v", err)
	}
	conns, err := harness.IntList("conns", *fConns)
	if err != nil {
		fatalf("%v", err)
	}
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
		Run:      harness.NewRun[cell, loadgen.Result](names, cells),
		idle:     map[string][]idleResult{},
		idleFail: map[string]string{},
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
		order := harness.Rotate(names, round)
		label := fmt.Sprintf("round %d/%d", round+1, *fRounds)
		for _, c := range cells {
			r.Round(label, 22, c, order, measureCell,
				func(res *loadgen.Result) string { return fmt.Sprintf("%.1fk", res.MsgsPerSec()/1e3) }, start)
		}
		if *fIdle > 0 {
			fmt.Fprintf(os.Stderr, "round %d/%d idle %-17d", round+1, *fRounds, *fIdle)
			for _, name := range order {
				if _, gone := r.Unavailable[name]; gone {
					continue
				}
				ir, err := measureIdle(name)
				var u harness.ErrUnavailable
				switch {
				case errors.As(err, &u):
					r.Unavailable[name] = u.Reason
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
	return harness.Measure(func() (*harness.ServerProc, error) { return startServer(name) },
		func(s *harness.ServerProc) (*loadgen.Result, error) { return runLoad(s, c) })
}

func measureIdle(name string) (idleResult, error) {
	s, err := startServer(name)
	if err != nil {
		return idleResult{}, err
	}
	defer s.Stop()
	return runIdle(s)
}

var pinNote string

// checkCPUs checks that the CPUs to pin to exist, and that pinning takes,
// and notes what the pinned children read back.
func checkCPUs() {
	server, client := h.CheckCPUs()
	pinNote = fmt.Sprintf("server processes on CPU(s) %s, load generator on CPU(s) %s (read back from /proc/PID/status of pinned children; machine has %d CPUs)",
		server, client, runtime.NumCPU())
}
