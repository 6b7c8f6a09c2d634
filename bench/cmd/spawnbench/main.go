//go:build linux

// Command spawnbench measures how fast gyre starts and reaps child processes,
// beside os/exec in the same run, and checks that nothing is left behind.
//
// Each measurement starts -n (2000) children of the program true (found in
// PATH), keeping -conc of them (1, then 16) in flight at a time, and counts
// processes per second from the first start until the last has been reaped:
//
//   - gyre-epoll, gyre-poll, gyre-std: SpawnProcess on the backend's loop with
//     default options (pipes on the child's descriptors 0, 1 and 2); each
//     ProcessEnded starts the next child, and the reactor stops after the
//     last;
//   - os/exec: -conc goroutines each running exec.Command(true).Run() in
//     turn (the child's descriptors on /dev/null, no pipes);
//   - os/exec+pipes: the same with Stdin, Stdout and Stderr set to a reader
//     and writers, so that os/exec makes pipes and copying goroutines, as
//     gyre does.
//
// Every measurement runs in a fresh process (this binary run again with
// -child), which afterwards counts its open descriptors (/proc/self/fd)
// against the count before, and its children, running or zombie (from
// /proc/PID/stat); the parent reports any left. The contenders take turns
// within each round, in an order that rotates from round to round, and each
// figure is the median of -rounds.
//
// Usage (from the bench module):
//
//	go run ./cmd/spawnbench [-n 2000] [-conc 1,16] [-rounds 3] [-contenders gyre-epoll,...]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/bench/internal/harness"
	"github.com/gyre-go/gyre/reactor"
)

var (
	nProcs     = flag.Int("n", 2000, "children started and reaped per measurement")
	concList   = flag.String("conc", "1,16", "children in flight at a time (comma-separated: one cell each)")
	rounds     = flag.Int("rounds", 3, "rounds; each figure is the median over them")
	contenders = flag.String("contenders", "", "comma-separated contenders (default: every gyre backend with processes, os/exec, os/exec+pipes)")
	childTO    = flag.Duration("child-timeout", 2*time.Minute, "give up on a measurement after this long")
	raw        = flag.Bool("raw", true, "print every round's figure after the tables")
	cpuProfile = flag.String("cpuprofile", "", "write a CPU profile of every measurement of the contenders to FILE.CONTENDER.CONC")
	child      = flag.String("child", "", "internal: run one measurement of this contender and print it as JSON")
	conc       = flag.Int("c", 1, "internal: children in flight in a -child measurement")
)

// result is one measurement, printed by the child as JSON.
type result struct {
	Seconds   float64  `json:"seconds"`
	Rate      float64  `json:"rate"` // processes per second
	CPU       float64  `json:"cpu"`  // seconds of CPU (user+sys) of the measuring process itself
	Failed    int      `json:"failed"`
	FDsBefore int      `json:"fds_before"`
	FDsAfter  int      `json:"fds_after"`
	Children  []string `json:"children"` // children left: "PID STATE NAME"
	Error     string   `json:"error,omitempty"`
}

func main() {
	flag.Parse()
	h := &harness.Harness{Prog: "spawnbench"}
	truePath, err := exec.LookPath("true")
	if err != nil {
		h.Fatalf("cannot find true: %v", err)
	}
	if *child != "" {
		res := measure(*child, truePath, *nProcs, *conc)
		if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
			h.Fatalf("%v", err)
		}
		return
	}
	if *nProcs < 1 || *rounds < 1 {
		h.Fatalf("-n and -rounds must be positive")
	}
	concs, err := harness.IntList("conc", *concList)
	if err != nil {
		h.Fatalf("%v", err)
	}
	names := harness.SplitList(*contenders)
	if len(names) == 0 {
		for _, b := range reactor.Backends() {
			names = append(names, "gyre-"+b)
		}
		names = append(names, "os/exec", "os/exec+pipes")
	}
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cells := make([]cell, len(concs))
	for i, c := range concs {
		cells[i] = cell(c)
	}
	run := harness.NewRun[cell, result](names, cells)
	start := time.Now()
	for round := 0; round < *rounds; round++ {
		for _, c := range cells {
			run.Round(fmt.Sprintf("round %d/%d", round+1, *rounds), 14, c, harness.Rotate(names, round),
				func(name string, c cell) (*result, error) { return runChild(exe, name, int(c)) },
				func(r *result) string { return fmt.Sprintf("%.0f/s", r.Rate) }, start)
		}
	}
	report(run, truePath, time.Since(start))
}

// cell is one concurrency.
type cell int

func (c cell) String() string { return fmt.Sprintf("%d in flight", int(c)) }

func runChild(exe, name string, c int) (*result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), *childTO)
	defer cancel()
	args := []string{"-child", name, "-c", strconv.Itoa(c), "-n", strconv.Itoa(*nProcs)}
	if *cpuProfile != "" {
		args = append(args, "-cpuprofile", fmt.Sprintf("%s.%s.%d", *cpuProfile, strings.ReplaceAll(name, "/", "_"), c))
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	tail := &harness.TailBuffer{}
	cmd.Stderr = tail
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, tail)
	}
	var res result
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("bad output %q: %v", out, err)
	}
	if strings.HasPrefix(res.Error, "unavailable: ") {
		return nil, harness.ErrUnavailable{Reason: strings.TrimPrefix(res.Error, "unavailable: ")}
	}
	if res.Error != "" {
		return &res, errors.New(res.Error)
	}
	return &res, nil
}

// ---------------------------------------------------------------- child

func measure(name, truePath string, n, c int) result {
	var res result
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	var run func() (int, error)
	switch {
	case strings.HasPrefix(name, "gyre-"):
		backend := strings.TrimPrefix(name, "gyre-")
		r, err := reactor.NewBackend(backend, gyre.WithoutSignalHandlers())
		if err != nil {
			res.Error = "unavailable: " + err.Error()
			return res
		}
		procs, ok := r.(gyre.Processes)
		if !ok {
			_ = r.FireSystemEvent(gyre.Shutdown)
			res.Error = "unavailable: backend " + backend + " does not implement gyre.Processes"
			return res
		}
		run = func() (int, error) { return runGyre(r, procs, truePath, n, c) }
	case name == "os/exec":
		run = func() (int, error) { return runExec(truePath, n, c, false) }
	case name == "os/exec+pipes":
		run = func() (int, error) { return runExec(truePath, n, c, true) }
	default:
		res.Error = "unknown contender " + name
		return res
	}
	// The runtime's poller opens its own descriptors on first use: open
	// them before counting.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	runtime.GC()
	res.FDsBefore = countFDs()
	cpu0 := cpuSelf()
	t0 := time.Now()
	failed, err := run()
	res.Seconds = time.Since(t0).Seconds()
	res.CPU = cpuSelf() - cpu0
	res.Rate = float64(n) / res.Seconds
	res.Failed = failed
	if err != nil {
		res.Error = err.Error()
	} else if failed > 0 {
		res.Error = fmt.Sprintf("%d of %d children did not exit 0", failed, n)
	}
	// Descriptors the runtime closes lazily (finalizers of os.File) and
	// goroutines that are just returning get a moment.
	deadline := time.Now().Add(2 * time.Second)
	for {
		runtime.GC()
		res.FDsAfter = countFDs()
		res.Children = children()
		if (res.FDsAfter <= res.FDsBefore && len(res.Children) == 0) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return res
}

// runGyre spawns n children on r's loop, c at a time, and runs r until the
// last has ended.
func runGyre(r gyre.Reactor, procs gyre.Processes, truePath string, n, c int) (int, error) {
	s := &spawner{r: r, procs: procs, path: truePath, argv: []string{"true"}, left: n}
	_, err := r.CallWhenRunning(func() {
		for i := 0; i < c && s.left > 0 && s.err == nil; i++ {
			s.spawn()
		}
		if s.err != nil {
			_ = r.Stop()
		}
	})
	if err != nil {
		return 0, err
	}
	if err := r.Run(); err != nil {
		return s.failed, err
	}
	if s.err != nil {
		return s.failed, s.err
	}
	if s.ended != n {
		return s.failed, fmt.Errorf("%d of %d children ended", s.ended, n)
	}
	return s.failed, nil
}

// spawner keeps c children in flight; it runs on the loop only.
type spawner struct {
	r       gyre.Reactor
	procs   gyre.Processes
	path    string
	argv    []string
	left    int // children still to start
	running int
	ended   int
	failed  int
	err     error
}

func (s *spawner) spawn() {
	s.left--
	if _, err := s.procs.SpawnProcess(&trueChild{s: s}, s.path, s.argv, nil); err != nil {
		s.err = err
		return
	}
	s.running++
}

// trueChild is the protocol of one child: it only counts the end.
type trueChild struct {
	gyre.BaseProcessProtocol
	s *spawner
}

func (t *trueChild) ProcessEnded(status gyre.ExitStatus) {
	s := t.s
	s.running--
	s.ended++
	if !status.Success() {
		s.failed++
	}
	if s.left > 0 && s.err == nil {
		s.spawn()
	}
	if s.running == 0 {
		_ = s.r.Stop()
	}
}

// runExec runs n children with os/exec from c goroutines.
func runExec(truePath string, n, c int, pipes bool) (int, error) {
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				cmd := exec.Command(truePath)
				if pipes {
					cmd.Stdin = strings.NewReader("")
					cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
				}
				if err := cmd.Run(); err != nil {
					failed.Add(1)
					var ee *exec.ExitError
					if !errors.As(err, &ee) {
						errOnce.Do(func() { firstErr = err })
					}
				}
			}
		}()
	}
	wg.Wait()
	return int(failed.Load()), firstErr
}

// cpuSelf returns the CPU time (user+sys) this process has used, in
// seconds; its children's is not included.
func cpuSelf() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// countFDs counts this process's open descriptors.
func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory's own descriptor
}

// children lists this process's children, running or zombie, as
// "PID STATE NAME".
func children() []string {
	me := strconv.Itoa(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// PID (COMM) STATE PPID ...: COMM may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		j := strings.IndexByte(s, '(')
		if i < 0 || j < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 2 && f[1] == me {
			out = append(out, e.Name()+" "+f[0]+" "+s[j+1:i])
		}
	}
	return out
}

// ---------------------------------------------------------------- report

func report(run *harness.Run[cell, result], truePath string, took time.Duration) {
	w := os.Stdout
	fmt.Fprintf(w, "# spawn-and-reap rate\n\n")
	fmt.Fprintf(w, "%s %s/%s, GOMAXPROCS=%d, NumCPU=%d; %d children of %s per measurement, each measurement in a fresh process;\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU(), *nProcs, truePath)
	fmt.Fprintf(w, "median of %d interleaved rounds; whole run %.0f s. Compare only within one run.\n\n", *rounds, took.Seconds())
	hdr := []string{"in flight"}
	for _, n := range run.Names {
		if run.Has(n) {
			hdr = append(hdr, n+" (proc/s)")
		}
	}
	for _, n := range run.Names {
		if run.Has(n) && strings.HasPrefix(n, "gyre-") {
			hdr = append(hdr, n+" / os/exec")
		}
	}
	fmt.Fprintln(w, harness.Row(hdr...))
	fmt.Fprintln(w, harness.SepRow(len(hdr), true))
	rate := func(r *result) float64 { return r.Rate }
	var verdicts []string
	for _, c := range run.Cells {
		cols := []string{strconv.Itoa(int(c))}
		for _, n := range run.Names {
			if !run.Has(n) {
				continue
			}
			if v, ok := run.Med(c, n, rate); ok {
				cols = append(cols, fmt.Sprintf("%.0f", v))
			} else {
				cols = append(cols, "–")
			}
		}
		base, okBase := run.Med(c, "os/exec", rate)
		for _, n := range run.Names {
			if !run.Has(n) || !strings.HasPrefix(n, "gyre-") {
				continue
			}
			v, ok := run.Med(c, n, rate)
			cols = append(cols, harness.RatioText(v, ok, base, okBase))
			if ok && okBase && base > 0 {
				verdicts = append(verdicts, fmt.Sprintf("%s, %d in flight: %.2f of os/exec's rate (%s)",
					n, int(c), v/base, verdict(v >= 0.8*base)))
			}
		}
		fmt.Fprintln(w, harness.Row(cols...))
	}
	fmt.Fprintf(w, "\nTarget: every gyre backend within 20%% of os/exec's rate (ratio >= 0.80).\n\n")
	fmt.Fprintf(w, "CPU time (user+sys) of the spawning process itself per child, in µs (the children's own is the same for all):\n\n")
	hdr = []string{"in flight"}
	for _, n := range run.Names {
		if run.Has(n) {
			hdr = append(hdr, n)
		}
	}
	fmt.Fprintln(w, harness.Row(hdr...))
	fmt.Fprintln(w, harness.SepRow(len(hdr), true))
	for _, c := range run.Cells {
		cols := []string{strconv.Itoa(int(c))}
		for _, n := range run.Names {
			if !run.Has(n) {
				continue
			}
			if v, ok := run.Med(c, n, func(r *result) float64 { return r.CPU }); ok {
				cols = append(cols, fmt.Sprintf("%.0f", v/float64(*nProcs)*1e6))
			} else {
				cols = append(cols, "–")
			}
		}
		fmt.Fprintln(w, harness.Row(cols...))
	}
	fmt.Fprintln(w)
	for _, v := range verdicts {
		fmt.Fprintln(w, "- "+v)
	}
	run.WriteServers(w, about)
	notes := run.FailureNotes(func(c cell, name string, round int, r *result) []string {
		var out []string
		if r.FDsAfter > r.FDsBefore {
			out = append(out, fmt.Sprintf("%s, %s, round %d: %d descriptors left open (%d before, %d after)",
				c, name, round, r.FDsAfter-r.FDsBefore, r.FDsBefore, r.FDsAfter))
		}
		if len(r.Children) > 0 {
			out = append(out, fmt.Sprintf("%s, %s, round %d: children left: %s", c, name, round, strings.Join(r.Children, "; ")))
		}
		return out
	})
	if len(notes) == 0 {
		fmt.Fprintf(w, "\nNo measurement left a descriptor open or a child (running or zombie) behind.\n")
	}
	harness.WriteProblems(w, notes)
	if *raw {
		run.WriteRaw(w, "Every round (processes per second)", "in flight", func(r *result) string { return fmt.Sprintf("%.0f", r.Rate) })
	}
}

func about(name string) string {
	switch {
	case strings.HasPrefix(name, "gyre-"):
		return "gyre's " + strings.TrimPrefix(name, "gyre-") + " backend: SpawnProcess with default options (pipes on 0, 1, 2), the next child started from ProcessEnded"
	case name == "os/exec":
		return "exec.Command(true).Run() from one goroutine per child in flight; the child's descriptors on /dev/null"
	case name == "os/exec+pipes":
		return "the same with Stdin a strings.Reader and Stdout, Stderr io.Discard: os/exec makes three pipes and copies through them"
	}
	return ""
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}
