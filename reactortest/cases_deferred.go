package reactortest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// The Deferred cases check the rules of package deferred with results that a
// running reactor delivers: from timers, from calls queued with
// CallFromThread, and from DeferToThread.

var (
	errDfA = errors.New("conformance: error A")
	errDfB = errors.New("conformance: error B")
)

// dfOnLoop runs f on the loop once the reactor is running.
func dfOnLoop(c *C, f func()) {
	c.Helper()
	if _, err := c.R.CallWhenRunning(f); err != nil {
		c.Fatalf("CallWhenRunning: %v", err)
	}
}

// dfStop stops the reactor.
func dfStop(c *C) {
	c.Helper()
	c.NoErr(c.R.Stop(), "Stop")
}

// dfCountdown returns a function that calls f the nth time it is called.
func dfCountdown(n int, f func()) func() {
	return func() {
		if n--; n == 0 {
			f()
		}
	}
}

// dfResult returns d's result and fails the case if it has none.
func dfResult(c *C, d *deferred.Deferred, what string) (any, error) {
	c.Helper()
	v, err, ok := d.Result()
	if !ok {
		c.Errorf("%s: no result (Called %v, Paused %v)", what, d.Called(), d.Paused())
	}
	return v, err
}

// dfSleep returns a Deferred that a timer fires with v after d, and the
// timer. Its canceller cancels the timer and gives no result.
func dfSleep(c *C, d time.Duration, v any) (*deferred.Deferred, gyre.DelayedCall) {
	c.Helper()
	var dc gyre.DelayedCall
	out := deferred.New(func(*deferred.Deferred) { c.NoErr(dc.Cancel(), "cancelling the timer") })
	dc = c.Later(d, func() { c.NoErr(out.Callback(v), "Callback from the timer") })
	return out, dc
}

// dfPanicLogged fails the case unless the reactor logged, at level Error, a
// panic whose value contains sentinel.
func dfPanicLogged(c *C, sentinel string) {
	c.Helper()
	for _, r := range c.Logs() {
		if r.Level == slog.LevelError && strings.Contains(r.Attrs["panic"], sentinel) {
			return
		}
	}
	c.Errorf("no panic %q logged at level Error; logged: %+v", sentinel, c.Logs())
}

// dfDeepStack lowers the goroutine stack limit for the rest of the case, so
// that work on a chain of 100,000 Deferreds that recursed once per link
// would crash instead of passing. It returns the function that restores the
// limit.
func dfDeepStack() func() {
	old := debug.SetMaxStack(2 << 20)
	return func() { debug.SetMaxStack(old) }
}

const dfDeep = 100_000

// dfNested returns dfDeep Deferreds where the callback of each returns the
// next one; the last one is last.
func dfNested(last *deferred.Deferred) []*deferred.Deferred {
	ds := make([]*deferred.Deferred, dfDeep)
	for i := range ds {
		ds[i] = deferred.New(nil)
	}
	ds[dfDeep-1] = last
	for i := range dfDeep - 1 {
		next := ds[i+1]
		ds[i].AddCallback(func(any) any { return next })
	}
	return ds
}

// dfReports records what package deferred logs about unhandled failures.
type dfReports struct {
	mu   sync.Mutex
	recs []dfReport
}

type dfReport struct {
	level slog.Level
	msg   string
	err   any // the value of the "err" attribute
}

func (r *dfReports) Enabled(context.Context, slog.Level) bool { return true }
func (r *dfReports) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *dfReports) WithGroup(string) slog.Handler            { return r }

func (r *dfReports) Handle(_ context.Context, rec slog.Record) error {
	rep := dfReport{level: rec.Level, msg: rec.Message}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			rep.err = a.Value.Any()
		}
		return true
	})
	r.mu.Lock()
	r.recs = append(r.recs, rep)
	r.mu.Unlock()
	return nil
}

// of returns the reports whose "err" attribute is err.
func (r *dfReports) of(err error) []dfReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []dfReport
	for _, rep := range r.recs {
		if e, ok := rep.err.(error); ok && e == err {
			out = append(out, rep)
		}
	}
	return out
}

// dfCaptureUnhandled makes package deferred log to the returned recorder
// until the returned function restores the default logger.
func dfCaptureUnhandled() (*dfReports, func()) {
	r := &dfReports{}
	deferred.SetLogger(slog.New(r))
	return r, func() { deferred.SetLogger(nil) }
}

// dfCollect runs garbage collections until done reports true, and fails the
// case if that takes more than 5 s.
func dfCollect(c *C, what string, done func() bool) {
	c.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			c.Errorf("%s: not seen within 5s of garbage collections", what)
			return
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// dfDropFailed creates a Deferred that fails with err, handles nothing and
// drops it.
//
//go:noinline
func dfDropFailed(err error) {
	deferred.New(nil).AddCallback(func(v any) any { return v }).Errback(err)
}

// dfDropTimerFailure makes a timer fail a Deferred with err and drops the
// Deferred unhandled; done is called on the way, which keeps the failure.
//
//go:noinline
func dfDropTimerFailure(c *C, err error, done func()) {
	d := deferred.New(nil)
	d.AddBoth(func(r any) any { done(); return r })
	c.Later(time.Millisecond, func() { c.NoErr(d.Errback(err), "Errback") })
}

// dfDropThreadFailure drops, unhandled, a DeferToThread Deferred that fails
// with err; done is called on the way, which keeps the failure.
//
//go:noinline
func dfDropThreadFailure(c *C, err error, done func()) {
	c.Threads.DeferToThread(func() (any, error) { return nil, err }).
		AddBoth(func(r any) any { done(); return r })
}

func init() {
	register(
		Case{ID: "deferred.chain.order", Facet: FacetDeferred, Needs: NeedClock, Test: func(c *C) {
			var trace []string
			d := deferred.New(nil)
			for _, name := range []string{"first", "second", "third"} {
				d.AddCallback(func(v any) any {
					trace = append(trace, fmt.Sprintf("%s(%v)", name, v))
					n, _ := v.(int)
					return n * 10
				})
			}
			c.Later(5*time.Millisecond, func() {
				c.Equal(len(trace), 0, "steps run before the Deferred had a result")
				c.NoErr(d.Callback(1), "Callback from a timer")
				dfStop(c)
			})
			c.NoErr(c.Run(), "Run")
			c.Equal(trace, []string{"first(1)", "second(10)", "third(100)"}, "steps")
			v, _ := dfResult(c, d, "Deferred")
			c.Equal(v, 1000, "final result")
		}},
		Case{ID: "deferred.chain.order#defer-to-thread", Facet: FacetDeferred, Needs: NeedThreads, Test: func(c *C) {
			var trace []any
			var d *deferred.Deferred
			dfOnLoop(c, func() {
				d = c.Threads.DeferToThread(func() (any, error) { return 2, nil })
				d.AddCallback(func(v any) any { trace = append(trace, v); return v.(int) + 1 }).
					AddCallback(func(v any) any { trace = append(trace, v); return v.(int) * 10 }).
					AddBoth(func(r any) any { trace = append(trace, r); dfStop(c); return r })
			})
			c.NoErr(c.Run(), "Run")
			c.Equal(trace, []any{2, 3, 30}, "results seen by the steps")
			v, _ := dfResult(c, d, "DeferToThread Deferred")
			c.Equal(v, 30, "final result")
		}},

		Case{ID: "deferred.chain.error-switch", Facet: FacetDeferred, Needs: NeedThreads, Test: func(c *C) {
			var trace []string
			d := deferred.New(nil)
			d.AddCallback(func(v any) any { trace = append(trace, fmt.Sprint("cb1 ", v)); return errDfA }).
				AddCallback(func(v any) any { trace = append(trace, "cb2 on failure path"); return v }).
				AddErrback(func(err error) any { trace = append(trace, "eb1 "+err.Error()); return "recovered" }).
				AddCallbacks(func(v any) any {
					trace = append(trace, fmt.Sprint("cb3 ", v))
					return errDfB
				}, func(err error) any {
					trace = append(trace, "eb on success path")
					return err
				}).
				AddBoth(func(r any) any {
					trace = append(trace, fmt.Sprint("both got the error itself: ", r == any(errDfB)))
					return r
				}).
				AddErrback(func(error) any { return "handled" }).
				AddBoth(func(r any) any { dfStop(c); return r })
			go func() {
				c.NoErr(c.Threads.CallFromThread(func() { c.NoErr(d.Callback(1), "Callback") }), "CallFromThread")
			}()
			c.NoErr(c.Run(), "Run")
			c.Equal(trace, []string{"cb1 1", "eb1 " + errDfA.Error(), "cb3 recovered", "both got the error itself: true"}, "steps")
			v, _ := dfResult(c, d, "Deferred")
			c.Equal(v, "handled", "final result")
		}},

		Case{ID: "deferred.chain.pass-through", Facet: FacetDeferred, Needs: NeedThreads, Test: func(c *C) {
			var skipped []string
			var okGot, badGot any
			dfOnLoop(c, func() {
				done := dfCountdown(2, func() { dfStop(c) })
				ok := c.Threads.DeferToThread(func() (any, error) { return "value", nil })
				ok.AddErrback(func(error) any { skipped = append(skipped, "errback on a value"); return "wrong" }).
					AddCallbacks(nil, func(error) any { skipped = append(skipped, "errback on a value"); return "wrong" }).
					AddBoth(func(r any) any { okGot = r; done(); return r })
				bad := c.Threads.DeferToThread(func() (any, error) { return nil, errDfA })
				bad.AddCallback(func(any) any { skipped = append(skipped, "callback on a failure"); return "wrong" }).
					AddCallbacks(func(any) any { skipped = append(skipped, "callback on a failure"); return "wrong" }, nil).
					AddBoth(func(r any) any { badGot = r; done(); return nil })
			})
			c.NoErr(c.Run(), "Run")
			c.Equal(len(skipped), 0, fmt.Sprintf("steps for the other path were called: %v", skipped))
			c.Equal(okGot, "value", "value after steps without a callback")
			c.True(badGot == any(errDfA), "failure after steps without an errback: got %v, want %v", badGot, errDfA)
		}},

		Case{ID: "deferred.chain.late-callbacks", Facet: FacetDeferred, Needs: NeedClock, Test: func(c *C) {
			d := deferred.New(nil)
			c.Later(time.Millisecond, func() {
				c.NoErr(d.Callback("v"), "Callback from a timer")
				c.Later(0, func() {
					var got any = "not run"
					d.AddCallback(func(v any) any { got = v; return v })
					c.Equal(got, "v", "callback added to a fired Deferred, when AddCallback returned")
					dfStop(c)
				})
			})
			c.NoErr(c.Run(), "Run")
		}},
		Case{ID: "deferred.chain.late-callbacks#defer-to-thread", Facet: FacetDeferred, Needs: NeedClock | NeedThreads, Test: func(c *C) {
			dfOnLoop(c, func() {
				d := c.Threads.DeferToThread(func() (any, error) { return nil, errDfA })
				d.AddBoth(func(r any) any {
					c.Later(0, func() {
						var got error
						d.AddErrback(func(err error) any { got = err; return nil })
						c.True(got == errDfA, "errback added to a failed Deferred: got %v when AddErrback returned, want %v", got, errDfA)
						dfStop(c)
					})
					return r
				})
			})
			c.NoErr(c.Run(), "Run")
		}},

		Case{ID: "deferred.chain.panic", Facet: FacetDeferred, Needs: NeedClock, Test: func(c *C) {
			const sentinel = "deferred.chain.panic from Callback"
			d := deferred.New(nil)
			d.AddCallback(func(any) any { panic(sentinel) })
			returned := false
			c.Later(time.Millisecond, func() {
				_ = d.Callback(1)
				returned = true
			})
			stopped := false
			c.Later(2*time.Millisecond, func() { stopped = true; dfStop(c) })
			c.NoErr(c.Run(), "Run")
			c.True(!returned, "Callback returned although its callback panicked")
			c.True(stopped, "the loop did not go on after the panic")
			dfPanicLogged(c, sentinel)
		}},
		Case{ID: "deferred.chain.panic#add-call", Facet: FacetDeferred, Needs: NeedThreads, Test: func(c *C) {
			const sentinel = "deferred.chain.panic from AddCallback"
			returned, stopped := false, false
			dfOnLoop(c, func() {
				d := c.Threads.DeferToThread(func() (any, error) { return 1, nil })
				d.AddBoth(func(r any) any {
					c.NoErr(c.Threads.CallFromThread(func() {
						d.AddCallback(func(any) any { panic(sentinel) })
						returned = true
					}), "CallFromThread")
					c.NoErr(c.Threads.CallFromThread(func() { stopped = true; dfStop(c) }), "CallFromThread")
					return r
				})
			})
			c.NoErr(c.Run(), "Run")
			c.True(!returned, "AddCallback returned although the callback it ran panicked")
			c.True(stopped, "the loop did not go on after the panic")
			dfPanicLogged(c, sentinel)
		}},

		Case{ID: "deferred.chain.forward", Facet: FacetDeferred, Needs: NeedClock | NeedThreads, Test: func(c *C) {
			var otherGot, srcAfter any
			var x, y *deferred.Deferred
			dfOnLoop(c, func() {
				done := dfCountdown(2, func() { dfStop(c) })
				// A failure delivered by DeferToThread is forwarded.
				src := c.Threads.DeferToThread(func() (any, error) { return nil, errDfA })
				other := deferred.New(nil)
				other.AddBoth(func(r any) any { otherGot = r; return nil })
				src.Chain(other).AddBoth(func(r any) any { srcAfter = r; done(); return r })
				// Chaining to a Deferred that a timer has already fired.
				x, y = deferred.New(nil), deferred.New(nil)
				x.Chain(y)
				c.Later(time.Millisecond, func() {
					c.NoErr(y.Callback("y"), "y.Callback")
					c.Later(time.Millisecond, func() { c.NoErr(x.Callback("x"), "x.Callback"); done() })
				})
			})
			c.NoErr(c.Run(), "Run")
			c.True(otherGot == any(errDfA), "chained Deferred got %v, want failure %v", otherGot, errDfA)
			c.True(srcAfter == nil, "result after Chain is %v, want nil", srcAfter)
			_, err := dfResult(c, x, "Deferred chained to a fired one")
			c.ErrIs(err, deferred.ErrAlreadyCalled, "result after Chain to a fired Deferred")
			v, _ := dfResult(c, y, "fired Deferred")
			c.Equal(v, "y", "result of the Deferred chained to after it fired")
		}},
		Case{ID: "deferred.chain.forward#value", Facet: FacetDeferred, Needs: NeedClock, Test: func(c *C) {
			a, b := deferred.New(nil), deferred.New(nil)
			a.Chain(b)
			c.Later(time.Millisecond, func() { c.NoErr(a.Callback(7), "Callback from a timer"); dfStop(c) })
			c.NoErr(c.Run(), "Run")
			v, _ := dfResult(c, b, "chained Deferred")
			c.Equal(v, 7, "value forwarded by Chain")
			v, _ = dfResult(c, a, "first Deferred")
			c.True(v == nil, "result after Chain is %v, want nil", v)
		}},

		Case{ID: "deferred.pause.returned-deferred", Facet: FacetDeferred, Needs: NeedClock, Test: func(c *C) {
			inner := deferred.New(nil)
			var trace []any
			outer := deferred.New(nil)
			outer.AddCallback(func(any) any { return inner }).
				AddCallback(func(v any) any { trace = append(trace, v); return v })
			c.Later(time.Millisecond, func() {
				c.NoErr(outer.Callback(1), "Callback")
				c.True(outer.Paused(), "outer not paused on an unfired Deferred")
				c.Later(5*time.Millisecond, func() {
					c.True(outer.Paused() && len(trace) == 0, "outer resumed (Paused %v, steps %v) before the inner Deferred fired", outer.Paused(), trace)
					c.NoErr(inner.Callback("inner"), "inner.Callback from a later timer")
					c.True(!outer.Paused(), "outer still paused after the inner Deferred fired")
					dfStop(c)
				})
			})
			c.NoErr(c.Run(), "Run")
			c.Equal(trace, []any{"inner"}, "results of the steps after the pause")
			v, _ := dfResult(c, outer, "outer")
			c.Equal(v, "inner", "outer result")
		}},
		Case{ID: "deferred.pause.returned-deferred#failure", Facet: FacetDeferred, Needs: NeedClock | NeedThreads, Test: func(c *C) {
			var got any
			skipped := true
			outer := deferred.New(nil)
			outer.AddCallback(func(any) any {
				return c.Threads.DeferToThread(func() (any, error) { return nil, errDfA })
			}).
				AddCallback(func(v any) any { skipped = false; return v }).
				AddErrback(func(err error) any { got = err; dfStop(c); return "handled" })
			c.Later(time.Millisecond, func() {
				c.NoErr(outer.Callback(1), "Callback")
				c.True(outer.Paused(), "outer not paused on a pending DeferToThread")
			})
			c.NoErr(c.Run(), "Run")
			c.True(got == any(errDfA), "errback after the pause got %v, want %v", got, errDfA)
			c.True(skipped, "callback ran on the failure the chain resumed with")
		}},
		Case{ID: "deferred.pause.returned-deferred#already-fired", Facet: FacetDeferred, Needs: NeedClock, Test: func(c *C) {
			inner := deferred.New(nil)
			var got any = "not run"
			outer := deferred.New(nil)
			outer.AddCallback(func(any) any { return inner }).
				AddCallback(func(v any) any { got = v; return v })
			c.Later(time.Millisecond, func() {
				c.NoErr(inner.Callback(2), "inner.Callback")
				c.Later(time.Millisecond, func() {
					c.NoErr(outer.Callback(1), "outer.Callback")
					c.True(!outer.Paused(), "outer paused on a Deferred that had already fired")
					c.Equal(got, 2, "result of the next step when Callback returned")
					dfStop(c)
				})
			})
			c.NoErr(c.Run(), "Run")
		}},

		Case{ID: "deferred.pause.deep-chain", Facet: FacetDeferred, Needs: NeedThreads, Test: func(c *C) {
			defer dfDeepStack()()
			var got any
			dfOnLoop(c, func() {
				ds := dfNested(c.Threads.DeferToThread(func() (any, error) { return "end", nil }))
				ds[0].AddBoth(func(r any) any { got = r; dfStop(c); return r })
				for _, d := range ds[:dfDeep-1] {
					c.NoErr(d.Callback(nil), "Callback")
				}
				c.True(ds[0].Paused(), "outermost Deferred not paused")
			})
			c.NoErr(c.Run(), "Run")
			c.Equal(got, "end", "outermost result")
		}},
		Case{ID: "deferred.pause.deep-chain#cancel", Facet: FacetDeferred, Needs: NeedClock, Test: func(c *C) {
			defer dfDeepStack()()
			var got any
			var sleep gyre.DelayedCall
			dfOnLoop(c, func() {
				var last *deferred.Deferred
				last, sleep = dfSleep(c, time.Hour, "never")
				ds := dfNested(last)
				ds[0].AddBoth(func(r any) any { got = r; return nil })
				for _, d := range ds[:dfDeep-1] {
					c.NoErr(d.Callback(nil), "Callback")
				}
				c.Later(time.Millisecond, func() { ds[0].Cancel(); dfStop(c) })
			})
			c.NoErr(c.Run(), "Run")
			c.True(!sleep.Active(), "Cancel of the outermost Deferred did not reach the innermost one's timer")
			err, _ := got.(error)
			c.ErrIs(err, deferred.ErrCancelled, "outermost result")
		}},
		Case{ID: "deferred.pause.deep-chain#chain", Facet: FacetDeferred, Needs: NeedThreads, Test: func(c *C) {
			defer dfDeepStack()()
			var got any
			ds := make([]*deferred.Deferred, dfDeep)
			for i := range ds {
				ds[i] = deferred.New(nil)
			}
			for i := range dfDeep - 1 {
				ds[i].Chain(ds[i+1])
			}
			ds[dfDeep-1].AddBoth(func(r any) any { got = r; dfStop(c); return r })
			go func() {
				c.NoErr(c.Threads.CallFromThread(func() { c.NoErr(ds[0].Callback("end"), "Callback") }), "CallFromThread")
			}()
			c.NoErr(c.Run(), "Run")
			c.Equal(got, "end", "result at the end of the Chain links")
		}},

		Case{ID: "deferred.fire.already-called", Facet: FacetDeferred, Needs: NeedClock | NeedThreads, Test: func(c *C) {
			dfOnLoop(c, func() {
				done := dfCountdown(2, func() { dfStop(c) })
				check := func(d *deferred.Deferred, wantV any, wantErr error) {
					d.AddBoth(func(r any) any {
						c.Later(0, func() {
							c.ErrIs(d.Callback(2), deferred.ErrAlreadyCalled, "Callback on a fired Deferred")
							c.ErrIs(d.Errback(errDfB), deferred.ErrAlreadyCalled, "Errback on a fired Deferred")
							v, err := dfResult(c, d, "fired Deferred")
							c.True(v == wantV && err == wantErr, "result became (%v, %v), want (%v, %v)", v, err, wantV, wantErr)
							done()
						})
						return r
					})
				}
				check(c.Threads.DeferToThread(func() (any, error) { return 1, nil }), 1, nil)
				check(c.Threads.DeferToThread(func() (any, error) { return nil, errDfA }), nil, errDfA)
			})
			c.NoErr(c.Run(), "Run")
		}},

		Case{ID: "deferred.fire.invalid-result", Facet: FacetDeferred, Needs: NeedClock, Test: func(c *C) {
			d := deferred.New(nil)
			var got []any
			d.AddBoth(func(r any) any { got = append(got, r); return r })
			c.Later(time.Millisecond, func() {
				c.ErrIs(d.Errback(nil), deferred.ErrNilError, "Errback(nil)")
				c.ErrIs(d.Callback(errDfA), deferred.ErrInvalidResult, "Callback(error)")
				c.ErrIs(d.Callback(deferred.Succeed(1)), deferred.ErrInvalidResult, "Callback(*Deferred)")
				c.True(!d.Called() && len(got) == 0, "a refused result fired the Deferred")
				c.Later(time.Millisecond, func() {
					c.NoErr(d.Callback("ok"), "Callback after the refused results")
					dfStop(c)
				})
			})
			c.NoErr(c.Run(), "Run")
			c.Equal(got, []any{"ok"}, "results the chain saw")
		}},

		Case{ID: "deferred.cancel.canceller", Facet: FacetDeferred, Needs: NeedClock, Test: func(c *C) {
			calls := 0
			var d *deferred.Deferred
			var timer gyre.DelayedCall
			d = deferred.New(func(x *deferred.Deferred) {
				calls++
				c.True(x == d, "canceller called with another Deferred")
				c.NoErr(timer.Cancel(), "cancelling the timer")
				c.NoErr(x.Callback("cancelled early"), "Callback from the canceller")
			})
			timer = c.Later(time.Hour, func() { _ = d.Callback("late") })
			c.Later(time.Millisecond, func() {
				d.Cancel()
				d.Cancel()
				dfStop(c)
			})
			c.NoErr(c.Run(), "Run")
			c.Equal(calls, 1, "canceller calls")
			c.True(!timer.Active(), "the canceller did not cancel the timer")
			v, _ := dfResult(c, d, "cancelled Deferred")
			c.Equal(v, "cancelled early", "result given by the canceller")
		}},

		Case{ID: "deferred.cancel.default-error", Facet: FacetDeferred, Needs: NeedClock, Test: func(c *C) {
			d, timer := dfSleep(c, time.Hour, "never")
			var got error
			d.AddErrback(func(err error) any { got = err; return nil })
			c.Later(time.Millisecond, func() { d.Cancel(); dfStop(c) })
			c.NoErr(c.Run(), "Run")
			c.True(!timer.Active(), "the canceller did not cancel the timer")
			c.ErrIs(got, deferred.ErrCancelled, "failure seen by the errback")
		}},
		Case{ID: "deferred.cancel.default-error#no-canceller", Facet: FacetDeferred, Needs: NeedThreads, Test: func(c *C) {
			release := make(chan struct{})
			var got error
			dfOnLoop(c, func() {
				d := c.Threads.DeferToThread(func() (any, error) { <-release; return "late", nil })
				d.AddErrback(func(err error) any { got = err; return nil })
				d.Cancel()
				close(release)
				dfStop(c)
			})
			c.NoErr(c.Run(), "Run")
			c.ErrIs(got, deferred.ErrCancelled, "failure seen by the errback")
		}},

		Case{ID: "deferred.cancel.late-result-ignored", Facet: FacetDeferred, Needs: NeedClock, Test: func(c *C) {
			d := deferred.New(nil)
			var seen []any
			d.AddBoth(func(r any) any { seen = append(seen, r); return r })
			lateErr, againErr := errors.New("not called"), errors.New("not called")
			c.Later(time.Millisecond, func() { d.Cancel() })
			c.Later(5*time.Millisecond, func() {
				lateErr = d.Callback("late")
				againErr = d.Errback(errDfA)
				dfStop(c)
			})
			c.NoErr(c.Run(), "Run")
			c.NoErr(lateErr, "first Callback after Cancel")
			c.ErrIs(againErr, deferred.ErrAlreadyCalled, "second result after Cancel")
			c.Equal(len(seen), 1, "results the chain saw")
			_, err := dfResult(c, d, "cancelled Deferred")
			c.ErrIs(err, deferred.ErrCancelled, "result after the late results")
		}},
		Case{ID: "deferred.cancel.late-result-ignored#defer-to-thread", Facet: FacetDeferred, Needs: NeedThreads, Test: func(c *C) {
			release := make(chan struct{})
			var d *deferred.Deferred
			seen := 0
			dfOnLoop(c, func() {
				d = c.Threads.DeferToThread(func() (any, error) { <-release; return "late", nil })
				d.AddBoth(func(r any) any { seen++; return r })
				d.Cancel()
				close(release)
				dfStop(c) // shutdown waits for the worker and delivers its result
			})
			c.NoErr(c.Run(), "Run")
			c.Equal(seen, 1, "results the chain saw")
			_, err := dfResult(c, d, "cancelled Deferred")
			c.ErrIs(err, deferred.ErrCancelled, "result after the worker delivered")
			c.ErrIs(d.Callback("again"), deferred.ErrAlreadyCalled,
				"Callback after the ignored late result (if nil, the worker's result was not the one ignored)")
		}},

		Case{ID: "deferred.cancel.fired", Facet: FacetDeferred, Needs: NeedClock, Test: func(c *C) {
			inner, timer := dfSleep(c, time.Hour, "never")
			var got error
			outer := deferred.New(nil)
			outer.AddCallback(func(any) any { return inner }).
				AddErrback(func(err error) any { got = err; return "recovered" })
			c.Later(time.Millisecond, func() {
				c.NoErr(outer.Callback(1), "Callback")
				c.True(outer.Paused(), "outer not paused on the inner Deferred")
			})
			c.Later(2*time.Millisecond, func() {
				outer.Cancel()
				c.True(!timer.Active(), "Cancel of the paused Deferred did not cancel the inner one")
				c.True(!outer.Paused(), "outer still paused after its inner Deferred was cancelled")
				dfStop(c)
			})
			c.NoErr(c.Run(), "Run")
			c.ErrIs(got, deferred.ErrCancelled, "failure the chain resumed with")
			v, _ := dfResult(c, outer, "outer")
			c.Equal(v, "recovered", "outer result")
		}},
		Case{ID: "deferred.cancel.fired#not-paused", Facet: FacetDeferred, Needs: NeedClock | NeedThreads, Test: func(c *C) {
			cancellerCalls := 0
			withCanceller := deferred.New(func(*deferred.Deferred) { cancellerCalls++ })
			var fromThread *deferred.Deferred
			dfOnLoop(c, func() {
				// Once both have fired, cancel them.
				fired := dfCountdown(2, func() {
					c.Later(0, func() {
						fromThread.Cancel()
						withCanceller.Cancel()
						dfStop(c)
					})
				})
				fromThread = c.Threads.DeferToThread(func() (any, error) { return "thread", nil })
				fromThread.AddBoth(func(r any) any { fired(); return r })
				withCanceller.AddBoth(func(r any) any { fired(); return r })
				c.Later(time.Millisecond, func() { c.NoErr(withCanceller.Callback("timer"), "Callback from a timer") })
			})
			c.NoErr(c.Run(), "Run")
			c.Equal(cancellerCalls, 0, "canceller calls after the Deferred fired")
			for _, tc := range []struct {
				d    *deferred.Deferred
				want string
			}{{fromThread, "thread"}, {withCanceller, "timer"}} {
				v, _ := dfResult(c, tc.d, "fired Deferred")
				c.Equal(v, tc.want, "result after Cancel")
				c.ErrIs(tc.d.Callback("again"), deferred.ErrAlreadyCalled, "Callback after a Cancel that did nothing")
			}
		}},

		Case{ID: "deferred.gather.success", Facet: FacetDeferred, Needs: NeedClock | NeedThreads, Test: func(c *C) {
			var order []string
			var got any
			firedAfter := -1
			dfOnLoop(c, func() {
				a, third := deferred.New(nil), deferred.New(nil)
				b := c.Threads.DeferToThread(func() (any, error) { return "b", nil })
				g := deferred.Gather(a, b, deferred.Succeed("s"), third)
				g.AddBoth(func(r any) any { got, firedAfter = r, len(order); dfStop(c); return r })
				// They finish in the order b, third, a.
				b.AddCallback(func(v any) any {
					order = append(order, "b")
					c.Later(time.Millisecond, func() { order = append(order, "c"); c.NoErr(third.Callback("c"), "Callback from a timer") })
					return v
				})
				third.AddCallback(func(v any) any {
					go func() {
						c.NoErr(c.Threads.CallFromThread(func() { order = append(order, "a"); c.NoErr(a.Callback("a"), "Callback from CallFromThread") }), "CallFromThread")
					}()
					return v
				})
			})
			c.NoErr(c.Run(), "Run")
			c.Equal(order, []string{"b", "c", "a"}, "order the inputs finished in")
			c.Equal(firedAfter, 3, "inputs finished when Gather fired")
			c.Equal(got, []any{"a", "b", "s", "c"}, "Gather result")
			_, isSlice := got.([]any)
			c.True(isSlice, "Gather result is %T, want []any", got)
		}},

		Case{ID: "deferred.gather.failure", Facet: FacetDeferred, Needs: NeedClock | NeedThreads, Test: func(c *C) {
			var gErr error
			dfOnLoop(c, func() {
				a, third := deferred.New(nil), deferred.New(nil)
				b := c.Threads.DeferToThread(func() (any, error) { return nil, errDfA })
				g := deferred.Gather(a, b, third)
				g.AddBoth(func(r any) any {
					gErr, _ = r.(error)
					c.True(!a.Called() && !third.Called(), "Gather waited for other inputs before failing")
					c.Later(time.Millisecond, func() {
						c.NoErr(third.Errback(errDfB), "Errback of a later input")
						c.NoErr(a.Callback(1), "Callback of a later input")
						_, err := dfResult(c, g, "Gather")
						c.True(err == gErr, "Gather result changed to %v after later results", err)
						for i, in := range []*deferred.Deferred{b, third} {
							v, err := dfResult(c, in, "failed input")
							c.True(v == nil && err == nil, "failed input %d kept result (%v, %v); Gather must consume it", i, v, err)
						}
						dfStop(c)
					})
					return r
				})
			})
			c.NoErr(c.Run(), "Run")
			var ge *deferred.GatherError
			if !errors.As(gErr, &ge) {
				c.Fatalf("Gather failed with %#v, want a *GatherError", gErr)
			}
			c.Equal(ge.Index, 1, "GatherError.Index")
			c.True(ge.Err == errDfA && errors.Is(gErr, errDfA), "GatherError carries %v, want %v", ge.Err, errDfA)
		}},

		Case{ID: "deferred.gather.empty", Facet: FacetDeferred, Needs: NeedClock, Test: func(c *C) {
			c.Later(time.Millisecond, func() {
				g := deferred.Gather()
				var got any = "not run"
				g.AddCallback(func(v any) any { got = v; return v })
				s, ok := got.([]any)
				c.True(g.Called() && ok && s != nil && len(s) == 0, "Gather() result when AddCallback returned: %#v, want an empty []any", got)
				dfStop(c)
			})
			c.NoErr(c.Run(), "Run")
		}},

		Case{ID: "deferred.gather.cancel", Facet: FacetDeferred, Needs: NeedClock | NeedThreads, Test: func(c *C) {
			var gErr error
			var timer gyre.DelayedCall
			var b *deferred.Deferred
			thirdCancels := 0
			dfOnLoop(c, func() {
				var a *deferred.Deferred
				a, timer = dfSleep(c, time.Hour, "a")
				b = c.Threads.DeferToThread(func() (any, error) { return "b", nil })
				third := deferred.New(func(*deferred.Deferred) { thirdCancels++ })
				g := deferred.Gather(a, b, third)
				g.AddErrback(func(err error) any { gErr = err; return nil })
				b.AddCallback(func(v any) any {
					c.Later(0, func() { g.Cancel(); dfStop(c) })
					return v
				})
			})
			c.NoErr(c.Run(), "Run")
			c.True(!timer.Active(), "pending input (a timer) not cancelled")
			c.Equal(thirdCancels, 1, "canceller calls of a pending input")
			v, _ := dfResult(c, b, "finished input")
			c.Equal(v, "b", "result of the input that had finished")
			var ge *deferred.GatherError
			c.True(errors.As(gErr, &ge), "Gather failed with %#v, want a *GatherError", gErr)
			c.ErrIs(gErr, deferred.ErrCancelled, "Gather failure")
		}},

		Case{ID: "deferred.unhandled.logged", Facet: FacetDeferred, Needs: NeedClock | NeedThreads, Test: func(c *C) {
			reports, restore := dfCaptureUnhandled()
			defer restore()
			fromTimer := errors.New("conformance: unhandled failure from a timer")
			fromThread := errors.New("conformance: unhandled failure from DeferToThread")
			dfOnLoop(c, func() {
				done := dfCountdown(2, func() { dfStop(c) })
				dfDropTimerFailure(c, fromTimer, done)
				dfDropThreadFailure(c, fromThread, done)
			})
			c.NoErr(c.Run(), "Run")
			dfCollect(c, "reports of the dropped failures", func() bool {
				return len(reports.of(fromTimer)) > 0 && len(reports.of(fromThread)) > 0
			})
			// Let later collections happen: a failure dropped now is
			// reported after them.
			canary := errors.New("conformance: canary")
			dfDropFailed(canary)
			dfCollect(c, "report of a failure dropped later", func() bool { return len(reports.of(canary)) > 0 })
			for _, err := range []error{fromTimer, fromThread} {
				reps := reports.of(err)
				c.Equal(len(reps), 1, fmt.Sprintf("reports of %q", err))
				for _, r := range reps {
					c.True(r.level == slog.LevelError && r.msg == "unhandled error in Deferred",
						"%q reported at level %v with message %q", err, r.level, r.msg)
				}
			}
		}},

		Case{ID: "deferred.unhandled.handled-not-logged", Facet: FacetDeferred, Needs: NeedClock | NeedThreads, Test: func(c *C) {
			reports, restore := dfCaptureUnhandled()
			defer restore()
			var handled []error
			var collected atomic.Int32
			tracked := 0
			track := func(d *deferred.Deferred) *deferred.Deferred {
				tracked++
				runtime.AddCleanup(d, func(n *atomic.Int32) { n.Add(1) }, &collected)
				return d
			}
			newErr := func(how string) error {
				err := errors.New("conformance: handled by " + how)
				handled = append(handled, err)
				return err
			}
			consume := func(error) any { return nil }
			dfOnLoop(c, func() {
				done := dfCountdown(5, func() { dfStop(c) })
				thread := func(err error) *deferred.Deferred {
					return track(c.Threads.DeferToThread(func() (any, error) { return nil, err }))
				}

				// An errback.
				thread(newErr("errback")).AddErrback(consume).AddBoth(func(any) any { done(); return nil })

				// Result, in a later timer.
				errResult := newErr("Result")
				c.Later(time.Millisecond, func() {
					d := track(deferred.New(nil))
					c.NoErr(d.Errback(errResult), "Errback")
					c.Later(time.Millisecond, func() { d.Result(); done() })
				})

				// An outer chain paused on it.
				inner := thread(newErr("outer chain"))
				outer := track(deferred.New(nil))
				outer.AddCallback(func(any) any { return inner }).AddErrback(consume).AddBoth(func(any) any { done(); return nil })
				c.Later(0, func() { c.NoErr(outer.Callback(1), "Callback") })

				// Chain.
				other := track(deferred.New(nil))
				other.AddErrback(consume).AddBoth(func(any) any { done(); return nil })
				thread(newErr("Chain")).Chain(other)

				// Gather, with one input failing after Gather has failed.
				late := track(deferred.New(nil))
				g := track(deferred.Gather(thread(newErr("Gather")), late))
				g.AddErrback(consume)
				errLate := newErr("Gather, late input")
				g.AddBoth(func(any) any {
					c.Later(time.Millisecond, func() { c.NoErr(late.Errback(errLate), "Errback"); done() })
					return nil
				})
			})
			c.NoErr(c.Run(), "Run")
			want := int32(tracked)
			dfCollect(c, "collection of the handled Deferreds", func() bool { return collected.Load() >= want })
			// Any report of theirs is on its way; one dropped now comes after.
			canary := errors.New("conformance: canary")
			dfDropFailed(canary)
			dfCollect(c, "report of an unhandled failure dropped after them", func() bool { return len(reports.of(canary)) > 0 })
			for _, err := range handled {
				c.Equal(len(reports.of(err)), 0, fmt.Sprintf("reports of %q", err))
			}
		}},
	)
}
