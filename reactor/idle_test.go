//go:build unix

package reactor_test

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
	"github.com/gyre-go/gyre/reactor"
)

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestIdleCPUFiveSeconds measures, over five seconds, the CPU used by one
// reactor of every backend sitting idle and one of every backend waiting on a
// Before "startup" Deferred, all at once. Together they must stay under 1% of
// one core.
func TestIdleCPUFiveSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("takes five seconds")
	}
	const window = 5 * time.Second
	type run struct {
		r    gyre.Reactor
		done chan error
	}
	var runs []run
	for _, name := range reactor.Backends() {
		for _, pending := range []bool{false, true} {
			r, err := reactor.NewBackend(name)
			if err != nil {
				t.Fatal(err)
			}
			if pending {
				d := deferred.New(nil)
				r.AddSystemEventTrigger(gyre.Before, gyre.Startup, func() *deferred.Deferred { return d })
				// Fired from outside once the window is over.
				r.AddSystemEventTrigger(gyre.Before, "release", func() *deferred.Deferred {
					d.Callback(nil)
					return nil
				})
			}
			ru := run{r: r, done: make(chan error, 1)}
			go func() {
				runtime.LockOSThread() // the loop owns this goroutine
				ru.done <- r.Run()
			}()
			runs = append(runs, ru)
		}
	}
	// Let every loop reach its wait, then measure.
	ready := make(chan struct{}, len(runs))
	for _, ru := range runs {
		ru.r.CallFromThread(func() { ready <- struct{}{} })
	}
	for range runs {
		<-ready
	}
	runtime.GC()
	start, wall := cpuTime(t), time.Now()
	time.Sleep(window) // the measurement window itself, not a wait for an event
	used, elapsed := cpuTime(t)-start, time.Since(wall)
	for _, ru := range runs {
		r := ru.r
		r.CallFromThread(func() {
			r.FireSystemEvent("release")
			r.Stop()
		})
	}
	for _, ru := range runs {
		select {
		case err := <-ru.done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a reactor did not stop")
		}
	}
	share := float64(used) / float64(elapsed) * 100
	t.Logf("%d idle reactors used %v of CPU in %v: %.3f%% of one core", len(runs), used, elapsed.Round(time.Millisecond), share)
	if share >= 1 {
		t.Errorf("idle reactors used %.2f%% of a core, want under 1%%", share)
	}
}

// TestPoolWithoutRunExits runs a program (this test binary, re-executed) that
// uses the worker pool of a reactor it never runs, fires "shutdown" by hand
// and returns from main: it must exit at once with status 0, its workers gone.
func TestPoolWithoutRunExits(t *testing.T) {
	if os.Getenv("GYRE_TEST_POOL_CHILD") == "1" {
		poolChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPoolWithoutRunExits$")
	cmd.Env = append(os.Environ(), "GYRE_TEST_POOL_CHILD=1")
	done := make(chan error, 1)
	var out []byte
	go func() {
		var err error
		out, err = cmd.CombinedOutput()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("child failed: %v\n%s", err, out)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("child did not exit")
	}
}

func poolChild() {
	base := runtime.NumGoroutine()
	r, err := reactor.New()
	if err != nil {
		panic(err)
	}
	results := make(chan int, 20)
	for i := range 20 {
		if err := r.CallInThread(func() { results <- i }); err != nil {
			panic(err)
		}
	}
	if err := r.FireSystemEvent(gyre.Shutdown); err != nil {
		panic(err)
	}
	if len(results) != 20 {
		panic("not every job ran before shutdown returned")
	}
	if err := r.CallInThread(func() {}); err == nil {
		panic("the pool accepted work after shutdown")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			panic("worker goroutines still running after shutdown")
		}
		runtime.Gosched()
	}
	os.Exit(0)
}
