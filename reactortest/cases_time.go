package reactortest

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// Cases for the "Time: CallLater and DelayedCall" section of docs/SPEC.md.
//
// Every case runs on a real reactor, so times are never exact: a case checks
// that a call ran no earlier than it was due (exact), and orders calls through
// their due times as DelayedCall.Time reports them. Equal due times, which a
// real clock rarely gives, are made with Delay: moving a call by the exact
// difference between two due times makes them equal.

func init() {
	register(
		Case{ID: "time.later.async", Facet: FacetTime, Needs: NeedClock, Test: timeLaterAsync},
		Case{ID: "time.later.async#before-run", Facet: FacetTime, Needs: NeedClock, Test: timeLaterAsyncBeforeRun},
		Case{ID: "time.later.delay", Facet: FacetTime, Needs: NeedClock, Test: timeLaterDelay},
		Case{ID: "time.later.delay#moved", Facet: FacetTime, Needs: NeedClock, Test: timeLaterDelayMoved},
		Case{ID: "time.later.time", Facet: FacetTime, Needs: NeedClock, Test: timeLaterTime},
		Case{ID: "time.later.negative", Facet: FacetTime, Needs: NeedClock, Test: timeLaterNegative},
		Case{ID: "time.later.nil", Facet: FacetTime, Needs: NeedClock, Test: timeLaterNil},
		Case{ID: "time.cancel.never-runs", Facet: FacetTime, Needs: NeedClock, Test: timeCancelNeverRuns},
		Case{ID: "time.cancel.never-runs#same-pass", Facet: FacetTime, Needs: NeedClock, Test: timeCancelSamePass},
		Case{ID: "time.cancel.twice", Facet: FacetTime, Needs: NeedClock, Test: timeCancelTwice},
		Case{ID: "time.cancel.called", Facet: FacetTime, Needs: NeedClock, Test: timeCancelCalled},
		Case{ID: "time.cancel.called#in-callback", Facet: FacetTime, Needs: NeedClock, Test: timeCancelCalledInCallback},
		Case{ID: "time.active", Facet: FacetTime, Needs: NeedClock, Test: timeActive},
		Case{ID: "time.reset.moves#earlier", Facet: FacetTime, Needs: NeedClock, Test: timeResetEarlier},
		Case{ID: "time.reset.moves#later", Facet: FacetTime, Needs: NeedClock, Test: timeResetLater},
		Case{ID: "time.reset.moves#delay", Facet: FacetTime, Needs: NeedClock, Test: timeResetDelay},
		Case{ID: "time.order.deadline", Facet: FacetTime, Needs: NeedClock, Test: timeOrderDeadline},
		Case{ID: "time.order.fifo#same-delay", Facet: FacetTime, Needs: NeedClock, Test: timeOrderFIFOSameDelay},
		Case{ID: "time.order.fifo#delay-ties", Facet: FacetTime, Needs: NeedClock, Test: timeOrderFIFODelayTies},
		Case{ID: "time.order.fifo#reset", Facet: FacetTime, Needs: NeedClock, Test: timeOrderFIFOReset},
		Case{ID: "time.pass.later", Facet: FacetTime, Needs: NeedClock | NeedThreads, Test: timePassLater},
		Case{ID: "time.pass.later#reset", Facet: FacetTime, Needs: NeedClock | NeedThreads, Test: timePassLaterReset},
		Case{ID: "time.pass.later#no-starvation", Facet: FacetTime, Needs: NeedClock | NeedThreads, Test: timePassLaterNoStarvation},
		Case{ID: "time.now.monotonic", Facet: FacetTime, Needs: NeedClock, Test: timeNowMonotonic},
		Case{ID: "time.pending.list", Facet: FacetTime, Needs: NeedClock, Test: timePendingList},
		Case{ID: "time.stop.pending", Facet: FacetTime, Needs: NeedClock, Test: timeStopPending},
		Case{ID: "time.distant", Facet: FacetTime, Needs: NeedClock, Test: timeDistant},
		Case{ID: "time.distant#wakes", Facet: FacetTime, Needs: NeedClock | NeedThreads, Test: timeDistantWakes},
		Case{ID: "time.distant#moved", Facet: FacetTime, Needs: NeedClock, Test: timeDistantMoved},
		Case{ID: "time.cancel.memory", Facet: FacetTime, Needs: NeedClock, Test: timeCancelMemory},
		Case{ID: "time.stopped", Facet: FacetTime, Needs: NeedClock, Test: timeStopped},
		Case{ID: "time.stopped#by-hand", Facet: FacetTime, Needs: NeedClock, Test: timeStoppedByHand},
		Case{ID: "time.panic", Facet: FacetTime, Needs: NeedClock | NeedThreads, Test: timePanic},
	)
}

// timeWhenRunning registers f to run once the reactor is running, failing
// the case if it cannot.
func timeWhenRunning(c *C, f func()) {
	c.Helper()
	if _, err := c.R.CallWhenRunning(f); err != nil {
		c.Fatalf("CallWhenRunning: %v", err)
	}
}

// timeSame reports whether a and b are the same call. It never panics, even
// for handles of a type that cannot be compared.
func timeSame(a, b gyre.DelayedCall) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// timeListed reports whether DelayedCalls lists dc.
func timeListed(c *C, dc gyre.DelayedCall) bool {
	for _, p := range c.Clock.DelayedCalls() {
		if timeSame(p, dc) {
			return true
		}
	}
	return false
}

// timeNoErrorLogs fails the case if the reactor logged anything at level
// Error or above.
func timeNoErrorLogs(c *C) {
	c.Helper()
	for _, r := range c.Logs() {
		if r.Level >= slog.LevelError {
			c.Errorf("unexpected error logged: %q %v", r.Message, r.Attrs)
		}
	}
}

// timeRun runs the reactor and fails the case unless Run returns nil.
func timeRun(c *C) {
	c.Helper()
	c.NoErr(c.Run(), "Run")
}

func timeLaterAsync(c *C) {
	var ran, returned bool
	timeWhenRunning(c, func() {
		_, err := c.Clock.CallLater(0, func() {
			ran = true
			c.True(returned, "CallLater(0, f) called f before returning")
			c.NoErr(c.R.Stop(), "Stop")
		})
		c.NoErr(err, "CallLater(0)")
		c.True(!ran, "CallLater(0, f) ran f before returning")
		returned = true
	})
	timeRun(c)
	c.True(ran, "the call never ran")
}

func timeLaterAsyncBeforeRun(c *C) {
	var ran, running bool
	_, err := c.Clock.CallLater(0, func() {
		ran = true
		c.True(running, "a call scheduled before Run ran before Run was called")
		c.NoErr(c.R.Stop(), "Stop")
	})
	c.NoErr(err, "CallLater(0) on an idle reactor")
	c.True(!ran, "CallLater(0, f) on an idle reactor ran f before returning")
	running = true
	timeRun(c)
	c.True(ran, "the call never ran")
}

func timeLaterDelay(c *C) {
	delays := []time.Duration{0, time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 40 * time.Millisecond}
	left := len(delays)
	timeWhenRunning(c, func() {
		for _, d := range delays {
			start := c.Clock.Now()
			c.Later(d, func() {
				if el := c.Clock.Now().Sub(start); el < d {
					c.Errorf("call with delay %v ran after %v", d, el)
				}
				if left--; left == 0 {
					c.NoErr(c.R.Stop(), "Stop")
				}
			})
		}
	})
	timeRun(c)
	c.Equal(left, 0, "calls not run")
}

func timeLaterDelayMoved(c *C) {
	left := 2
	done := func() {
		if left--; left == 0 {
			c.NoErr(c.R.Stop(), "Stop")
		}
	}
	timeWhenRunning(c, func() {
		// Reset: due 30 ms after the reset.
		var resetAt time.Time
		a := c.Later(time.Hour, func() {
			if el := c.Clock.Now().Sub(resetAt); el < 30*time.Millisecond {
				c.Errorf("call reset to 30ms ran %v after the reset", el)
			}
			done()
		})
		resetAt = c.Clock.Now()
		c.NoErr(a.Reset(30*time.Millisecond), "Reset")
		// Delay: due 10 ms + 20 ms after scheduling.
		start := c.Clock.Now()
		b := c.Later(10*time.Millisecond, func() {
			if el := c.Clock.Now().Sub(start); el < 30*time.Millisecond {
				c.Errorf("call due at 10ms delayed by 20ms ran after %v", el)
			}
			done()
		})
		c.NoErr(b.Delay(20*time.Millisecond), "Delay")
	})
	timeRun(c)
	c.Equal(left, 0, "calls not run")
}

func timeLaterTime(c *C) {
	check := func(dc gyre.DelayedCall, before, after time.Time, d time.Duration, what string) {
		c.Helper()
		lo, hi := before.Add(d), after.Add(d)
		if t := dc.Time(); t.Before(lo) || t.After(hi) {
			c.Errorf("%s: Time() is %v, want between Now()+%v before (%v) and after (%v) the call", what, t, d, lo, hi)
		}
	}
	timeWhenRunning(c, func() {
		var dcs []gyre.DelayedCall
		for _, d := range []time.Duration{0, 5 * time.Second, time.Hour} {
			before := c.Clock.Now()
			dc := c.Later(d, func() { c.Errorf("the call ran") })
			after := c.Clock.Now()
			check(dc, before, after, d, fmt.Sprintf("CallLater(%v)", d))
			dcs = append(dcs, dc)
		}
		dc := dcs[1]
		before := c.Clock.Now()
		c.NoErr(dc.Reset(2*time.Hour), "Reset")
		after := c.Clock.Now()
		check(dc, before, after, 2*time.Hour, "after Reset(2h)")
		old := dc.Time()
		c.NoErr(dc.Delay(30*time.Minute), "Delay")
		if want := old.Add(30 * time.Minute); !dc.Time().Equal(want) {
			c.Errorf("after Delay(30m): Time() is %v, want %v", dc.Time(), want)
		}
		for _, dc := range dcs {
			c.NoErr(dc.Cancel(), "Cancel")
		}
		c.NoErr(c.R.Stop(), "Stop")
	})
	timeRun(c)
}

func timeLaterNegative(c *C) {
	dc, err := c.Clock.CallLater(-time.Nanosecond, func() { c.Errorf("a call with a negative delay ran") })
	c.ErrIs(err, gyre.ErrNegativeDelay, "CallLater(-1ns)")
	c.True(dc == nil || !dc.Active(), "CallLater(-1ns) returned an active call")
	_, err = c.Clock.CallLater(time.Duration(math.MinInt64), func() { c.Errorf("a call with a negative delay ran") })
	c.ErrIs(err, gyre.ErrNegativeDelay, "CallLater(MinInt64)")
	c.Equal(len(c.Clock.DelayedCalls()), 0, "pending calls after CallLater with negative delays")

	ran := false
	var g gyre.DelayedCall
	timeWhenRunning(c, func() {
		start := c.Clock.Now()
		g = c.Later(20*time.Millisecond, func() {
			ran = true
			if el := c.Clock.Now().Sub(start); el < 20*time.Millisecond {
				c.Errorf("call ran after %v, before its unchanged due time of 20ms", el)
			}
			c.NoErr(c.R.Stop(), "Stop")
		})
		was := g.Time()
		c.ErrIs(g.Reset(-time.Millisecond), gyre.ErrNegativeDelay, "Reset(-1ms)")
		c.True(g.Time().Equal(was), "Reset(-1ms) moved the call from %v to %v", was, g.Time())
		c.ErrIs(g.Delay(-time.Second), gyre.ErrNegativeDelay, "Delay(-1s)")
		c.True(g.Time().Equal(was), "Delay(-1s) moved the call from %v to %v", was, g.Time())
		c.ErrIs(g.Delay(time.Duration(math.MinInt64)), gyre.ErrNegativeDelay, "Delay(MinInt64)")
		c.True(g.Time().Equal(was), "Delay(MinInt64) moved the call from %v to %v", was, g.Time())
		c.True(g.Active(), "the call is no longer active after refused moves")
		c.Equal(len(c.Clock.DelayedCalls()), 1, "pending calls")
	})
	timeRun(c)
	c.True(ran, "the call whose moves were refused never ran")
}

func timeLaterNil(c *C) {
	_, err := c.Clock.CallLater(0, nil)
	c.ErrIs(err, gyre.ErrNilFunc, "CallLater(0, nil) on an idle reactor")
	timeWhenRunning(c, func() {
		_, err := c.Clock.CallLater(time.Millisecond, nil)
		c.ErrIs(err, gyre.ErrNilFunc, "CallLater(1ms, nil) on a running reactor")
		c.Equal(len(c.Clock.DelayedCalls()), 0, "pending calls after CallLater(nil)")
		c.StopLater(5 * time.Millisecond)
	})
	timeRun(c)
}

func timeCancelNeverRuns(c *C) {
	ran := false
	timeWhenRunning(c, func() {
		dc := c.Later(5*time.Millisecond, func() { ran = true })
		c.NoErr(dc.Cancel(), "Cancel")
		c.True(!dc.Active(), "Active() is true after Cancel")
		c.StopLater(40 * time.Millisecond)
	})
	timeRun(c)
	c.True(!ran, "a cancelled call ran")
}

// timeCancelSamePass cancels a call from another call due at the same
// instant, ahead of it in the same pass.
func timeCancelSamePass(c *C) {
	ran, first := false, false
	timeWhenRunning(c, func() {
		victim := c.Later(10*time.Millisecond, func() { ran = true })
		killer := c.Later(10*time.Millisecond, func() {
			first = true
			c.True(victim.Active(), "the victim is not active before it is cancelled")
			c.NoErr(victim.Cancel(), "Cancel of a call due in the same pass")
			c.True(!victim.Active(), "Active() is true after Cancel")
			c.StopLater(20 * time.Millisecond)
		})
		// Make the victim due at the same instant, after the killer.
		c.NoErr(victim.Delay(killer.Time().Sub(victim.Time())), "Delay")
		c.True(victim.Time().Equal(killer.Time()), "Delay did not make the due times equal")
	})
	timeRun(c)
	c.True(first, "the cancelling call never ran")
	c.True(!ran, "a call cancelled by a call due in the same pass ran")
}

func timeCancelTwice(c *C) {
	dc := c.Later(time.Hour, func() { c.Errorf("a cancelled call ran") })
	c.NoErr(dc.Cancel(), "first Cancel")
	c.ErrIs(dc.Cancel(), gyre.ErrAlreadyCancelled, "second Cancel")
	c.ErrIs(dc.Reset(time.Second), gyre.ErrAlreadyCancelled, "Reset after Cancel")
	c.ErrIs(dc.Delay(time.Second), gyre.ErrAlreadyCancelled, "Delay after Cancel")
	c.True(!dc.Active(), "Active() is true after Cancel")
	c.Equal(len(c.Clock.DelayedCalls()), 0, "pending calls after Cancel, Reset and Delay")
	timeWhenRunning(c, func() { c.StopLater(20 * time.Millisecond) })
	timeRun(c)
}

func timeCancelCalled(c *C) {
	runs := 0
	timeWhenRunning(c, func() {
		dc := c.Later(0, func() { runs++ })
		c.Later(15*time.Millisecond, func() {
			c.Equal(runs, 1, "runs of the call")
			c.ErrIs(dc.Cancel(), gyre.ErrAlreadyCalled, "Cancel after the call ran")
			c.ErrIs(dc.Reset(0), gyre.ErrAlreadyCalled, "Reset after the call ran")
			c.ErrIs(dc.Delay(time.Millisecond), gyre.ErrAlreadyCalled, "Delay after the call ran")
			c.True(!dc.Active(), "Active() is true after the call ran")
			c.StopLater(20 * time.Millisecond)
		})
	})
	timeRun(c)
	c.Equal(runs, 1, "runs of the call (a refused Reset must not run it again)")
}

// timeCancelCalledInCallback: a call is "called" once it has started: its
// own callback can no longer cancel or move it.
func timeCancelCalledInCallback(c *C) {
	runs := 0
	timeWhenRunning(c, func() {
		var dc gyre.DelayedCall
		dc = c.Later(0, func() {
			runs++
			c.True(!dc.Active(), "Active() is true inside the call's own callback")
			c.ErrIs(dc.Cancel(), gyre.ErrAlreadyCalled, "Cancel from the call's own callback")
			c.ErrIs(dc.Reset(0), gyre.ErrAlreadyCalled, "Reset from the call's own callback")
			c.ErrIs(dc.Delay(0), gyre.ErrAlreadyCalled, "Delay from the call's own callback")
			c.StopLater(20 * time.Millisecond)
		})
	})
	timeRun(c)
	c.Equal(runs, 1, "runs of the call")
}

func timeActive(c *C) {
	var a, b gyre.DelayedCall
	aRan := false
	a = c.Later(30*time.Millisecond, func() { aRan = true })
	c.True(a.Active(), "Active() is false for a new call on an idle reactor")
	timeWhenRunning(c, func() {
		c.True(a.Active(), "Active() is false before the call is due")
		b = c.Later(time.Hour, func() { c.Errorf("cancelled call ran") })
		c.True(b.Active(), "Active() is false for a new call")
		c.Later(5*time.Millisecond, func() {
			c.True(a.Active(), "Active() is false before the call is due")
			c.NoErr(a.Reset(20*time.Millisecond), "Reset")
			c.True(a.Active(), "Active() is false after Reset")
			c.NoErr(a.Delay(time.Millisecond), "Delay")
			c.True(a.Active(), "Active() is false after Delay")
			c.NoErr(b.Cancel(), "Cancel")
			c.True(!b.Active(), "Active() is true after Cancel")
		})
		c.Later(80*time.Millisecond, func() {
			c.True(aRan, "the call never ran")
			c.True(!a.Active(), "Active() is true after the call ran")
			c.NoErr(c.R.Stop(), "Stop")
		})
	})
	timeRun(c)
	c.True(!a.Active(), "Active() is true after the call ran (after Run)")
	c.True(!b.Active(), "Active() is true after Cancel (after Run)")
}

// timeOrderRecorder records the order in which named calls run and stops the
// reactor once want calls have run.
type timeOrderRecorder struct {
	c    *C
	got  []string
	want int
}

func (o *timeOrderRecorder) mark(name string) func() {
	return func() {
		o.got = append(o.got, name)
		if len(o.got) == o.want {
			o.c.NoErr(o.c.R.Stop(), "Stop")
		}
	}
}

func (o *timeOrderRecorder) check(want ...string) {
	o.c.Helper()
	o.c.Equal(strings.Join(o.got, " "), strings.Join(want, " "), "order of the calls")
}

func timeResetEarlier(c *C) {
	o := &timeOrderRecorder{c: c, want: 2}
	timeWhenRunning(c, func() {
		var resetAt time.Time
		a := c.Later(300*time.Millisecond, func() {
			if el := c.Clock.Now().Sub(resetAt); el < 20*time.Millisecond {
				c.Errorf("call reset to 20ms ran %v after the reset", el)
			}
			o.mark("A")()
		})
		c.Later(100*time.Millisecond, o.mark("B"))
		resetAt = c.Clock.Now()
		c.NoErr(a.Reset(20*time.Millisecond), "Reset")
		if lo, hi := resetAt.Add(20*time.Millisecond), c.Clock.Now().Add(20*time.Millisecond); a.Time().Before(lo) || a.Time().After(hi) {
			c.Errorf("after Reset(20ms): Time() is %v, want between %v and %v", a.Time(), lo, hi)
		}
	})
	timeRun(c)
	o.check("A", "B")
}

func timeResetLater(c *C) {
	o := &timeOrderRecorder{c: c, want: 2}
	timeWhenRunning(c, func() {
		var resetAt time.Time
		a := c.Later(5*time.Millisecond, func() {
			if el := c.Clock.Now().Sub(resetAt); el < 60*time.Millisecond {
				c.Errorf("call reset to 60ms ran %v after the reset", el)
			}
			o.mark("A")()
		})
		c.Later(30*time.Millisecond, o.mark("B"))
		resetAt = c.Clock.Now()
		c.NoErr(a.Reset(60*time.Millisecond), "Reset")
		if lo, hi := resetAt.Add(60*time.Millisecond), c.Clock.Now().Add(60*time.Millisecond); a.Time().Before(lo) || a.Time().After(hi) {
			c.Errorf("after Reset(60ms): Time() is %v, want between %v and %v", a.Time(), lo, hi)
		}
	})
	timeRun(c)
	o.check("B", "A")
}

func timeResetDelay(c *C) {
	o := &timeOrderRecorder{c: c, want: 2}
	timeWhenRunning(c, func() {
		var due time.Time
		a := c.Later(5*time.Millisecond, func() {
			if now := c.Clock.Now(); now.Before(due) {
				c.Errorf("delayed call ran at %v, before its new due time %v", now, due)
			}
			o.mark("A")()
		})
		c.Later(30*time.Millisecond, o.mark("B"))
		due = a.Time().Add(50 * time.Millisecond)
		c.NoErr(a.Delay(50*time.Millisecond), "Delay")
		c.True(a.Time().Equal(due), "after Delay(50ms): Time() is %v, want %v", a.Time(), due)
	})
	timeRun(c)
	o.check("B", "A")
}

func timeOrderDeadline(c *C) {
	const n = 100
	type sched struct {
		i   int
		due time.Time
	}
	var want []sched
	var got []int
	rng := rand.New(rand.NewPCG(7, 11))
	timeWhenRunning(c, func() {
		for i := range n {
			d := time.Duration(rng.IntN(40)) * time.Millisecond
			dc := c.Later(d, func() {
				if now := c.Clock.Now(); now.Before(want[i].due) {
					c.Errorf("call %d ran at %v, before it was due at %v", i, now, want[i].due)
				}
				got = append(got, i)
				if len(got) == n {
					c.NoErr(c.R.Stop(), "Stop")
				}
			})
			want = append(want, sched{i, dc.Time()})
		}
	})
	timeRun(c)
	sorted := append([]sched(nil), want...)
	// Stable: equal due times keep scheduling order (time.order.fifo).
	sort.SliceStable(sorted, func(a, b int) bool { return sorted[a].due.Before(sorted[b].due) })
	order := make([]int, len(sorted))
	for k, s := range sorted {
		order[k] = s.i
	}
	c.Equal(got, order, "calls in order of run (want the order of their due times)")
}

func timeOrderFIFOSameDelay(c *C) {
	const n = 50
	var got, want []int
	timeWhenRunning(c, func() {
		for i := range n {
			want = append(want, i)
			c.Later(10*time.Millisecond, func() {
				got = append(got, i)
				if len(got) == n {
					c.NoErr(c.R.Stop(), "Stop")
				}
			})
		}
	})
	timeRun(c)
	c.Equal(got, want, "calls with the same delay, in order of run")
}

// timeOrderFIFODelayTies makes 50 calls due at exactly the same instant with
// Delay, moving them in a shuffled order: they must run in the order moved.
func timeOrderFIFODelayTies(c *C) {
	const n = 50
	var got []int
	perm := rand.New(rand.NewPCG(3, 5)).Perm(n)
	timeWhenRunning(c, func() {
		dcs := make([]gyre.DelayedCall, n)
		for i := range n {
			dcs[i] = c.Later(20*time.Millisecond, func() {
				got = append(got, i)
				if len(got) == n {
					c.NoErr(c.R.Stop(), "Stop")
				}
			})
		}
		target := dcs[n-1].Time()
		for _, dc := range dcs {
			if dc.Time().After(target) {
				target = dc.Time()
			}
		}
		target = target.Add(5 * time.Millisecond)
		for _, i := range perm {
			c.NoErr(dcs[i].Delay(target.Sub(dcs[i].Time())), "Delay")
		}
		for i, dc := range dcs {
			if !dc.Time().Equal(target) {
				c.Errorf("call %d: Time() is %v after Delay, want %v", i, dc.Time(), target)
			}
		}
	})
	timeRun(c)
	c.Equal(got, perm, "calls moved by Delay to one instant, in order of run (want the order moved)")
}

// timeOrderFIFOReset resets the first of 21 calls to the delay the others
// were given: it is due at the same time as them or later, and counts as
// scheduled last, so it runs last.
func timeOrderFIFOReset(c *C) {
	const n = 20
	var got, want []int
	timeWhenRunning(c, func() {
		first := c.Later(time.Hour, func() {
			got = append(got, -1)
			if len(got) == n+1 {
				c.NoErr(c.R.Stop(), "Stop")
			}
		})
		for i := range n {
			want = append(want, i)
			c.Later(10*time.Millisecond, func() {
				got = append(got, i)
				if len(got) == n+1 {
					c.NoErr(c.R.Stop(), "Stop")
				}
			})
		}
		c.NoErr(first.Reset(10*time.Millisecond), "Reset")
		want = append(want, -1)
	})
	timeRun(c)
	c.Equal(got, want, "calls in order of run (-1 is the call reset last)")
}

// timePassLater: a call scheduled by a timer waits for a later pass, so a
// call queued from another goroutine in the meantime runs before it.
func timePassLater(c *C) {
	var got []string
	timeWhenRunning(c, func() {
		c.Later(0, func() {
			got = append(got, "A")
			c.NoErr(c.Threads.CallFromThread(func() { got = append(got, "X") }), "CallFromThread")
			c.Later(0, func() {
				got = append(got, "B")
				c.NoErr(c.R.Stop(), "Stop")
			})
		})
	})
	timeRun(c)
	c.Equal(strings.Join(got, " "), "A X B", "order (X is queued and B scheduled with delay 0 by timer A)")
}

func timePassLaterReset(c *C) {
	var got []string
	timeWhenRunning(c, func() {
		b := c.Later(time.Hour, func() {
			got = append(got, "B")
			c.NoErr(c.R.Stop(), "Stop")
		})
		c.Later(0, func() {
			got = append(got, "A")
			c.NoErr(c.Threads.CallFromThread(func() { got = append(got, "X") }), "CallFromThread")
			c.NoErr(b.Reset(0), "Reset(0)")
		})
	})
	timeRun(c)
	c.Equal(strings.Join(got, " "), "A X B", "order (X is queued and B reset to 0 by timer A)")
}

// timePassLaterNoStarvation: a timer that keeps rescheduling itself with
// delay 0 does not keep a queued call waiting.
func timePassLaterNoStarvation(c *C) {
	const limit = 100000
	runs, runsBeforeX := 0, -1
	var tick func()
	tick = func() {
		runs++
		if runs == 1 {
			c.NoErr(c.Threads.CallFromThread(func() {
				runsBeforeX = runs
				c.NoErr(c.R.Stop(), "Stop")
			}), "CallFromThread")
		}
		if runsBeforeX >= 0 {
			return
		}
		if runs == limit {
			c.Errorf("a timer rescheduling itself ran %d times while a queued call waited", limit)
			c.NoErr(c.R.Crash(), "Crash")
			return
		}
		c.Later(0, tick)
	}
	timeWhenRunning(c, func() { c.Later(0, tick) })
	err := c.Run()
	if runs < limit {
		c.NoErr(err, "Run")
	}
	c.Equal(runsBeforeX, 1, "runs of the self-rescheduling timer before the queued call")
}

func timeNowMonotonic(c *C) {
	prev := c.Clock.Now()
	c.True(strings.Contains(prev.String(), " m="), "Now() = %v carries no monotonic clock reading", prev)
	forward := func(what string) {
		c.Helper()
		for range 10000 {
			now := c.Clock.Now()
			if now.Before(prev) {
				c.Errorf("%s: Now() went back from %v to %v", what, prev, now)
				return
			}
			prev = now
		}
	}
	forward("idle reactor")
	left := 5
	timeWhenRunning(c, func() {
		forward("CallWhenRunning")
		for i := range left {
			var dc gyre.DelayedCall
			dc = c.Later(time.Duration(i)*3*time.Millisecond, func() {
				now := c.Clock.Now()
				if now.Before(dc.Time()) {
					c.Errorf("call %d ran at Now() = %v, before its Time() %v", i, now, dc.Time())
				}
				forward(fmt.Sprintf("call %d", i))
				if left--; left == 0 {
					c.NoErr(c.R.Stop(), "Stop")
				}
			})
		}
	})
	timeRun(c)
	forward("after Run")
}

func timePendingList(c *C) {
	var b, d gyre.DelayedCall
	a := c.Later(time.Hour, func() { c.Errorf("call a ran") })
	aTime := a.Time()
	c.True(timeListed(c, a), "a call scheduled on an idle reactor is not listed")
	timeWhenRunning(c, func() {
		b = c.Later(2*time.Hour, func() { c.Errorf("call b ran") })
		c.Equal(len(c.Clock.DelayedCalls()), 2, "number of pending calls")
		c.True(timeListed(c, a) && timeListed(c, b), "DelayedCalls does not list both pending calls")
		var t gyre.DelayedCall
		t = c.Later(5*time.Millisecond, func() {
			c.True(!timeListed(c, t), "a call is still listed while it runs")
			d = c.Later(time.Hour, func() { c.Errorf("call d ran") })
			c.True(timeListed(c, d), "a call scheduled in the current pass is not listed")
			c.NoErr(b.Cancel(), "Cancel")
			c.True(!timeListed(c, b), "a cancelled call is still listed")
			c.Equal(len(c.Clock.DelayedCalls()), 2, "number of pending calls (a and d)")
			c.NoErr(c.R.Stop(), "Stop")
		})
		c.Equal(len(c.Clock.DelayedCalls()), 3, "number of pending calls")
	})
	timeRun(c)
	c.True(timeListed(c, a) && timeListed(c, d), "pending calls not listed after Run")
	for _, p := range c.Clock.DelayedCalls() {
		if timeSame(p, a) {
			c.True(p.Time().Equal(aTime), "listed call has Time() %v, want %v", p.Time(), aTime)
		}
	}
	c.NoErr(a.Cancel(), "Cancel a")
	c.NoErr(d.Cancel(), "Cancel d")
	c.Equal(len(c.Clock.DelayedCalls()), 0, "number of pending calls after cancelling all")
}

func timeStopPending(c *C) {
	ran := false
	var a gyre.DelayedCall
	timeWhenRunning(c, func() {
		a = c.Later(time.Hour, func() { ran = true })
		c.StopLater(10 * time.Millisecond)
	})
	var due time.Time
	_, err := c.R.AddSystemEventTrigger(gyre.After, gyre.Shutdown, func() *deferred.Deferred {
		due = a.Time()
		return nil
	})
	c.NoErr(err, "AddSystemEventTrigger")
	timeRun(c)
	c.True(!ran, "a pending call ran when the reactor stopped")
	c.True(a.Active(), "a call pending when the reactor stopped is no longer active")
	c.True(timeListed(c, a), "a call pending when the reactor stopped is no longer listed")
	c.True(a.Time().Equal(due), "the pending call moved from %v to %v", due, a.Time())
	c.NoErr(a.Cancel(), "Cancel after the reactor stopped")
	c.True(!ran, "a pending call ran when cancelled")
}

func timeDistant(c *C) {
	ran := false
	var far gyre.DelayedCall
	timeWhenRunning(c, func() {
		far = c.Later(time.Duration(math.MaxInt64), func() { ran = true })
		century := c.Clock.Now().Add(100 * 365 * 24 * time.Hour)
		c.True(far.Time().After(century), "a call due MaxInt64 from now reports Time() %v, not centuries ahead", far.Time())
		c.StopLater(10 * time.Millisecond)
	})
	timeRun(c)
	c.True(!ran, "a call due centuries from now ran")
	c.True(far.Active(), "the distant call is no longer active")
	c.NoErr(far.Cancel(), "Cancel of the distant call")
	timeNoErrorLogs(c)
}

// timeDistantWakes: with only a distant call pending, a call from another
// goroutine still wakes the loop.
func timeDistantWakes(c *C) {
	ran, woke := false, false
	var far gyre.DelayedCall
	timeWhenRunning(c, func() {
		far = c.Later(time.Duration(math.MaxInt64), func() { ran = true })
		go func() {
			<-time.After(20 * time.Millisecond)
			err := c.Threads.CallFromThread(func() {
				woke = true
				c.NoErr(c.R.Stop(), "Stop")
			})
			if err != nil {
				c.Errorf("CallFromThread: %v", err)
			}
		}()
	})
	timeRun(c)
	c.True(woke, "the queued call never ran")
	c.True(!ran, "a call due centuries from now ran")
	c.NoErr(far.Cancel(), "Cancel of the distant call")
	timeNoErrorLogs(c)
}

// timeDistantMoved pushes calls to the end of time with Reset and Delay: the
// due time must saturate, not wrap round into the past.
func timeDistantMoved(c *C) {
	ran := 0
	var a, b, e gyre.DelayedCall
	timeWhenRunning(c, func() {
		a = c.Later(time.Hour, func() { ran++ })
		c.NoErr(a.Delay(time.Duration(math.MaxInt64)), "Delay(MaxInt64)")
		b = c.Later(time.Millisecond, func() { ran++ })
		c.NoErr(b.Reset(time.Duration(math.MaxInt64)), "Reset(MaxInt64)")
		e = c.Later(time.Duration(math.MaxInt64), func() { ran++ })
		c.NoErr(e.Delay(time.Duration(math.MaxInt64)), "Delay(MaxInt64) of a call due at MaxInt64")
		century := c.Clock.Now().Add(100 * 365 * 24 * time.Hour)
		for _, dc := range []gyre.DelayedCall{a, b, e} {
			c.True(dc.Time().After(century), "a call moved by MaxInt64 reports Time() %v, not centuries ahead", dc.Time())
		}
		c.StopLater(30 * time.Millisecond)
	})
	timeRun(c)
	c.Equal(ran, 0, "calls moved centuries ahead that ran")
	for _, dc := range []gyre.DelayedCall{a, b, e} {
		c.NoErr(dc.Cancel(), "Cancel")
	}
	timeNoErrorLogs(c)
}

// timeCancelMemory schedules 200,000 calls, each holding some memory, then
// cancels them all: the heap must come back to where it was.
func timeCancelMemory(c *C) {
	const n = 200000
	const slack = 4 << 20
	var before, after runtime.MemStats
	timeWhenRunning(c, func() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		dcs := make([]gyre.DelayedCall, n)
		for i := range dcs {
			payload := new([16]int64)
			payload[0] = int64(i)
			dcs[i] = c.Later(time.Hour+time.Duration(i%1000)*time.Millisecond, func() { payload[1]++ })
		}
		c.Equal(len(c.Clock.DelayedCalls()), n, "pending calls after scheduling")
		// Cancel from both ends towards the middle, so calls leave from
		// every part of the timer queue.
		for i, j := 0, n-1; i <= j; i, j = i+1, j-1 {
			c.NoErr(dcs[i].Cancel(), "Cancel")
			if i != j {
				c.NoErr(dcs[j].Cancel(), "Cancel")
			}
		}
		clear(dcs)
		c.Equal(len(c.Clock.DelayedCalls()), 0, "pending calls after cancelling all")
		// And the same, one call at a time.
		for i := range n {
			dc := c.Later(time.Hour, func() {})
			if i%2 == 0 {
				c.NoErr(dc.Cancel(), "Cancel")
			} else {
				c.NoErr(dc.Reset(2*time.Hour), "Reset")
				c.NoErr(dc.Cancel(), "Cancel")
			}
		}
		c.Equal(len(c.Clock.DelayedCalls()), 0, "pending calls after scheduling and cancelling one at a time")
		runtime.GC()
		runtime.ReadMemStats(&after)
		c.NoErr(c.R.Stop(), "Stop")
	})
	timeRun(c)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	c.Logf("heap before %d, after %d bytes (grown %d)", before.HeapAlloc, after.HeapAlloc, grown)
	c.True(grown <= slack, "heap grew by %d bytes after scheduling and cancelling %d calls (allowed %d)", grown, n, slack)
}

func timeStopped(c *C) {
	timeWhenRunning(c, func() { c.NoErr(c.R.Stop(), "Stop") })
	timeRun(c)
	for _, d := range []time.Duration{0, time.Second} {
		dc, err := c.Clock.CallLater(d, func() { c.Errorf("a call scheduled on a stopped reactor ran") })
		c.ErrIs(err, gyre.ErrStopped, fmt.Sprintf("CallLater(%v) after the reactor stopped", d))
		c.True(dc == nil || !dc.Active(), "CallLater on a stopped reactor returned an active call")
	}
	c.Equal(len(c.Clock.DelayedCalls()), 0, "pending calls")
}

func timeStoppedByHand(c *C) {
	c.NoErr(c.guard(func() error { return c.R.FireSystemEvent(gyre.Shutdown) }), "FireSystemEvent(shutdown) on an idle reactor")
	dc, err := c.Clock.CallLater(0, func() { c.Errorf("a call scheduled on a stopped reactor ran") })
	c.ErrIs(err, gyre.ErrStopped, "CallLater after shutdown was fired by hand")
	c.True(dc == nil || !dc.Active(), "CallLater on a stopped reactor returned an active call")
	c.Equal(len(c.Clock.DelayedCalls()), 0, "pending calls")
}

// timePanic: of two calls due in the same pass, the first panics; the second
// still runs in that pass, before a call queued by the first.
func timePanic(c *C) {
	const boom = "time.panic: boom 4711"
	var got []string
	timeWhenRunning(c, func() {
		q := c.Later(0, func() { got = append(got, "Q") })
		p := c.Later(0, func() {
			got = append(got, "P")
			c.NoErr(c.Threads.CallFromThread(func() {
				got = append(got, "X")
				c.NoErr(c.R.Stop(), "Stop")
			}), "CallFromThread")
			panic(boom)
		})
		// Due at the same instant, Q after P.
		c.NoErr(q.Delay(p.Time().Sub(q.Time())), "Delay")
	})
	timeRun(c)
	c.Equal(strings.Join(got, " "), "P Q X", "order (P panics, Q is due with it, X is queued by P)")
	logged := false
	for _, r := range c.Logs() {
		if r.Level < slog.LevelError {
			continue
		}
		text := r.Message
		for _, v := range r.Attrs {
			text += " " + v
		}
		logged = logged || strings.Contains(text, boom)
	}
	c.True(logged, "the panic %q was not logged at level Error", boom)
}
