//go:build unix

// Command corebench measures gyre's reactor core beside its standard-library
// peers in one run and prints markdown tables with the ratios:
//
//   - timers: n CallLater calls with random delays under a second, against
//     time.AfterFunc with the same delays: wall time to schedule, CPU time
//     (user+sys) until all have fired, and the peak resident memory;
//   - cancel: n schedule-then-cancel pairs against AfterFunc+Stop, and the
//     heap in use after a collection against the heap before;
//   - CallFromThread from 1 and 4 goroutines against a buffered channel of
//     closures drained by one goroutine;
//   - empty passes of the loop (Iterate(0)).
//
// Every measurement runs in a fresh child process (this binary run again with
// -child), so that one contender's heap, goroutines and timers cannot disturb
// the next, and so that the child's peak RSS belongs to that contender alone.
// The contenders are interleaved, and each figure is the median of -rounds.
//
// Usage (from the bench module):
//
//	go run ./cmd/corebench [-rounds 3] [-n 1000000] [-calls 4000000] [-iters 5000000]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/reactor"
)

var (
	rounds    = flag.Int("rounds", 3, "measure every contender this many times, interleaved, and report the median")
	nTimers   = flag.Int("n", 1_000_000, "timers scheduled (and schedule-then-cancel pairs) per measurement")
	nCalls    = flag.Int("calls", 4_000_000, "calls queued per CallFromThread measurement")
	nIters    = flag.Int("iters", 5_000_000, "empty loop passes per Iterate measurement")
	childTO   = flag.Duration("child-timeout", time.Minute, "give up on a measurement after this long")
	child     = flag.String("child", "", "internal: run one measurement (timers, cancel, bulk, cft, iterate) and print it as JSON")
	contender = flag.String("contender", "", "internal: the contender a -child measures")
	producers = flag.Int("producers", 1, "internal: producer goroutines of a cft -child")
)

// result is one measurement: named figures in seconds, bytes or counts.
type result map[string]float64

func main() {
	flag.Parse()
	if *child != "" {
		res := runChildMeasurement(*child, *contender)
		if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
			fatalf("%v", err)
		}
		return
	}
	if *rounds < 1 || *nTimers < 1 || *nCalls < 1 || *nIters < 1 {
		fatalf("-rounds, -n, -calls and -iters must be positive")
	}
	parent()
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "corebench: "+format+"\n", args...)
	os.Exit(1)
}

// ---------------------------------------------------------------- parent

type job struct {
	scenario  string
	contender string
	producers int
}

func (j job) key() string {
	if j.scenario == "cft" {
		return fmt.Sprintf("%s/%d/%s", j.scenario, j.producers, j.contender)
	}
	return j.scenario + "/" + j.contender
}

func parent() {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	gyres := reactor.Backends() // the default first; "epoll" and "std" on Linux
	var jobs []job
	for _, c := range append(slices.Clone(gyres), "afterfunc", "afterfunc-late") {
		jobs = append(jobs, job{"timers", c, 0})
	}
	for _, sc := range []string{"cancel", "bulk"} {
		for _, c := range append(slices.Clone(gyres), "afterfunc") {
			jobs = append(jobs, job{sc, c, 0})
		}
	}
	for _, p := range []int{1, 4} {
		for _, c := range append(slices.Clone(gyres), "chan") {
			jobs = append(jobs, job{"cft", c, p})
		}
	}
	for _, c := range gyres {
		jobs = append(jobs, job{"iterate", c, 0})
	}

	start := time.Now()
	all := make(map[string][]result)
	for round := 1; round <= *rounds; round++ {
		fmt.Fprintf(os.Stderr, "round %d/%d:", round, *rounds)
		for _, j := range jobs {
			fmt.Fprintf(os.Stderr, " %s", j.key())
			all[j.key()] = append(all[j.key()], runChild(exe, j))
		}
		fmt.Fprintf(os.Stderr, " (%.0fs)\n", time.Since(start).Seconds())
	}
	med := make(map[string]result)
	for k, rs := range all {
		med[k] = median(rs)
	}
	report(med, gyres, time.Since(start))
	rawFigures(jobs, all)
}

func runChild(exe string, j job) result {
	ctx, cancel := context.WithTimeout(context.Background(), *childTO)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe,
		"-child", j.scenario, "-contender", j.contender,
		"-producers", strconv.Itoa(j.producers),
		"-n", strconv.Itoa(*nTimers), "-calls", strconv.Itoa(*nCalls),
		"-iters", strconv.Itoa(*nIters))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fatalf("%s: %v", j.key(), err)
	}
	var res result
	if err := json.Unmarshal(out, &res); err != nil {
		fatalf("%s: bad output %q: %v", j.key(), out, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res["maxrss"] = float64(maxrssBytes(ru))
	}
	return res
}

// maxrssBytes converts ru_maxrss, which is in kilobytes except on Darwin.
func maxrssBytes(ru *syscall.Rusage) int64 {
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) * 1024
}

func median(rs []result) result {
	out := make(result)
	for k := range rs[0] {
		vs := make([]float64, 0, len(rs))
		for _, r := range rs {
			vs = append(vs, r[k])
		}
		slices.Sort(vs)
		if n := len(vs); n%2 == 1 {
			out[k] = vs[n/2]
		} else {
			out[k] = (vs[n/2-1] + vs[n/2]) / 2
		}
	}
	return out
}

// ---------------------------------------------------------------- report

func report(med map[string]result, gyres []string, took time.Duration) {
	n := *nTimers
	fmt.Printf("# gyre core benchmarks\n\n")
	fmt.Printf("%s %s/%s, GOMAXPROCS=%d, NumCPU=%d; median of %d interleaved rounds, each measurement in a fresh process; whole run %.0f s.\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU(), *rounds, took.Seconds())
	fmt.Printf("Figures swing by up to a third between runs on a shared machine: compare only within one run.\n\n")

	// Timers.
	af := med["timers/afterfunc"]
	fmt.Printf("## %s timers, random delays < 1 s\n\n", count(n))
	fmt.Printf("| contender | schedule (wall) | ns/call | CPU until all fired | peak RSS | RSS above baseline | schedule speed-up vs AfterFunc | CPU vs AfterFunc | peak RSS vs AfterFunc | RSS above baseline vs AfterFunc |\n")
	fmt.Printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	rows := append(slices.Clone(gyres), "afterfunc")
	for _, c := range append(slices.Clone(rows), "afterfunc-late") {
		r := med["timers/"+c]
		above := r["maxrss"] - r["base_rss"]
		fmt.Printf("| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s |\n",
			label(c), secs(r["sched_s"]), r["sched_s"]/float64(n)*1e9, secs(r["cpu_s"]),
			mib(r["maxrss"]), mib(above),
			times(af["sched_s"]/r["sched_s"]), frac(r["cpu_s"]/af["cpu_s"]),
			frac(r["maxrss"]/af["maxrss"]), frac(above/(af["maxrss"]-af["base_rss"])))
	}
	fmt.Printf("\nBaseline = the child's max RSS just before scheduling (runtime, plus the %s pre-generated delays).\n", mib(float64(8*n)))
	fmt.Printf("gyre schedules on its running loop, so none of its calls fires while it schedules. time.AfterFunc timers fire\n")
	fmt.Printf("(each on a new goroutine) on the other core while the rest are still being scheduled; the last row\n")
	fmt.Printf("shifts its delays to 1-2 s so that none does, which shows its bare cost of scheduling. Ratios are against time.AfterFunc.\n")
	fmt.Printf("Targets: schedule >= 8x faster than AfterFunc; memory <= 1/8 of AfterFunc (judged on RSS above baseline).\n\n")
	late := med["timers/afterfunc-late"]
	for _, c := range gyres {
		r := med["timers/"+c]
		above := r["maxrss"] - r["base_rss"]
		fmt.Printf("- %s: schedule %s (%s), %s against AfterFunc with none firing (%s); memory %s (%s)\n", label(c),
			times(af["sched_s"]/r["sched_s"]), verdict(af["sched_s"]/r["sched_s"] >= 8),
			times(late["sched_s"]/r["sched_s"]), verdict(late["sched_s"]/r["sched_s"] >= 8),
			frac(above/(af["maxrss"]-af["base_rss"])), verdict(above*8 <= af["maxrss"]-af["base_rss"]))
	}

	// Cancel.
	fmt.Printf("\n## %s schedule-then-cancel\n\n", count(n))
	fmt.Printf("| contender | pattern | time | ns/pair | speed-up vs AfterFunc+Stop | heap in use before | after GC | difference |\n")
	fmt.Printf("|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, sc := range []string{"cancel", "bulk"} {
		pat := "each cancelled at once"
		if sc == "bulk" {
			pat = "all scheduled, then all cancelled"
		}
		base := med[sc+"/afterfunc"]
		for _, c := range rows {
			r := med[sc+"/"+c]
			fmt.Printf("| %s | %s | %s | %.0f | %s | %s | %s | %s |\n",
				label(c), pat, secs(r["time_s"]), r["time_s"]/float64(n)*1e9, times(base["time_s"]/r["time_s"]),
				mib(r["heap_before"]), mib(r["heap_after"]), signedKiB(r["heap_after"]-r["heap_before"]))
		}
	}
	fmt.Printf("\nHeap in use = runtime.MemStats.HeapInuse after two runtime.GC() calls, the reactor (and the handle slice) still alive.\n")
	fmt.Printf("The bulk pattern uses delays of 1 h plus the random part, so that nothing fires before it is cancelled.\n")
	fmt.Printf("Targets: >= 2x faster than AfterFunc+Stop (each cancelled at once); heap back to baseline.\n\n")
	for _, c := range gyres {
		r, b := med["cancel/"+c], med["cancel/afterfunc"]
		rb := med["bulk/"+c]
		fmt.Printf("- %s: %s faster (%s); heap after GC %s / %s of baseline\n", label(c),
			times(b["time_s"]/r["time_s"]), verdict(b["time_s"]/r["time_s"] >= 2),
			signedKiB(r["heap_after"]-r["heap_before"]), signedKiB(rb["heap_after"]-rb["heap_before"]))
	}

	// CallFromThread.
	fmt.Printf("\n## CallFromThread, %s calls per measurement\n\n", count(*nCalls))
	fmt.Printf("| producers | contender | M calls/s | CPU ns/call | vs channel |\n")
	fmt.Printf("|---:|---|---:|---:|---:|\n")
	for _, p := range []int{1, 4} {
		ch := med[fmt.Sprintf("cft/%d/chan", p)]
		for _, c := range append(slices.Clone(gyres), "chan") {
			r := med[fmt.Sprintf("cft/%d/%s", p, c)]
			fmt.Printf("| %d | %s | %.2f | %.0f | %s |\n", p, label(c), r["rate"]/1e6,
				r["cpu_s"]/float64(*nCalls)*1e9, frac(r["rate"]/ch["rate"]))
		}
	}
	fmt.Printf("\nThe channel is a chan func() of capacity 1024 drained by one goroutine; the same closure is sent by the same producers.\n")
	fmt.Printf("Targets: >= 5 M calls/s from one goroutine; >= half the channel's rate.\n\n")
	for _, c := range gyres {
		r1, r4 := med["cft/1/"+c], med["cft/4/"+c]
		c1, c4 := med["cft/1/chan"], med["cft/4/chan"]
		fmt.Printf("- %s: 1 producer %.2f M/s (%s), %s of channel (%s); 4 producers %s of channel (%s)\n", label(c),
			r1["rate"]/1e6, verdict(r1["rate"] >= 5e6), frac(r1["rate"]/c1["rate"]), verdict(2*r1["rate"] >= c1["rate"]),
			frac(r4["rate"]/c4["rate"]), verdict(2*r4["rate"] >= c4["rate"]))
	}

	// Iterate.
	fmt.Printf("\n## Empty loop passes, Iterate(0), %s per measurement\n\n", count(*nIters))
	fmt.Printf("| backend | M iterations/s | ns/iteration | target >= 3 M/s |\n")
	fmt.Printf("|---|---:|---:|---|\n")
	for _, c := range gyres {
		r := med["iterate/"+c]
		fmt.Printf("| %s | %.2f | %.0f | %s |\n", label(c), r["rate"]/1e6, 1e9/r["rate"], verdict(r["rate"] >= 3e6))
	}
}

func label(c string) string {
	switch c {
	case "afterfunc":
		return "time.AfterFunc"
	case "afterfunc-late":
		return "time.AfterFunc, delays 1-2 s"
	case "chan":
		return "chan func()"
	}
	return "gyre " + c
}

func count(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	return b.String()
}

func secs(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.1f ms", s*1e3)
	}
	return fmt.Sprintf("%.2f s", s)
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

func signedKiB(b float64) string { return fmt.Sprintf("%+.0f KiB", b/1024) }

func times(x float64) string { return fmt.Sprintf("%.2fx", x) }

func frac(x float64) string {
	if x > 0 && x < 1 {
		return fmt.Sprintf("%.2f (1/%.1f)", x, 1/x)
	}
	return fmt.Sprintf("%.2f", x)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// ---------------------------------------------------------------- children

func runChildMeasurement(scenario, c string) result {
	switch scenario {
	case "timers":
		return measureTimers(c, *nTimers)
	case "cancel":
		return measureCancel(c, *nTimers, false)
	case "bulk":
		return measureCancel(c, *nTimers, true)
	case "cft":
		return measureCallFromThread(c, *nCalls, *producers)
	case "iterate":
		return measureIterate(c, *nIters)
	}
	fatalf("unknown -child %q", scenario)
	return nil
}

func newReactor(name string) gyre.Reactor {
	r, err := reactor.NewBackend(name)
	if err != nil {
		fatalf("%v", err)
	}
	return r
}

// delays returns n pseudo-random delays in [offset, offset+1s).
func delays(n int, offset time.Duration) []time.Duration {
	rng := rand.New(rand.NewPCG(1, 2))
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = offset + time.Duration(rng.Int64N(int64(time.Second)))
	}
	return ds
}

// cpuTime returns the user plus system time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func selfMaxrss() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fatalf("getrusage: %v", err)
	}
	return float64(maxrssBytes(&ru))
}

// measureTimers schedules n calls with random delays under a second and waits
// until all have fired. For gyre the calls are made on the running loop.
func measureTimers(c string, n int) result {
	offset := time.Duration(0)
	if c == "afterfunc-late" {
		offset = time.Second // none fires while the rest are scheduled
	}
	ds := delays(n, offset)
	runtime.GC()
	res := result{"base_rss": selfMaxrss()}
	var (
		t0, tEnd   time.Time
		cpu0, cpu1 time.Duration
		sched      time.Duration
	)
	if c == "afterfunc" || c == "afterfunc-late" {
		var fired atomic.Int64
		done := make(chan struct{})
		f := func() {
			if fired.Add(1) == int64(n) {
				tEnd, cpu1 = time.Now(), cpuTime()
				close(done)
			}
		}
		cpu0, t0 = cpuTime(), time.Now()
		for _, d := range ds {
			time.AfterFunc(d, f)
		}
		sched = time.Since(t0)
		<-done
	} else {
		r := newReactor(c)
		fired := 0
		f := func() {
			fired++
			if fired == n {
				tEnd, cpu1 = time.Now(), cpuTime()
				_ = r.Stop()
			}
		}
		_, err := r.CallWhenRunning(func() {
			cpu0, t0 = cpuTime(), time.Now()
			for _, d := range ds {
				if _, err := r.CallLater(d, f); err != nil {
					fatalf("CallLater: %v", err)
				}
			}
			sched = time.Since(t0)
		})
		if err != nil {
			fatalf("%v", err)
		}
		if err := r.Run(); err != nil {
			fatalf("Run: %v", err)
		}
	}
	res["sched_s"] = sched.Seconds()
	res["fired_s"] = tEnd.Sub(t0).Seconds()
	res["cpu_s"] = (cpu1 - cpu0).Seconds()
	return res
}

// heapInUse returns HeapInuse after two full collections (the second also
// frees what the first only finalised).
func heapInUse() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse)
}

// measureCancel makes n schedule-then-cancel pairs: each call cancelled at
// once, or (bulk) all scheduled first and then all cancelled.
func measureCancel(c string, n int, bulk bool) result {
	offset := time.Duration(0)
	if bulk {
		offset = time.Hour // nothing fires before it is cancelled
	}
	ds := delays(n, offset)
	f := func() {}
	var (
		r       gyre.Reactor
		calls   []gyre.DelayedCall
		timers  []*time.Timer
		elapsed time.Duration
	)
	if c != "afterfunc" {
		r = newReactor(c)
	}
	if bulk {
		if r != nil {
			calls = make([]gyre.DelayedCall, n)
		} else {
			timers = make([]*time.Timer, n)
		}
	}
	before := heapInUse()
	t0 := time.Now()
	switch {
	case r == nil && !bulk:
		for _, d := range ds {
			// A delay of a few nanoseconds may fire first: not an error.
			time.AfterFunc(d, f).Stop()
		}
	case r == nil:
		for i, d := range ds {
			timers[i] = time.AfterFunc(d, f)
		}
		for _, t := range timers {
			if !t.Stop() {
				fatalf("timer due in an hour fired before Stop")
			}
		}
	case !bulk:
		for _, d := range ds {
			dc, err := r.CallLater(d, f)
			if err != nil {
				fatalf("CallLater: %v", err)
			}
			if err := dc.Cancel(); err != nil {
				fatalf("Cancel: %v", err)
			}
		}
	default:
		for i, d := range ds {
			dc, err := r.CallLater(d, f)
			if err != nil {
				fatalf("CallLater: %v", err)
			}
			calls[i] = dc
		}
		for _, dc := range calls {
			if err := dc.Cancel(); err != nil {
				fatalf("Cancel: %v", err)
			}
		}
	}
	elapsed = time.Since(t0)
	clear(calls)
	clear(timers)
	after := heapInUse()
	runtime.KeepAlive(ds)
	runtime.KeepAlive(calls)
	runtime.KeepAlive(timers)
	if r != nil {
		if k := len(r.DelayedCalls()); k != 0 {
			fatalf("%d calls still pending after cancelling", k)
		}
		runtime.KeepAlive(r)
	}
	return result{"time_s": elapsed.Seconds(), "heap_before": before, "heap_after": after}
}

// measureCallFromThread has p goroutines queue calls (in all) calls and
// measures until the last has run.
func measureCallFromThread(c string, calls, p int) result {
	ran := 0
	done := make(chan struct{})
	var (
		queue   func(f func()) error
		cleanup func()
	)
	var r gyre.Reactor
	call := func() { // runs on the loop, or on the channel's consumer
		ran++
		if ran == calls {
			close(done)
			if r != nil {
				_ = r.Stop()
			}
		}
	}
	if c == "chan" {
		ch := make(chan func(), 1024)
		go func() {
			for f := range ch {
				f()
			}
		}()
		queue = func(f func()) error { ch <- f; return nil }
		cleanup = func() { close(ch) }
	} else {
		r = newReactor(c)
		started := make(chan struct{})
		if _, err := r.CallWhenRunning(func() { close(started) }); err != nil {
			fatalf("%v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- r.Run() }()
		<-started
		queue = r.CallFromThread
		cleanup = func() {
			if err := <-exited; err != nil {
				fatalf("Run: %v", err)
			}
		}
	}
	var wg sync.WaitGroup
	cpu0, t0 := cpuTime(), time.Now()
	for i := range p {
		share := calls / p
		if i == 0 {
			share += calls % p
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range share {
				if err := queue(call); err != nil {
					fatalf("CallFromThread: %v", err)
				}
			}
		}()
	}
	<-done
	elapsed, cpu := time.Since(t0), cpuTime()-cpu0
	wg.Wait()
	cleanup()
	return result{"rate": float64(calls) / elapsed.Seconds(), "cpu_s": cpu.Seconds()}
}

// measureIterate runs iters empty passes of a loop that has nothing queued,
// scheduled or registered.
func measureIterate(c string, iters int) result {
	r := newReactor(c)
	t0 := time.Now()
	for range iters {
		if err := r.Iterate(0); err != nil {
			fatalf("Iterate: %v", err)
		}
	}
	elapsed := time.Since(t0)
	if err := r.FireSystemEvent(gyre.Shutdown); err != nil {
		fatalf("shutdown: %v", err)
	}
	return result{"rate": float64(iters) / elapsed.Seconds()}
}

// rawFigures prints each round's headline figure, to show the spread.
func rawFigures(jobs []job, all map[string][]result) {
	fmt.Printf("\n## Per-round figures (rounds in run order)\n\n")
	fmt.Printf("| measurement | figure | rounds |\n|---|---|---|\n")
	for _, j := range jobs {
		var name string
		var show func(result) string
		switch j.scenario {
		case "timers":
			name = "schedule / CPU / peak RSS"
			show = func(r result) string {
				return secs(r["sched_s"]) + " / " + secs(r["cpu_s"]) + " / " + mib(r["maxrss"])
			}
		case "cancel", "bulk":
			name = "time"
			show = func(r result) string { return secs(r["time_s"]) }
		default:
			name = "M/s"
			show = func(r result) string { return fmt.Sprintf("%.2f", r["rate"]/1e6) }
		}
		var vs []string
		for _, r := range all[j.key()] {
			vs = append(vs, show(r))
		}
		fmt.Printf("| %s | %s | %s |\n", j.key(), name, strings.Join(vs, "; "))
	}
}
