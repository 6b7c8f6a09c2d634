package reactortest

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// Panic values, distinct per case so that a record cannot be mistaken for
// another's.
const (
	failuresTimerPanic    = "gyre-test: panic in a timer callback"
	failuresCallPanic     = "gyre-test: panic in a queued call"
	failuresWorkerPanic   = "gyre-test: panic in a worker function"
	failuresDeferredPanic = "gyre-test: panic in a Deferred callback"
)

// The panicking functions are named so that the logged stack can be checked
// for them. They are handed to the reactor as function values, so they keep
// their own frames.

func failuresPanickingTimer() { panic(failuresTimerPanic) }

func failuresPanickingCall() { panic(failuresCallPanic) }

func failuresPanickingWorker() { panic(failuresWorkerPanic) }

func failuresPanickingDeferredCallback(any) any { panic(failuresDeferredPanic) }

// failuresCheckPanicLogged fails the case unless the reactor logged, at level
// Error, a record whose "panic" attribute holds value and whose "stack"
// attribute names the function fn.
func failuresCheckPanicLogged(c *C, value, fn string) {
	c.Helper()
	var found []LogRecord
	for _, r := range c.Logs() {
		if strings.Contains(r.Attrs["panic"], value) {
			found = append(found, r)
		}
	}
	if len(found) == 0 {
		c.Errorf("no record with attribute panic=%q was logged; logged: %v", value, c.Logs())
		return
	}
	if len(found) > 1 {
		c.Errorf("the panic %q was logged %d times, want once", value, len(found))
	}
	r := found[0]
	c.True(r.Level == slog.LevelError, "the panic %q was logged at level %v, want %v", value, r.Level, slog.LevelError)
	stack, ok := r.Attrs["stack"]
	switch {
	case !ok:
		c.Errorf("the record of the panic %q has no attribute stack: %v", value, r.Attrs)
	case !strings.Contains(stack, fn):
		c.Errorf("the stack logged for the panic %q does not mention %s:\n%s", value, fn, stack)
	}
}

// failuresNoErrors fails the case if the reactor logged anything at level
// Error or above.
func failuresNoErrors(c *C, what string) {
	c.Helper()
	for _, r := range c.Logs() {
		if r.Level >= slog.LevelError {
			c.Errorf("%s: the reactor logged %q %v", what, r.Message, r.Attrs)
		}
	}
}

// failuresCheckNilFuncs calls every method that takes a function with nil and
// checks that each returns ErrNilFunc.
func failuresCheckNilFuncs(c *C, when string) {
	c.Helper()
	if c.Clock != nil {
		for _, d := range []time.Duration{0, time.Hour} {
			_, err := c.Clock.CallLater(d, nil)
			c.ErrIs(err, gyre.ErrNilFunc, fmt.Sprintf("CallLater(%v, nil) %s", d, when))
		}
		c.Equal(len(c.Clock.DelayedCalls()), 0, "calls pending after CallLater(nil) "+when)
	}
	_, err := c.R.CallWhenRunning(nil)
	c.ErrIs(err, gyre.ErrNilFunc, "CallWhenRunning(nil) "+when)
	if c.Threads != nil {
		c.ErrIs(c.Threads.CallFromThread(nil), gyre.ErrNilFunc, "CallFromThread(nil) "+when)
		c.ErrIs(c.Threads.CallInThread(nil), gyre.ErrNilFunc, "CallInThread(nil) "+when)
	}
	for _, p := range []gyre.Phase{gyre.Before, gyre.During, gyre.After} {
		for _, ev := range []string{gyre.Startup, gyre.Shutdown, "gyre-test.nil"} {
			_, err := c.R.AddSystemEventTrigger(p, ev, nil)
			c.ErrIs(err, gyre.ErrNilFunc, fmt.Sprintf("AddSystemEventTrigger(%v, %q, nil) %s", p, ev, when))
		}
	}
}

func init() {
	register(
		Case{ID: "failures.panic.timer", Facet: FacetFailures, Needs: NeedClock, Test: func(c *C) {
			var after bool
			dc := c.Later(0, failuresPanickingTimer)
			c.Later(5*time.Millisecond, func() {
				after = true
				c.NoErr(c.R.Stop(), "Stop")
			})
			c.NoErr(c.Run(), "Run")
			c.True(after, "the timer after the panicking one did not run")
			c.True(!dc.Active(), "the panicking call is still active")
			failuresCheckPanicLogged(c, failuresTimerPanic, "failuresPanickingTimer")
		}},

		Case{ID: "failures.panic.call", Facet: FacetFailures, Needs: NeedThreads, Test: func(c *C) {
			var got []string
			_, err := c.R.CallWhenRunning(func() {
				// Queued from the loop, so all three run in the same pass.
				calls := []func(){
					func() { got = append(got, "first") },
					failuresPanickingCall,
					func() { got = append(got, "third") },
				}
				for _, f := range calls {
					c.NoErr(c.Threads.CallFromThread(f), "CallFromThread")
				}
				// And one from another goroutine, after the panic.
				c.NoErr(c.Threads.CallFromThread(func() {
					go func() {
						err := c.Threads.CallFromThread(func() {
							got = append(got, "fourth")
							c.NoErr(c.R.Stop(), "Stop")
						})
						if err != nil {
							c.Errorf("CallFromThread from another goroutine: %v", err)
						}
					}()
				}), "CallFromThread")
			})
			c.NoErr(err, "CallWhenRunning")
			c.NoErr(c.Run(), "Run")
			c.Equal(got, []string{"first", "third", "fourth"}, "queued calls that ran")
			failuresCheckPanicLogged(c, failuresCallPanic, "failuresPanickingCall")
		}},

		Case{ID: "failures.panic.pool", Facet: FacetFailures, Needs: NeedThreads, Test: func(c *C) {
			// One worker, so the one that recovered must serve the next job.
			c.NoErr(c.Threads.SetThreadPoolSize(1), "SetThreadPoolSize(1)")
			var served atomic.Int32
			next := func() {
				// On the loop, once the panicking job has unwound.
				c.NoErr(c.Threads.CallInThread(func() {
					served.Add(1)
					if err := c.Threads.CallFromThread(func() { c.NoErr(c.R.Stop(), "Stop") }); err != nil {
						c.Errorf("CallFromThread from a worker: %v", err)
					}
				}), "CallInThread after a panic")
			}
			_, err := c.R.CallWhenRunning(func() {
				c.NoErr(c.Threads.CallInThread(func() {
					defer func() {
						if err := c.Threads.CallFromThread(next); err != nil {
							c.Errorf("CallFromThread from a worker: %v", err)
						}
					}()
					failuresPanickingWorker()
				}), "CallInThread")
			})
			c.NoErr(err, "CallWhenRunning")
			c.NoErr(c.Run(), "Run")
			c.Equal(served.Load(), 1, "jobs the pool ran after the panic")
			failuresCheckPanicLogged(c, failuresWorkerPanic, "failuresPanickingWorker")
		}},

		Case{ID: "failures.panic.deferred#timer", Facet: FacetFailures, Needs: NeedClock, Test: func(c *C) {
			d := deferred.New(nil)
			d.AddCallback(failuresPanickingDeferredCallback)
			var after bool
			c.Later(0, func() {
				_ = d.Callback("go")
				c.Errorf("Callback returned although its callback panicked")
			})
			c.Later(5*time.Millisecond, func() {
				after = true
				c.NoErr(c.R.Stop(), "Stop")
			})
			c.NoErr(c.Run(), "Run")
			c.True(after, "the timer after the panic did not run")
			failuresCheckPanicLogged(c, failuresDeferredPanic, "failuresPanickingDeferredCallback")
		}},

		Case{ID: "failures.panic.deferred#queued-call", Facet: FacetFailures, Needs: NeedThreads, Test: func(c *C) {
			d := deferred.New(nil)
			var after bool
			_, err := c.R.CallWhenRunning(func() {
				c.NoErr(c.Threads.CallFromThread(func() {
					// Added to a fired Deferred, the callback runs at once.
					c.NoErr(d.Callback("go"), "Callback")
					d.AddCallback(failuresPanickingDeferredCallback)
					c.Errorf("AddCallback returned although the callback it ran panicked")
				}), "CallFromThread")
				c.NoErr(c.Threads.CallFromThread(func() {
					after = true
					c.NoErr(c.R.Stop(), "Stop")
				}), "CallFromThread")
			})
			c.NoErr(err, "CallWhenRunning")
			c.NoErr(c.Run(), "Run")
			c.True(after, "the queued call after the panic did not run")
			failuresCheckPanicLogged(c, failuresDeferredPanic, "failuresPanickingDeferredCallback")
		}},

		Case{ID: "failures.panic.consistent#after-panics", Facet: FacetFailures, Needs: NeedClock | NeedThreads,
			Test: func(c *C) {
				const ev = "gyre-test.panicking-event"
				var rec eventsRecorder
				eventsAdd(c, gyre.During, ev, func() *deferred.Deferred { panic("gyre-test: panic in a trigger") })
				eventsAdd(c, gyre.After, ev, rec.trig("event-after"))
				eventsAdd(c, gyre.During, gyre.Shutdown, rec.trig("shutdown-during"))
				eventsAdd(c, gyre.After, gyre.Shutdown, rec.trig("shutdown-after"))
				var panicking gyre.DelayedCall
				_, err := c.R.CallWhenRunning(func() {
					panicking = c.Later(0, failuresPanickingTimer)
					c.NoErr(c.Threads.CallFromThread(failuresPanickingCall), "CallFromThread")
					c.Later(time.Millisecond, func() {
						eventsFire(c, ev)
						d := deferred.New(nil)
						d.AddCallback(failuresPanickingDeferredCallback)
						_ = d.Callback("go")
					})
					c.Later(10*time.Millisecond, func() {
						c.True(c.R.Running(), "Running is false after panics")
						c.True(!panicking.Active(), "the panicking timer is still active")
						c.Later(0, func() { rec.add("timer") })
						c.NoErr(c.Threads.CallFromThread(func() { rec.add("call") }), "CallFromThread")
						c.StopLater(5 * time.Millisecond)
					})
				})
				c.NoErr(err, "CallWhenRunning")
				c.NoErr(c.Run(), "Run")
				c.True(!c.R.Running(), "Running is true after Run returned")
				// The timer and the queued call may run in either order.
				got := rec.String()
				c.True(got == "event-after call timer shutdown-during shutdown-after" ||
					got == "event-after timer call shutdown-during shutdown-after",
					"what ran after the panics: %q", got)
				for _, v := range []string{failuresTimerPanic, failuresCallPanic, failuresDeferredPanic, "gyre-test: panic in a trigger"} {
					c.True(eventsMentioned(c, slog.LevelError, v), "the panic %q was not logged at level Error", v)
				}
			}},

		Case{ID: "failures.panic.consistent#stop-then-panic", Facet: FacetFailures, Needs: NeedClock, Test: func(c *C) {
			var rec eventsRecorder
			eventsAdd(c, gyre.Before, gyre.Shutdown, rec.trig("before"))
			eventsAdd(c, gyre.During, gyre.Shutdown, rec.trig("during"))
			eventsAdd(c, gyre.After, gyre.Shutdown, rec.trig("after"))
			const v = "gyre-test: panic right after Stop"
			c.Later(time.Millisecond, func() {
				c.NoErr(c.R.Stop(), "Stop")
				panic(v)
			})
			c.NoErr(c.Run(), "Run")
			c.Equal(rec.String(), "before during after", "shutdown triggers that ran")
			c.True(eventsMentioned(c, slog.LevelError, v), "the panic %q was not logged at level Error", v)
		}},

		Case{ID: "failures.nil-func#idle", Facet: FacetFailures, Test: func(c *C) {
			failuresCheckNilFuncs(c, "on a reactor that never ran")
			// Run it, so that anything nil that was registered would be called.
			_, err := c.R.CallWhenRunning(func() { c.NoErr(c.R.Stop(), "Stop") })
			c.NoErr(err, "CallWhenRunning")
			c.NoErr(c.Run(), "Run")
			failuresNoErrors(c, "running after nil functions were refused")
		}},

		Case{ID: "failures.nil-func#running", Facet: FacetFailures, Test: func(c *C) {
			ran := false
			_, err := c.R.CallWhenRunning(func() {
				ran = true
				failuresCheckNilFuncs(c, "on a running reactor")
				c.NoErr(c.R.Stop(), "Stop")
			})
			c.NoErr(err, "CallWhenRunning")
			c.NoErr(c.Run(), "Run")
			c.True(ran, "the CallWhenRunning function did not run")
			failuresNoErrors(c, "running after nil functions were refused")
		}},
	)
}
