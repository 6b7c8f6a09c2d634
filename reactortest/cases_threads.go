package reactortest

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// Cases for the "Threads: calls from other goroutines and the worker pool"
// section of docs/SPEC.md.
//
// Goroutines started by a case report back through channels, atomics or
// CallFromThread, and call no reactor method but CallFromThread and
// CallInThread. A goroutine that waits for the loop gives up after c.Deadline,
// so that a reactor that never answers fails the case instead of hanging it.

func init() {
	register(
		Case{ID: "threads.call.runs", Facet: FacetThreads, Needs: NeedThreads, Test: thrCallRuns},
		Case{ID: "threads.call.wakes", Facet: FacetThreads, Needs: NeedThreads | NeedClock, Test: thrCallWakes},
		Case{ID: "threads.call.fifo", Facet: FacetThreads, Needs: NeedThreads, Test: thrCallFIFO},
		Case{ID: "threads.call.many", Facet: FacetThreads, Needs: NeedThreads, Test: thrCallMany},
		Case{ID: "threads.call.before-run", Facet: FacetThreads, Needs: NeedThreads, Test: thrCallBeforeRun},
		Case{ID: "threads.call.next-pass", Facet: FacetThreads, Needs: NeedThreads | NeedClock, Test: thrCallNextPass},
		Case{ID: "threads.call.next-pass#self-requeue", Facet: FacetThreads, Needs: NeedThreads | NeedClock, Test: thrCallNextPassSelfRequeue},
		Case{ID: "threads.call.before-timers", Facet: FacetThreads, Needs: NeedThreads | NeedClock, Test: thrCallBeforeTimers},
		Case{ID: "threads.call.before-timers#first-pass", Facet: FacetThreads, Needs: NeedThreads | NeedClock, Test: thrCallBeforeTimersFirstPass},
		Case{ID: "threads.call.shutdown", Facet: FacetThreads, Needs: NeedThreads, Test: thrCallShutdown},
		Case{ID: "threads.call.shutdown#stopped", Facet: FacetThreads, Needs: NeedThreads, Test: thrCallShutdownStopped},
		Case{ID: "threads.pool.off-loop", Facet: FacetThreads, Needs: NeedThreads | NeedClock, Test: thrPoolOffLoop},
		Case{ID: "threads.pool.size", Facet: FacetThreads, Needs: NeedThreads | NeedClock, Test: thrPoolSize},
		Case{ID: "threads.pool.size#invalid", Facet: FacetThreads, Needs: NeedThreads, Test: thrPoolSizeInvalid},
		Case{ID: "threads.pool.on-demand", Facet: FacetThreads, Needs: NeedThreads | NeedClock, Test: thrPoolOnDemand},
		Case{ID: "threads.pool.shutdown", Facet: FacetThreads, Needs: NeedThreads | NeedClock, Test: thrPoolShutdown},
		Case{ID: "threads.pool.stopped", Facet: FacetThreads, Needs: NeedThreads, Test: thrPoolStopped},
		Case{ID: "threads.pool.stopped#during-shutdown", Facet: FacetThreads, Needs: NeedThreads, Test: thrPoolStoppedDuringShutdown},
		Case{ID: "threads.pool.never-run", Facet: FacetThreads, Needs: NeedThreads, Test: thrPoolNeverRun},
		Case{ID: "threads.pool.never-run#calls-loop", Facet: FacetThreads, Needs: NeedThreads, Test: thrPoolNeverRunCallsLoop},
		Case{ID: "threads.defer.result", Facet: FacetThreads, Needs: NeedThreads, Test: thrDeferValue},
		Case{ID: "threads.defer.result#error", Facet: FacetThreads, Needs: NeedThreads, Test: thrDeferError},
		Case{ID: "threads.defer.result#panic", Facet: FacetThreads, Needs: NeedThreads, Test: thrDeferPanic},
	)
}

// thrGoID returns the id of the calling goroutine, read from its stack
// header ("goroutine 42 [running]:").
func thrGoID() uint64 {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	if i := strings.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	id, _ := strconv.ParseUint(s, 10, 64)
	return id
}

// thrWhenRunning registers f to run once the reactor is running, failing the
// case if it cannot.
func thrWhenRunning(c *C, f func()) {
	c.Helper()
	if _, err := c.R.CallWhenRunning(f); err != nil {
		c.Fatalf("CallWhenRunning: %v", err)
	}
}

// thrTrigger registers f in phase of "shutdown", failing the case if it
// cannot.
func thrTrigger(c *C, phase gyre.Phase, f func()) {
	c.Helper()
	_, err := c.R.AddSystemEventTrigger(phase, gyre.Shutdown, func() *deferred.Deferred {
		f()
		return nil
	})
	if err != nil {
		c.Fatalf("AddSystemEventTrigger(%v, shutdown): %v", phase, err)
	}
}

// thrStop returns a function that stops the reactor, to queue or schedule.
func thrStop(c *C) func() {
	return func() { c.NoErr(c.R.Stop(), "Stop") }
}

// thrWait waits for ch to be closed or to deliver, for at most c.Deadline. It
// reports whether it did. It may be called from any goroutine.
func thrWait[V any](c *C, ch <-chan V) bool {
	select {
	case <-ch:
		return true
	case <-time.After(c.Deadline):
		return false
	}
}

func thrCallRuns(c *C) {
	var loopID, callerID uint64
	ran, onLoop := false, false
	errc := make(chan error, 1)
	thrWhenRunning(c, func() {
		loopID = thrGoID()
		go func() {
			atomic.StoreUint64(&callerID, thrGoID())
			errc <- c.Threads.CallFromThread(func() {
				ran = true
				onLoop = thrGoID() == loopID
				c.NoErr(c.R.Stop(), "Stop")
			})
		}()
	})
	c.NoErr(c.Run(), "Run")
	c.NoErr(<-errc, "CallFromThread from another goroutine")
	c.True(ran, "the queued call never ran")
	c.True(onLoop, "the queued call did not run on the loop goroutine")
	c.True(atomic.LoadUint64(&callerID) != loopID, "the calling goroutine was the loop goroutine")
}

// thrCallWakes: with no timer pending, the loop blocks; a call from another
// goroutine must wake it. Rounds alternate between a goroutine that queues at
// once (racing the loop into its wait) and ones that queue after a short wait
// (when the loop is surely blocked). A reactor that fails to wake hangs, and
// only go test's own timeout ends the case.
func thrCallWakes(c *C) {
	const rounds = 12
	done := 0
	var round func()
	round = func() {
		if n := len(c.Clock.DelayedCalls()); n != 0 {
			c.Errorf("round %d: %d timers pending, want none", done, n)
		}
		wait := time.Duration(done%3) * 5 * time.Millisecond
		go func() {
			if wait > 0 {
				<-time.After(wait)
			}
			err := c.Threads.CallFromThread(func() {
				if done++; done == rounds {
					c.NoErr(c.R.Stop(), "Stop")
					return
				}
				round()
			})
			if err != nil {
				c.Errorf("CallFromThread: %v", err)
			}
		}()
	}
	thrWhenRunning(c, round)
	c.NoErr(c.Run(), "Run")
	c.Equal(done, rounds, "rounds in which a queued call woke the loop")
}

func thrCallFIFO(c *C) {
	const n = 2000
	var got []int
	failed := make(chan error, 1)
	thrWhenRunning(c, func() {
		go func() {
			for i := range n {
				if err := c.Threads.CallFromThread(func() { got = append(got, i) }); err != nil {
					failed <- err
					break
				}
			}
			_ = c.Threads.CallFromThread(thrStop(c))
		}()
	})
	c.NoErr(c.Run(), "Run")
	select {
	case err := <-failed:
		c.Errorf("CallFromThread: %v", err)
	default:
	}
	c.Equal(len(got), n, "calls run")
	for i, v := range got {
		if v != i {
			c.Errorf("call %d ran in position %d: calls from one goroutine ran out of order", v, i)
			break
		}
	}
}

func thrCallMany(c *C) {
	const goroutines, each = 8, 500
	counts := make([]int, goroutines*each)
	var failures atomic.Int32
	thrWhenRunning(c, func() {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := range each {
					id := g*each + i
					if c.Threads.CallFromThread(func() { counts[id]++ }) != nil {
						failures.Add(1)
					}
				}
			}()
		}
		close(start)
		go func() {
			wg.Wait()
			// Queued after every other call has been queued.
			if c.Threads.CallFromThread(thrStop(c)) != nil {
				failures.Add(1)
			}
		}()
	})
	c.NoErr(c.Run(), "Run")
	c.Equal(failures.Load(), 0, "failed CallFromThread calls")
	bad := 0
	for id, n := range counts {
		if n != 1 {
			if bad < 5 {
				c.Errorf("call %d ran %d times, want once", id, n)
			}
			bad++
		}
	}
	c.Equal(bad, 0, "calls that did not run exactly once")
}

func thrCallBeforeRun(c *C) {
	var got []string
	started := false
	mark := func(name string) func() {
		return func() {
			c.True(started, "call %s queued before Run ran before Run was called", name)
			got = append(got, name)
		}
	}
	c.NoErr(c.Threads.CallFromThread(mark("a")), "CallFromThread before Run")
	errc := make(chan error, 1)
	go func() {
		errc <- c.Threads.CallFromThread(mark("b"))
	}()
	c.NoErr(<-errc, "CallFromThread from another goroutine before Run")
	c.NoErr(c.Threads.CallFromThread(func() {
		mark("c")()
		c.NoErr(c.R.Stop(), "Stop")
	}), "CallFromThread before Run")
	c.Equal(len(got), 0, "calls run before Run")
	started = true
	c.NoErr(c.Run(), "Run")
	c.Equal(strings.Join(got, " "), "a b c", "calls queued before Run, in order of run")
}

// thrCallNextPass: call A, queued by a timer, queues B; timer T, scheduled
// by the same timer with delay 0, is due in the pass that runs A. B must wait
// for the pass after: A, T, B.
func thrCallNextPass(c *C) {
	var got []string
	thrWhenRunning(c, func() {
		c.Later(0, func() {
			c.Later(0, func() { got = append(got, "T") })
			c.NoErr(c.Threads.CallFromThread(func() {
				got = append(got, "A")
				c.NoErr(c.Threads.CallFromThread(func() {
					got = append(got, "B")
					c.NoErr(c.R.Stop(), "Stop")
				}), "CallFromThread from a queued call")
			}), "CallFromThread")
		})
	})
	c.NoErr(c.Run(), "Run")
	c.Equal(strings.Join(got, " "), "A T B", "order (A queues B; timer T is due in A's pass)")
}

// thrCallNextPassSelfRequeue: a call that keeps queueing itself must not
// keep a timer from running.
func thrCallNextPassSelfRequeue(c *C) {
	const limit = 1000000
	runs := 0
	stopped, starved := false, false
	var again func()
	again = func() {
		runs++
		if stopped {
			return
		}
		if runs == limit {
			starved = true
			c.NoErr(c.R.Crash(), "Crash")
			return
		}
		c.NoErr(c.Threads.CallFromThread(again), "CallFromThread")
	}
	thrWhenRunning(c, func() {
		c.NoErr(c.Threads.CallFromThread(again), "CallFromThread")
		c.Later(10*time.Millisecond, func() {
			stopped = true
			c.NoErr(c.R.Stop(), "Stop")
		})
	})
	err := c.Run()
	c.True(!starved, "a call that queued itself ran %d times while a 10ms timer waited", limit)
	if !starved {
		c.NoErr(err, "Run")
	}
	c.True(stopped, "the timer never ran")
	c.True(runs > 1, "the self-queueing call ran %d times", runs)
}

// thrCallBeforeTimers: queued call Q schedules timer T with delay 0 and then
// queues call X. Both wait for the next pass, where both are due: X runs
// first.
func thrCallBeforeTimers(c *C) {
	var got []string
	thrWhenRunning(c, func() {
		c.NoErr(c.Threads.CallFromThread(func() {
			c.Later(0, func() {
				got = append(got, "T")
				c.NoErr(c.R.Stop(), "Stop")
			})
			c.NoErr(c.Threads.CallFromThread(func() { got = append(got, "X") }), "CallFromThread")
		}), "CallFromThread")
	})
	c.NoErr(c.Run(), "Run")
	c.Equal(strings.Join(got, " "), "X T", "order (T scheduled, then X queued, both for the next pass)")
}

// thrCallBeforeTimersFirstPass: a timer and a call, both set up before the
// first pass, run the queued call first.
func thrCallBeforeTimersFirstPass(c *C) {
	var got []string
	thrWhenRunning(c, func() {
		c.Later(0, func() {
			got = append(got, "T")
			c.NoErr(c.R.Stop(), "Stop")
		})
		c.NoErr(c.Threads.CallFromThread(func() { got = append(got, "X") }), "CallFromThread")
	})
	c.NoErr(c.Run(), "Run")
	c.Equal(strings.Join(got, " "), "X T", "order (T scheduled, then X queued, before the first pass)")
}

// thrCallShutdown queues calls from each phase of "shutdown", from the loop
// and from other goroutines: all run before Run returns.
func thrCallShutdown(c *C) {
	var loopID uint64
	ran := map[string]bool{}
	offLoop := []string{}
	queue := func(name string) {
		c.Helper()
		c.NoErr(c.Threads.CallFromThread(func() {
			ran[name] = true
			if thrGoID() != loopID {
				offLoop = append(offLoop, name)
			}
		}), "CallFromThread from "+name)
	}
	fromGoroutine := func(name string) {
		errc := make(chan error, 1)
		go func() {
			errc <- c.Threads.CallFromThread(func() { ran[name] = true })
		}()
		c.NoErr(<-errc, "CallFromThread from a goroutine in "+name)
	}
	thrTrigger(c, gyre.Before, func() { queue("before"); fromGoroutine("before/goroutine") })
	thrTrigger(c, gyre.During, func() { queue("during"); fromGoroutine("during/goroutine") })
	thrTrigger(c, gyre.After, func() { queue("after"); fromGoroutine("after/goroutine") })
	thrWhenRunning(c, func() {
		loopID = thrGoID()
		c.NoErr(c.R.Stop(), "Stop")
	})
	c.NoErr(c.Run(), "Run")
	for _, name := range []string{"before", "during", "after", "before/goroutine", "during/goroutine", "after/goroutine"} {
		c.True(ran[name], "a call queued in the %s phase of shutdown did not run before Run returned", name)
	}
	c.Equal(len(offLoop), 0, "calls queued during shutdown that ran off the loop")
}

func thrCallShutdownStopped(c *C) {
	thrWhenRunning(c, thrStop(c))
	c.NoErr(c.Run(), "Run")
	c.ErrIs(c.Threads.CallFromThread(func() { c.Errorf("a call queued after the reactor stopped ran") }),
		gyre.ErrStopped, "CallFromThread after the reactor stopped")
	errc := make(chan error, 1)
	go func() { errc <- c.Threads.CallFromThread(func() {}) }()
	c.ErrIs(<-errc, gyre.ErrStopped, "CallFromThread from another goroutine after the reactor stopped")
	c.ErrIs(c.Threads.CallFromThread(nil), gyre.ErrNilFunc, "CallFromThread(nil) after the reactor stopped")
}

// thrPoolOffLoop: a pool function blocks until the loop has run three timers
// and releases it.
func thrPoolOffLoop(c *C) {
	var loopID, workerID atomic.Uint64
	release := make(chan struct{})
	var gaveUp atomic.Bool
	ticks, ticksSeen := 0, -1
	thrWhenRunning(c, func() {
		loopID.Store(thrGoID())
		c.NoErr(c.Threads.CallInThread(func() {
			workerID.Store(thrGoID())
			if !thrWait(c, release) {
				gaveUp.Store(true)
			}
			_ = c.Threads.CallFromThread(func() {
				ticksSeen = ticks
				c.NoErr(c.R.Stop(), "Stop")
			})
		}), "CallInThread")
		for i := 1; i <= 3; i++ {
			c.Later(time.Duration(i)*5*time.Millisecond, func() {
				if ticks++; ticks == 3 {
					close(release)
				}
			})
		}
	})
	c.NoErr(c.Run(), "Run")
	c.True(!gaveUp.Load(), "the pool function was never released: the loop did not run while it blocked")
	c.Equal(ticksSeen, 3, "timers run while the pool function blocked")
	c.True(workerID.Load() != 0 && workerID.Load() != loopID.Load(), "the pool function ran on the loop goroutine")
}

// thrPoolSize: with a pool of 2, six blocking functions run at most two at a
// time. The loop releases them once two have started and 30ms more have
// passed, time enough for an unbounded pool to start the others.
func thrPoolSize(c *C) {
	const jobs, size = 6, 2
	var active, most, started atomic.Int32
	var gaveUp atomic.Bool
	release := make(chan struct{})
	finished := 0
	c.NoErr(c.Threads.SetThreadPoolSize(size), "SetThreadPoolSize")
	thrWhenRunning(c, func() {
		for range jobs {
			c.NoErr(c.Threads.CallInThread(func() {
				n := active.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				started.Add(1)
				// On a reactor that runs the function on the loop, the
				// loop cannot release it: give up once, not six times.
				if !gaveUp.Load() && !thrWait(c, release) {
					gaveUp.Store(true)
				}
				active.Add(-1)
				_ = c.Threads.CallFromThread(func() {
					if finished++; finished == jobs {
						c.NoErr(c.R.Stop(), "Stop")
					}
				})
			}), "CallInThread")
		}
		var poll func()
		poll = func() {
			if started.Load() < size {
				c.Later(time.Millisecond, poll)
				return
			}
			c.Later(30*time.Millisecond, func() { close(release) })
		}
		poll()
	})
	c.NoErr(c.Run(), "Run")
	c.True(!gaveUp.Load(), "pool functions were never released")
	c.Equal(finished, jobs, "pool functions finished")
	c.Equal(most.Load(), size, "most pool functions running at once")
}

func thrPoolSizeInvalid(c *C) {
	for _, n := range []int{0, -1, -1 << 40} {
		c.ErrIs(c.Threads.SetThreadPoolSize(n), gyre.ErrInvalidPoolSize, "SetThreadPoolSize("+strconv.Itoa(n)+")")
	}
	c.NoErr(c.Threads.SetThreadPoolSize(1), "SetThreadPoolSize(1)")
	ran := false
	thrWhenRunning(c, func() {
		for _, n := range []int{0, -5} {
			c.ErrIs(c.Threads.SetThreadPoolSize(n), gyre.ErrInvalidPoolSize, "SetThreadPoolSize("+strconv.Itoa(n)+") while running")
		}
		c.NoErr(c.Threads.CallInThread(func() {
			_ = c.Threads.CallFromThread(func() {
				ran = true
				c.NoErr(c.R.Stop(), "Stop")
			})
		}), "CallInThread")
	})
	c.NoErr(c.Run(), "Run")
	c.True(ran, "the pool did not run a function after refused sizes")
}

// thrGoroutines returns the stacks of the live goroutines by id. Ids are
// never reused, so comparing two snapshots tells which goroutines started in
// between, whatever exited meanwhile.
func thrGoroutines() map[uint64]string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := make(map[uint64]string)
	for _, g := range strings.Split(string(buf), "\n\n") {
		rest, ok := strings.CutPrefix(g, "goroutine ")
		if !ok {
			continue
		}
		idText, _, _ := strings.Cut(rest, " ")
		if id, err := strconv.ParseUint(idText, 10, 64); err == nil {
			out[id] = g
		}
	}
	return out
}

// thrStarted describes the goroutines live now that base does not list,
// leaving out the one os/signal starts for the whole process, the waiting
// goroutine of package interleave (a helper of the backend's, not the pool's)
// and the loop's signal forwarder (Run's default SIGINT and SIGTERM handler).
func thrStarted(base map[uint64]string) []string {
	var out []string
	for id, stack := range thrGoroutines() {
		if _, ok := base[id]; !ok && !strings.Contains(stack, "os/signal.") &&
			!strings.Contains(stack, "gyre/interleave.(*Interleaver).helper") &&
			!strings.Contains(stack, "internal/loop.(*Loop).forwardSignals") {
			out = append(out, stack)
		}
	}
	return out
}

// thrPoolOnDemand: neither configuring the pool nor running the reactor
// starts a goroutine; the first function does.
func thrPoolOnDemand(c *C) {
	base := thrGoroutines()
	c.NoErr(c.Threads.SetThreadPoolSize(8), "SetThreadPoolSize(8)")
	if gs := thrStarted(base); len(gs) > 0 {
		c.Errorf("SetThreadPoolSize with no work started %d goroutine(s):\n%s", len(gs), strings.Join(gs, "\n\n"))
	}
	release := make(chan struct{})
	started := make(chan uint64, 1)
	var gaveUp atomic.Bool
	thrWhenRunning(c, func() {
		c.NoErr(c.Threads.SetThreadPoolSize(4), "SetThreadPoolSize(4)")
		c.Later(20*time.Millisecond, func() {
			if gs := thrStarted(base); len(gs) > 0 {
				c.Errorf("a running reactor whose pool has no work started %d goroutine(s):\n%s", len(gs), strings.Join(gs, "\n\n"))
			}
			c.NoErr(c.Threads.CallInThread(func() {
				started <- thrGoID()
				if !thrWait(c, release) {
					gaveUp.Store(true)
				}
			}), "CallInThread")
			select {
			case id := <-started:
				_, old := base[id]
				c.True(!old, "the pool ran its first function on goroutine %d, which existed before the pool had work", id)
			case <-time.After(c.Deadline):
				c.Errorf("the pool did not start its first function")
			}
			close(release)
			c.NoErr(c.R.Stop(), "Stop")
		})
	})
	c.NoErr(c.Run(), "Run")
	c.True(!gaveUp.Load(), "the pool function was never released")
}

// thrPoolShutdown: a Before "shutdown" trigger hands the pool of one worker a
// function that needs the loop to finish (it waits for a timer that the loop
// schedules on its behalf), and a second function queued behind it. The
// During triggers must find both finished, and the pool closed to new work
// while it drained.
func thrPoolShutdown(c *C) {
	var firstDone, secondDone, gaveUp atomic.Bool
	timerRan := false
	var lateErr error
	c.NoErr(c.Threads.SetThreadPoolSize(1), "SetThreadPoolSize(1)")
	thrTrigger(c, gyre.Before, func() {
		c.NoErr(c.Threads.CallInThread(func() {
			answer := make(chan int, 1)
			err := c.Threads.CallFromThread(func() {
				c.Later(20*time.Millisecond, func() {
					timerRan = true
					lateErr = c.Threads.CallInThread(func() {})
					answer <- 1
				})
			})
			if err != nil {
				c.Errorf("CallFromThread from a pool function during shutdown: %v", err)
				return
			}
			if !thrWait(c, answer) {
				gaveUp.Store(true)
				return
			}
			firstDone.Store(true)
		}), "CallInThread from a Before shutdown trigger")
		c.NoErr(c.Threads.CallInThread(func() { secondDone.Store(true) }), "second CallInThread from a Before shutdown trigger")
	})
	duringRan := false
	thrTrigger(c, gyre.During, func() {
		duringRan = true
		c.True(timerRan, "the During phase began before the loop ran the timer the pool function waited for")
		c.True(firstDone.Load(), "the During phase began before the running pool function finished")
		c.True(secondDone.Load(), "the During phase began before the queued pool function ran")
	})
	thrWhenRunning(c, thrStop(c))
	c.NoErr(c.Run(), "Run")
	c.True(duringRan, "the During shutdown trigger never ran")
	c.True(!gaveUp.Load(), "a pool function waiting for the loop during shutdown was never answered")
	c.ErrIs(lateErr, gyre.ErrPoolStopped, "CallInThread after the Before phase of shutdown")
}

func thrPoolStopped(c *C) {
	thrWhenRunning(c, thrStop(c))
	c.NoErr(c.Run(), "Run")
	c.ErrIs(c.Threads.CallInThread(func() { c.Errorf("a function handed to a stopped pool ran") }),
		gyre.ErrPoolStopped, "CallInThread after the reactor stopped")
	errc := make(chan error, 1)
	go func() { errc <- c.Threads.CallInThread(func() {}) }()
	c.ErrIs(<-errc, gyre.ErrPoolStopped, "CallInThread from another goroutine after the reactor stopped")
}

func thrPoolStoppedDuringShutdown(c *C) {
	var phases []string
	try := func(name string) {
		err := c.Threads.CallInThread(func() {})
		c.ErrIs(err, gyre.ErrPoolStopped, "CallInThread in the "+name+" phase of shutdown")
		phases = append(phases, name)
	}
	thrTrigger(c, gyre.During, func() { try("During") })
	thrTrigger(c, gyre.After, func() { try("After") })
	thrWhenRunning(c, thrStop(c))
	c.NoErr(c.Run(), "Run")
	c.Equal(strings.Join(phases, " "), "During After", "phases checked")
}

// thrPoolNeverRun: functions running on the pool of a reactor that never ran
// hold up a shutdown fired by hand until they finish; then it returns.
func thrPoolNeverRun(c *C) {
	const jobs = 5
	var started, finished atomic.Int32
	var gaveUp atomic.Bool
	gate := make(chan struct{})
	allStarted := make(chan struct{})
	c.NoErr(c.Threads.SetThreadPoolSize(jobs), "SetThreadPoolSize")
	for range jobs {
		c.NoErr(c.Threads.CallInThread(func() {
			if started.Add(1) == jobs {
				close(allStarted)
			}
			if !thrWait(c, gate) {
				gaveUp.Store(true)
			}
			finished.Add(1)
		}), "CallInThread on a reactor that never ran")
	}
	// Open the gate only once every function is blocked on it, so that
	// shutdown has running functions to wait for.
	go func() {
		thrWait(c, allStarted)
		close(gate)
	}()
	err := c.guard(func() error { return c.R.FireSystemEvent(gyre.Shutdown) })
	c.NoErr(err, "FireSystemEvent(shutdown) on a reactor that never ran")
	c.Equal(finished.Load(), jobs, "pool functions finished when FireSystemEvent returned")
	c.True(!gaveUp.Load(), "pool functions were never released")
	c.ErrIs(c.Threads.CallInThread(func() {}), gyre.ErrPoolStopped, "CallInThread after shutdown by hand")
}

// thrPoolNeverRunCallsLoop: a pool function that needs the loop does not
// deadlock a shutdown fired by hand on a reactor that never ran.
func thrPoolNeverRunCallsLoop(c *C) {
	var answered, gaveUp atomic.Bool
	ran := false
	c.NoErr(c.Threads.CallInThread(func() {
		answer := make(chan struct{})
		err := c.Threads.CallFromThread(func() {
			ran = true
			close(answer)
		})
		if err != nil {
			c.Errorf("CallFromThread from a pool function: %v", err)
			return
		}
		if !thrWait(c, answer) {
			gaveUp.Store(true)
			return
		}
		answered.Store(true)
	}), "CallInThread on a reactor that never ran")
	err := c.guard(func() error { return c.R.FireSystemEvent(gyre.Shutdown) })
	c.NoErr(err, "FireSystemEvent(shutdown) on a reactor that never ran")
	c.True(!gaveUp.Load(), "the loop never ran the call a pool function waited for during shutdown by hand")
	c.True(answered.Load(), "the pool function had not finished when FireSystemEvent returned")
	c.True(ran, "the call queued by the pool function did not run")
}

// thrDeferRun runs f through DeferToThread from a running reactor and
// returns the Deferred's result as the loop saw it.
func thrDeferRun(c *C, f func() (any, error)) (v any, err error) {
	c.Helper()
	var loopID uint64
	var workerID atomic.Uint64
	fired, onLoop := false, false
	thrWhenRunning(c, func() {
		loopID = thrGoID()
		d := c.Threads.DeferToThread(func() (any, error) {
			workerID.Store(thrGoID())
			return f()
		})
		if d == nil {
			c.Errorf("DeferToThread returned nil")
			c.NoErr(c.R.Stop(), "Stop")
			return
		}
		d.AddCallbacks(func(r any) any {
			fired, onLoop, v = true, thrGoID() == loopID, r
			c.NoErr(c.R.Stop(), "Stop")
			return nil
		}, func(e error) any {
			fired, onLoop, err = true, thrGoID() == loopID, e
			c.NoErr(c.R.Stop(), "Stop")
			return nil
		})
	})
	c.NoErr(c.Run(), "Run")
	c.True(fired, "the Deferred never fired")
	c.True(onLoop, "the Deferred fired off the loop goroutine")
	c.True(workerID.Load() != 0 && workerID.Load() != loopID, "the function ran on the loop goroutine")
	return v, err
}

func thrDeferValue(c *C) {
	v, err := thrDeferRun(c, func() (any, error) { return 42, nil })
	c.NoErr(err, "DeferToThread result")
	c.Equal(v, 42, "DeferToThread result")
}

var errThrDefer = errors.New("threads.defer.result: failed on purpose")

func thrDeferError(c *C) {
	v, err := thrDeferRun(c, func() (any, error) { return 7, errThrDefer })
	c.ErrIs(err, errThrDefer, "DeferToThread failure")
	c.True(v == nil, "the Deferred succeeded with %v", v)
}

func thrDeferPanic(c *C) {
	v, err := thrDeferRun(c, func() (any, error) { panic("threads.defer.result: panic on purpose") })
	c.True(err != nil, "a panicking DeferToThread function did not fail the Deferred (value %v)", v)
}
