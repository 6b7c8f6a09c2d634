package reactortest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// Cases for the "Core: lifecycle" rules of docs/SPEC.md.

func init() {
	register(
		Case{ID: "core.run.startup", Facet: FacetCore, Needs: NeedClock | NeedThreads, Test: coreRunStartup},
		Case{ID: "core.run.nested#run", Facet: FacetCore, Needs: NeedClock, Test: coreRunNestedRun},
		Case{ID: "core.run.nested#iterate", Facet: FacetCore, Needs: NeedClock, Test: coreRunNestedIterate},
		Case{ID: "core.run.after-shutdown", Facet: FacetCore, Needs: NeedClock, Test: coreRunAfterShutdown},
		Case{ID: "core.stop.final#after-run", Facet: FacetCore, Needs: NeedClock, Test: coreStopFinalAfterRun},
		Case{ID: "core.stop.final#from-after-trigger", Facet: FacetCore, Needs: NeedClock, Test: coreStopFinalFromAfterTrigger},
		Case{ID: "core.stop.not-running#never-run", Facet: FacetCore, Test: coreStopNotRunningNeverRun},
		Case{ID: "core.stop.not-running#stopped", Facet: FacetCore, Needs: NeedClock, Test: coreStopNotRunningStopped},
		Case{ID: "core.stop.not-running#crashed", Facet: FacetCore, Needs: NeedClock, Test: coreStopNotRunningCrashed},
		Case{ID: "core.stop.repeat", Facet: FacetCore, Needs: NeedClock, Test: coreStopRepeat},
		Case{ID: "core.stop.deferred", Facet: FacetCore, Needs: NeedClock | NeedThreads, Test: coreStopDeferred},
		Case{ID: "core.stop.during-startup", Facet: FacetCore, Needs: NeedClock, Test: coreStopDuringStartup},
		Case{ID: "core.crash.no-shutdown", Facet: FacetCore, Needs: NeedClock, Test: coreCrashNoShutdown},
		Case{ID: "core.crash.prompt#queued", Facet: FacetCore, Needs: NeedClock | NeedThreads, Test: coreCrashPromptQueued},
		Case{ID: "core.crash.prompt#timers", Facet: FacetCore, Needs: NeedClock, Test: coreCrashPromptTimers},
		Case{ID: "core.crash.prompt#triggers", Facet: FacetCore, Needs: NeedClock, Test: coreCrashPromptTriggers},
		Case{ID: "core.crash.resume", Facet: FacetCore, Needs: NeedClock, Test: coreCrashResume},
		Case{ID: "core.crash.not-running", Facet: FacetCore, Needs: NeedClock, Test: coreCrashNotRunning},
		Case{ID: "core.crash.during-shutdown#before-deferred", Facet: FacetCore, Needs: NeedClock, Test: coreCrashDuringShutdownDeferred},
		Case{ID: "core.crash.during-shutdown#during-trigger", Facet: FacetCore, Needs: NeedClock, Test: coreCrashDuringShutdownTrigger},
		Case{ID: "core.running.phases", Facet: FacetCore, Needs: NeedClock, Test: coreRunningPhases},
		Case{ID: "core.when-running.order", Facet: FacetCore, Test: coreWhenRunningOrder},
		Case{ID: "core.when-running.now", Facet: FacetCore, Needs: NeedClock, Test: coreWhenRunningNow},
		Case{ID: "core.when-running.stopped", Facet: FacetCore, Needs: NeedClock, Test: coreWhenRunningStopped},
		Case{ID: "core.iterate.no-wait", Facet: FacetCore, Needs: NeedClock, Test: coreIterateNoWait},
		Case{ID: "core.iterate.idle#due", Facet: FacetCore, Needs: NeedClock | NeedThreads, Test: coreIterateIdleDue},
		Case{ID: "core.iterate.idle#wait", Facet: FacetCore, Needs: NeedClock, Test: coreIterateIdleWait},
		Case{ID: "core.iterate.refused#nested", Facet: FacetCore, Needs: NeedClock, Test: coreIterateRefusedNested},
		Case{ID: "core.iterate.refused#stopped", Facet: FacetCore, Needs: NeedClock, Test: coreIterateRefusedStopped},
		Case{ID: "core.iterate.refused#negative", Facet: FacetCore, Test: coreIterateRefusedNegative},
		Case{ID: "core.context.cancel", Facet: FacetCore, Test: coreContextCancel},
		Case{ID: "core.context.cancel#other-stop", Facet: FacetCore, Needs: NeedClock, Test: coreContextOtherStop},
		Case{ID: "core.context.done-before", Facet: FacetCore, Test: coreContextDoneBefore},
		Case{ID: "core.context.done-before#deadline", Facet: FacetCore, Test: coreContextDoneBeforeDeadline},
		Case{ID: "core.idle.blocks", Facet: FacetCore, Needs: NeedClock, Test: coreIdleBlocks},
		Case{ID: "core.idle.startup-pending", Facet: FacetCore, Needs: NeedClock, Test: coreIdleStartupPending},
		Case{ID: "core.shutdown.by-hand#never-run", Facet: FacetCore, Needs: NeedClock, Test: coreShutdownByHandNeverRun},
		Case{ID: "core.shutdown.by-hand#pool", Facet: FacetCore, Needs: NeedThreads, Test: coreShutdownByHandPool},
		Case{ID: "core.shutdown.by-hand#crashed", Facet: FacetCore, Needs: NeedClock, Test: coreShutdownByHandCrashed},
		Case{ID: "core.shutdown.fire-running", Facet: FacetCore, Needs: NeedClock, Test: coreShutdownFireRunning},
	)
}

// coreSeq records, in order, what happened on the loop goroutine.
type coreSeq struct{ items []string }

func (s *coreSeq) add(format string, args ...any) {
	s.items = append(s.items, fmt.Sprintf(format, args...))
}

func (s *coreSeq) String() string { return strings.Join(s.items, " ") }

var corePhases = [...]gyre.Phase{gyre.Before, gyre.During, gyre.After}

// coreOn registers f as a trigger for phase of event that returns nil.
func coreOn(c *C, phase gyre.Phase, event string, f func()) gyre.TriggerID {
	c.Helper()
	id, err := c.R.AddSystemEventTrigger(phase, event, func() *deferred.Deferred {
		f()
		return nil
	})
	if err != nil {
		c.Errorf("AddSystemEventTrigger(%v, %q): %v", phase, event, err)
	}
	return id
}

// coreRecord registers a trigger in every phase of event that records
// "event.phase" (for example "shutdown.during") in s.
func coreRecord(c *C, s *coreSeq, event string) {
	c.Helper()
	for _, p := range corePhases {
		coreOn(c, p, event, func() { s.add("%s.%v", event, p) })
	}
}

// coreWhenRunning is CallWhenRunning that fails the case on an error.
func coreWhenRunning(c *C, f func()) {
	c.Helper()
	if _, err := c.R.CallWhenRunning(f); err != nil {
		c.Errorf("CallWhenRunning: %v", err)
	}
}

// coreIterate calls Iterate under the same watchdog as C.Run, so that a wait
// that never ends fails the case instead of hanging it.
func coreIterate(c *C, timeout time.Duration) error {
	return c.guard(func() error { return c.R.Iterate(timeout) })
}

const coreShutdownPhases = "shutdown.before shutdown.during shutdown.after"

func coreRunStartup(c *C) {
	var s coreSeq
	for _, p := range corePhases {
		coreOn(c, p, gyre.Startup, func() { s.add("startup.%v:running=%v", p, c.R.Running()) })
	}
	c.NoErr(c.Threads.CallFromThread(func() { s.add("queued") }), "CallFromThread")
	c.Later(0, func() { s.add("timer") })
	c.Later(20*time.Millisecond, func() {
		s.add("stop")
		c.NoErr(c.R.Stop(), "Stop")
	})
	c.Equal(s.String(), "", "what ran before Run")
	c.NoErr(c.Run(), "Run")
	c.Equal(s.String(),
		"startup.before:running=false startup.during:running=true startup.after:running=true queued timer stop",
		"order of events")
}

func coreRunNestedRun(c *C) {
	var s coreSeq
	var fromTrigger, fromTimer error
	coreOn(c, gyre.Before, gyre.Startup, func() {
		fromTrigger = c.R.Run()
		s.add("startup.before")
	})
	coreOn(c, gyre.During, gyre.Startup, func() { s.add("startup.during") })
	coreRecord(c, &s, gyre.Shutdown)
	c.Later(0, func() {
		fromTimer = c.R.Run()
		s.add("nested:running=%v", c.R.Running())
		c.Later(10*time.Millisecond, func() {
			s.add("later")
			c.NoErr(c.R.Stop(), "Stop")
		})
	})
	c.NoErr(c.Run(), "Run")
	c.ErrIs(fromTrigger, gyre.ErrAlreadyRunning, "Run from a Before \"startup\" trigger")
	c.ErrIs(fromTimer, gyre.ErrAlreadyRunning, "Run from a timer")
	c.Equal(s.String(), "startup.before startup.during nested:running=true later "+coreShutdownPhases,
		"events (the outer loop must carry on, startup and shutdown fire once)")
}

func coreRunNestedIterate(c *C) {
	var s coreSeq
	nested := errors.New("nested Run not called")
	coreOn(c, gyre.During, gyre.Startup, func() { s.add("startup.during") })
	c.Later(0, func() {
		nested = c.R.Run()
		s.add("timer")
	})
	c.NoErr(coreIterate(c, 0), "Iterate(0)")
	c.ErrIs(nested, gyre.ErrAlreadyRunning, "Run from a timer run by Iterate")
	c.Equal(s.String(), "timer", "events after Iterate")
	// The reactor is unharmed: it still runs normally.
	c.StopLater(10 * time.Millisecond)
	c.NoErr(c.Run(), "Run after Iterate")
	c.Equal(s.String(), "timer startup.during", "events after Run")
}

func coreRunAfterShutdown(c *C) {
	var s coreSeq
	_, err := c.R.AddSystemEventTrigger(gyre.Before, gyre.Shutdown, func() *deferred.Deferred {
		s.add("shutdown.before")
		d := deferred.New(nil)
		c.Later(30*time.Millisecond, func() {
			s.add("fire")
			c.NoErr(d.Callback(nil), "Callback")
		})
		return d
	})
	c.NoErr(err, "AddSystemEventTrigger")
	coreOn(c, gyre.During, gyre.Shutdown, func() { s.add("shutdown.during") })
	coreOn(c, gyre.After, gyre.Shutdown, func() { s.add("shutdown.after") })
	c.StopLater(0)
	c.NoErr(c.Run(), "Run")
	c.Equal(s.String(), "shutdown.before fire shutdown.during shutdown.after", "events when Run returned")
}

func coreStopFinalAfterRun(c *C) {
	var s coreSeq
	c.StopLater(0)
	c.NoErr(c.Run(), "Run")
	coreRecord(c, &s, gyre.Startup)
	c.ErrIs(c.Run(), gyre.ErrNotRestartable, "Run after Stop")
	c.ErrIs(c.RunContext(context.Background()), gyre.ErrNotRestartable, "RunContext after Stop")
	c.Equal(s.String(), "", "startup triggers run by the refused Run")
}

func coreStopFinalFromAfterTrigger(c *C) {
	errRun := errors.New("not called")
	errRunContext := errRun
	coreOn(c, gyre.After, gyre.Shutdown, func() {
		errRun = c.R.Run()
		errRunContext = c.R.RunContext(context.Background())
	})
	c.StopLater(0)
	c.NoErr(c.Run(), "Run")
	c.ErrIs(errRun, gyre.ErrNotRestartable, "Run from an After \"shutdown\" trigger")
	c.ErrIs(errRunContext, gyre.ErrNotRestartable, "RunContext from an After \"shutdown\" trigger")
	c.ErrIs(c.Run(), gyre.ErrNotRestartable, "Run after Stop")
}

func coreStopNotRunningNeverRun(c *C) {
	c.ErrIs(c.R.Stop(), gyre.ErrNotRunning, "Stop on a reactor that never ran")
	c.True(!c.R.Running(), "Running is true after Stop on a reactor that never ran")
}

func coreStopNotRunningStopped(c *C) {
	c.StopLater(0)
	c.NoErr(c.Run(), "Run")
	c.ErrIs(c.R.Stop(), gyre.ErrNotRunning, "Stop on a stopped reactor")
}

func coreStopNotRunningCrashed(c *C) {
	c.Later(0, func() { c.NoErr(c.R.Crash(), "Crash") })
	c.ErrIs(c.Run(), gyre.ErrCrashed, "Run")
	c.ErrIs(c.R.Stop(), gyre.ErrNotRunning, "Stop on a crashed reactor")
}

func coreStopRepeat(c *C) {
	var s coreSeq
	coreOn(c, gyre.Before, gyre.Shutdown, func() {
		s.add("shutdown.before")
		c.NoErr(c.R.Stop(), "Stop in a Before \"shutdown\" trigger")
	})
	coreOn(c, gyre.During, gyre.Shutdown, func() {
		s.add("shutdown.during")
		c.NoErr(c.R.Stop(), "Stop in a During \"shutdown\" trigger")
	})
	coreOn(c, gyre.After, gyre.Shutdown, func() {
		s.add("shutdown.after")
		c.NoErr(c.R.Stop(), "Stop in an After \"shutdown\" trigger")
		// A second firing of "shutdown" would run this.
		coreOn(c, gyre.Before, gyre.Shutdown, func() { s.add("second-shutdown") })
	})
	c.Later(0, func() {
		c.NoErr(c.R.Stop(), "first Stop")
		c.NoErr(c.R.Stop(), "second Stop in the same callback")
	})
	c.NoErr(c.Run(), "Run")
	c.Equal(s.String(), coreShutdownPhases, "shutdown triggers run")
}

func coreStopDeferred(c *C) {
	var s coreSeq
	coreOn(c, gyre.Before, gyre.Shutdown, func() { s.add("shutdown.before:running=%v", c.R.Running()) })
	coreWhenRunning(c, func() {
		// Both timers are due in the first pass.
		c.Later(0, func() {
			s.add("A")
			c.NoErr(c.R.Stop(), "Stop")
			s.add("A-end:running=%v", c.R.Running())
			// Queued during the pass: runs in a later pass, after
			// shutdown has begun.
			c.NoErr(c.Threads.CallFromThread(func() { s.add("queued") }), "CallFromThread")
		})
		c.Later(0, func() { s.add("B:running=%v", c.R.Running()) })
	})
	c.NoErr(c.Run(), "Run")
	c.Equal(s.String(), "A A-end:running=true B:running=true shutdown.before:running=true queued", "order of events")
}

func coreStopDuringStartup(c *C) {
	var s coreSeq
	var stopErr error
	d := deferred.New(nil)
	_, err := c.R.AddSystemEventTrigger(gyre.Before, gyre.Startup, func() *deferred.Deferred {
		s.add("startup.before")
		return d
	})
	c.NoErr(err, "AddSystemEventTrigger")
	coreOn(c, gyre.During, gyre.Startup, func() { s.add("startup.during") })
	coreOn(c, gyre.After, gyre.Startup, func() { s.add("startup.after") })
	coreWhenRunning(c, func() { s.add("when-running") })
	coreRecord(c, &s, gyre.Shutdown)
	c.Later(20*time.Millisecond, func() {
		s.add("stop")
		stopErr = c.R.Stop()
	})
	c.NoErr(c.Run(), "Run")
	c.NoErr(stopErr, "Stop while startup waits")
	want := "startup.before stop " + coreShutdownPhases
	c.Equal(s.String(), want, "events when Run returned")
	// The abandoned startup stays abandoned when its Deferred fires.
	c.NoErr(d.Callback(nil), "Callback")
	c.Equal(s.String(), want, "events after the Before \"startup\" Deferred fired")
}

func coreCrashNoShutdown(c *C) {
	var s coreSeq
	coreRecord(c, &s, gyre.Shutdown)
	c.Later(0, func() {
		c.NoErr(c.R.Crash(), "Crash")
		s.add("crashed")
	})
	c.ErrIs(c.Run(), gyre.ErrCrashed, "Run")
	c.True(!c.R.Running(), "Running is true after Run returned from a crash")
	c.Equal(s.String(), "crashed", "events (no shutdown trigger may run)")
}

func coreCrashPromptQueued(c *C) {
	var s coreSeq
	var t gyre.DelayedCall
	coreWhenRunning(c, func() {
		c.NoErr(c.Threads.CallFromThread(func() {
			s.add("f1")
			c.NoErr(c.R.Crash(), "Crash")
		}), "CallFromThread")
		c.NoErr(c.Threads.CallFromThread(func() { s.add("f2") }), "CallFromThread")
		c.NoErr(c.Threads.CallFromThread(func() { s.add("f3") }), "CallFromThread")
		t = c.Later(0, func() { s.add("timer") })
	})
	c.ErrIs(c.Run(), gyre.ErrCrashed, "Run")
	c.Equal(s.String(), "f1", "events when Run returned after the crash")
	s.add("|")
	c.StopLater(20 * time.Millisecond)
	c.NoErr(c.Run(), "second Run")
	c.Equal(s.String(), "f1 | f2 f3 timer", "events after the second Run")
	if t != nil && t.Active() {
		_ = t.Cancel()
	}
}

func coreCrashPromptTimers(c *C) {
	var s coreSeq
	var b gyre.DelayedCall
	coreWhenRunning(c, func() {
		// Both timers are due in the first pass.
		c.Later(0, func() {
			s.add("A")
			c.NoErr(c.R.Crash(), "Crash")
			s.add("A-end")
		})
		b = c.Later(0, func() { s.add("B") })
	})
	c.ErrIs(c.Run(), gyre.ErrCrashed, "Run")
	c.Equal(s.String(), "A A-end", "events when Run returned after the crash")
	c.True(b != nil && b.Active(), "the timer left by the crash is no longer active")
	c.StopLater(20 * time.Millisecond)
	c.NoErr(c.Run(), "second Run")
	c.Equal(s.String(), "A A-end B", "events after the second Run")
	if b != nil && b.Active() {
		_ = b.Cancel()
	}
}

func coreCrashPromptTriggers(c *C) {
	var s coreSeq
	coreOn(c, gyre.After, gyre.Startup, func() {
		s.add("T1")
		c.NoErr(c.R.Crash(), "Crash")
		s.add("T1-end")
	})
	coreOn(c, gyre.After, gyre.Startup, func() { s.add("T2") })
	coreWhenRunning(c, func() { s.add("when-running") })
	t := c.Later(0, func() { s.add("timer") })
	c.ErrIs(c.Run(), gyre.ErrCrashed, "Run")
	c.Equal(s.String(), "T1 T1-end", "events when Run returned (nothing may run after the callback that crashed)")
	if t.Active() {
		_ = t.Cancel()
	}
}

func coreCrashResume(c *C) {
	var s coreSeq
	coreRecord(c, &s, gyre.Startup)
	coreRecord(c, &s, gyre.Shutdown)
	c.Later(0, func() {
		s.add("crash")
		c.NoErr(c.R.Crash(), "Crash")
	})
	c.ErrIs(c.Run(), gyre.ErrCrashed, "Run")
	c.Equal(s.String(), "startup.before startup.during startup.after crash", "events of the first Run")
	s.items = nil

	for _, p := range corePhases {
		coreOn(c, p, gyre.Startup, func() { s.add("new-startup.%v", p) })
	}
	var stopErr error
	id, err := c.R.CallWhenRunning(func() {
		s.add("when-running:running=%v", c.R.Running())
		stopErr = c.R.Stop()
	})
	c.NoErr(err, "CallWhenRunning after the crash")
	c.True(id != 0, "CallWhenRunning on a crashed reactor returned a zero TriggerID")
	c.NoErr(c.Run(), "second Run")
	c.NoErr(stopErr, "Stop in CallWhenRunning")
	c.Equal(s.String(),
		"new-startup.before new-startup.during new-startup.after when-running:running=true "+coreShutdownPhases,
		"events of the second Run")
	c.ErrIs(c.Run(), gyre.ErrNotRestartable, "Run after the Stop")
}

func coreCrashNotRunning(c *C) {
	c.ErrIs(c.R.Crash(), gyre.ErrNotRunning, "Crash on a reactor that never ran")
	c.Later(0, func() { c.NoErr(c.R.Crash(), "Crash on a running reactor") })
	c.ErrIs(c.Run(), gyre.ErrCrashed, "Run")
	c.ErrIs(c.R.Crash(), gyre.ErrNotRunning, "Crash on a crashed reactor")
	c.StopLater(0)
	c.NoErr(c.Run(), "second Run")
	c.ErrIs(c.R.Crash(), gyre.ErrNotRunning, "Crash on a stopped reactor")
}

func coreCrashDuringShutdownDeferred(c *C) {
	var s coreSeq
	var crashErr error
	d := deferred.New(nil)
	_, err := c.R.AddSystemEventTrigger(gyre.Before, gyre.Shutdown, func() *deferred.Deferred {
		s.add("shutdown.before")
		c.Later(20*time.Millisecond, func() {
			s.add("crash")
			crashErr = c.R.Crash()
		})
		return d
	})
	c.NoErr(err, "AddSystemEventTrigger")
	coreOn(c, gyre.During, gyre.Shutdown, func() { s.add("shutdown.during") })
	coreOn(c, gyre.After, gyre.Shutdown, func() { s.add("shutdown.after") })
	// A listening port, when the backend has TCP: the abandoned shutdown
	// still closes it.
	var port gyre.Port
	if c.TCP != nil {
		var err error
		port, err = c.TCP.ListenTCP("127.0.0.1:0", gyre.FactoryFunc(func(net.Addr) gyre.Protocol { return nil }))
		c.NoErr(err, "ListenTCP")
	}
	c.StopLater(0)
	c.ErrIs(c.Run(), gyre.ErrCrashed, "Run")
	c.NoErr(crashErr, "Crash while shutdown waits")
	if port != nil {
		conn, err := net.DialTimeout("tcp", port.Addr().String(), c.Deadline)
		if err == nil {
			conn.Close()
			c.Errorf("the port still accepts connections after a crash during shutdown")
		}
	}
	want := "shutdown.before crash"
	c.Equal(s.String(), want, "events when Run returned")
	c.True(!c.R.Running(), "Running is true after the crash")
	c.ErrIs(c.R.Stop(), gyre.ErrNotRunning, "Stop after the crash")
	c.ErrIs(c.Run(), gyre.ErrNotRestartable, "Run after a crash during shutdown")
	// The abandoned shutdown stays abandoned when its Deferred fires.
	c.NoErr(d.Callback(nil), "Callback")
	c.Equal(s.String(), want, "events after the Before \"shutdown\" Deferred fired")
}

func coreCrashDuringShutdownTrigger(c *C) {
	var s coreSeq
	coreOn(c, gyre.Before, gyre.Shutdown, func() { s.add("shutdown.before") })
	coreOn(c, gyre.During, gyre.Shutdown, func() {
		s.add("D1")
		c.NoErr(c.R.Crash(), "Crash in a During \"shutdown\" trigger")
	})
	coreOn(c, gyre.During, gyre.Shutdown, func() { s.add("D2") })
	coreOn(c, gyre.After, gyre.Shutdown, func() { s.add("shutdown.after") })
	c.StopLater(0)
	c.ErrIs(c.Run(), gyre.ErrCrashed, "Run")
	c.Equal(s.String(), "shutdown.before D1", "events when Run returned (the rest of shutdown is abandoned)")
	c.ErrIs(c.Run(), gyre.ErrNotRestartable, "Run after a crash during shutdown")
}

func coreRunningPhases(c *C) {
	var s coreSeq
	for _, ev := range []string{gyre.Startup, gyre.Shutdown} {
		for _, p := range corePhases {
			coreOn(c, p, ev, func() { s.add("%s.%v=%v", ev, p, c.R.Running()) })
		}
	}
	c.Later(0, func() {
		s.add("timer=%v", c.R.Running())
		c.NoErr(c.R.Stop(), "Stop")
	})
	c.True(!c.R.Running(), "Running is true before Run")
	c.NoErr(c.Run(), "Run")
	s.add("returned=%v", c.R.Running())
	c.Equal(s.String(),
		"startup.before=false startup.during=true startup.after=true timer=true "+
			"shutdown.before=true shutdown.during=false shutdown.after=false returned=false",
		"Running in each phase")
}

func coreWhenRunningOrder(c *C) {
	var s coreSeq
	coreOn(c, gyre.Before, gyre.Startup, func() { s.add("startup.before") })
	coreOn(c, gyre.During, gyre.Startup, func() { s.add("startup.during") })
	ids := make(map[gyre.TriggerID]bool)
	for i := 1; i <= 3; i++ {
		id, err := c.R.CallWhenRunning(func() {
			s.add("w%d:running=%v", i, c.R.Running())
			if i == 3 {
				c.NoErr(c.R.Stop(), "Stop")
			}
		})
		c.NoErr(err, "CallWhenRunning")
		c.True(id != 0 && !ids[id], "CallWhenRunning before Run returned TriggerID %d, zero or already issued", id)
		ids[id] = true
	}
	c.NoErr(c.Run(), "Run")
	c.Equal(s.String(), "startup.before startup.during w1:running=true w2:running=true w3:running=true",
		"order of events")
}

func coreWhenRunningNow(c *C) {
	check := func(where string) {
		called := false
		id, err := c.R.CallWhenRunning(func() { called = true })
		c.NoErr(err, "CallWhenRunning "+where)
		c.True(called, "CallWhenRunning %s did not call the function before returning", where)
		c.Equal(id, gyre.TriggerID(0), "TriggerID from CallWhenRunning "+where)
	}
	checked := 0
	coreWhenRunning(c, func() {
		check("in a CallWhenRunning function")
		checked++
	})
	c.Later(0, func() {
		check("in a timer")
		checked++
		c.NoErr(c.R.Stop(), "Stop")
	})
	c.NoErr(c.Run(), "Run")
	c.Equal(checked, 2, "checks made")
}

func coreWhenRunningStopped(c *C) {
	var s coreSeq
	check := func(where string) {
		_, err := c.R.CallWhenRunning(func() { s.add("called (%s)", where) })
		c.ErrIs(err, gyre.ErrStopped, "CallWhenRunning "+where)
	}
	coreOn(c, gyre.During, gyre.Shutdown, func() {
		s.add("shutdown.during")
		check("in a During \"shutdown\" trigger")
	})
	coreOn(c, gyre.After, gyre.Shutdown, func() {
		s.add("shutdown.after")
		check("in an After \"shutdown\" trigger")
	})
	c.StopLater(0)
	c.NoErr(c.Run(), "Run")
	check("after the reactor stopped")
	c.Equal(s.String(), "shutdown.during shutdown.after", "events (no function may be called)")
}

func coreIterateNoWait(c *C) {
	ran := false
	dc := c.Later(10*time.Second, func() { ran = true })
	start := time.Now()
	c.NoErr(coreIterate(c, 0), "Iterate(0)")
	elapsed := time.Since(start)
	c.True(elapsed < 2*time.Second, "Iterate(0) took %v with a timer due in 10s", elapsed)
	c.True(!ran, "Iterate(0) ran a timer due in 10s")
	_ = dc.Cancel()
}

func coreIterateIdleDue(c *C) {
	var s coreSeq
	c.NoErr(c.Threads.CallFromThread(func() { s.add("queued") }), "CallFromThread")
	c.Later(0, func() { s.add("timer") })
	far := c.Later(10*time.Second, func() { s.add("far timer") })
	c.NoErr(coreIterate(c, 0), "Iterate(0) on a reactor that never ran")
	c.Equal(s.String(), "queued timer", "what Iterate ran")
	_ = far.Cancel()
}

func coreIterateIdleWait(c *C) {
	// Nothing to do: Iterate waits no longer than its timeout.
	start := time.Now()
	c.NoErr(coreIterate(c, 30*time.Millisecond), "Iterate(30ms) with nothing to do")
	elapsed := time.Since(start)
	c.True(elapsed < 5*time.Second, "Iterate(30ms) with nothing to do took %v", elapsed)

	// A timer due sooner than the timeout cuts the wait short.
	ran := false
	var at time.Time
	dc := c.Later(30*time.Millisecond, func() {
		ran = true
		at = c.Clock.Now()
	})
	due := dc.Time()
	start = time.Now()
	c.NoErr(coreIterate(c, 20*time.Second), "Iterate(20s) with a timer due in 30ms")
	elapsed = time.Since(start)
	c.True(elapsed < 10*time.Second, "Iterate(20s) took %v with a timer due in 30ms", elapsed)
	// The timer runs in the pass that finds it due. (Once it has run, a
	// pass waits its whole timeout: keep that short.)
	for !ran && time.Since(start) < 10*time.Second {
		c.NoErr(coreIterate(c, 10*time.Millisecond), "Iterate(10ms)")
	}
	c.True(ran, "the timer did not run within %v of Iterate calls", time.Since(start))
	c.True(!ran || !at.Before(due), "Iterate ran the timer at %v, before it was due at %v", at, due)
	if dc.Active() {
		_ = dc.Cancel()
	}
}

func coreIterateRefusedNested(c *C) {
	inIterate := errors.New("not called")
	inRun := inIterate
	c.Later(0, func() { inIterate = c.R.Iterate(0) })
	c.NoErr(coreIterate(c, 0), "Iterate(0)")
	c.ErrIs(inIterate, gyre.ErrAlreadyRunning, "Iterate from a timer run by Iterate")
	c.Later(0, func() {
		inRun = c.R.Iterate(0)
		c.NoErr(c.R.Stop(), "Stop")
	})
	c.NoErr(c.Run(), "Run")
	c.ErrIs(inRun, gyre.ErrAlreadyRunning, "Iterate from a timer run by Run")
}

func coreIterateRefusedStopped(c *C) {
	c.StopLater(0)
	c.NoErr(c.Run(), "Run")
	c.ErrIs(coreIterate(c, 0), gyre.ErrNotRestartable, "Iterate(0) after Stop")
	c.ErrIs(coreIterate(c, 10*time.Millisecond), gyre.ErrNotRestartable, "Iterate(10ms) after Stop")
}

func coreIterateRefusedNegative(c *C) {
	c.ErrIs(coreIterate(c, -1), gyre.ErrNegativeDelay, "Iterate(-1ns)")
	c.ErrIs(coreIterate(c, -time.Second), gyre.ErrNegativeDelay, "Iterate(-1s)")
}

func coreContextCancel(c *C) {
	var s coreSeq
	coreRecord(c, &s, gyre.Shutdown)
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("test: context cancelled")
	// Cancelled from another goroutine while the loop waits with nothing
	// to do.
	coreWhenRunning(c, func() {
		go cancel(cause)
	})
	err := c.RunContext(ctx)
	c.True(errors.Is(err, cause), "RunContext returned %v, want the context's cause %v", err, cause)
	c.Equal(s.String(), coreShutdownPhases, "shutdown triggers run")
	c.True(!c.R.Running(), "Running is true after RunContext returned")
	c.ErrIs(c.Run(), gyre.ErrNotRestartable, "Run after RunContext returned")
}

func coreContextOtherStop(c *C) {
	var s coreSeq
	coreRecord(c, &s, gyre.Shutdown)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	c.StopLater(10 * time.Millisecond)
	c.NoErr(c.RunContext(ctx), "RunContext stopped by Stop")
	c.Equal(s.String(), coreShutdownPhases, "shutdown triggers run")
	cancel(errors.New("test: late cancel"))
}

func coreContextDoneBeforeCheck(c *C, ctx context.Context, cause error) {
	var s coreSeq
	coreRecord(c, &s, gyre.Startup)
	coreRecord(c, &s, gyre.Shutdown)
	err := c.RunContext(ctx)
	c.True(errors.Is(err, cause), "RunContext returned %v, want the context's cause %v", err, cause)
	c.Equal(s.String(), "startup.before startup.during startup.after "+coreShutdownPhases, "triggers run")
	c.ErrIs(c.Run(), gyre.ErrNotRestartable, "Run after RunContext returned")
}

func coreContextDoneBefore(c *C) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("test: cancelled before RunContext")
	cancel(cause)
	coreContextDoneBeforeCheck(c, ctx, cause)
}

func coreContextDoneBeforeDeadline(c *C) {
	cause := errors.New("test: deadline passed before RunContext")
	ctx, cancel := context.WithDeadlineCause(context.Background(), time.Now().Add(-time.Second), cause)
	defer cancel()
	coreContextDoneBeforeCheck(c, ctx, cause)
}

// coreIdleWindow is how long the idle cases measure CPU time over.
const coreIdleWindow = 500 * time.Millisecond

// coreCPUWindow starts measuring the CPU time the process uses; the returned
// function ends the measure and returns the CPU time used and the real time
// that passed. Garbage left by earlier cases is collected first, outside the
// window.
func coreCPUWindow() func() (cpu, wall time.Duration) {
	runtime.GC()
	cpu0, t0 := cpuTime(), time.Now()
	return func() (time.Duration, time.Duration) {
		return cpuTime() - cpu0, time.Since(t0)
	}
}

// coreCheckIdle fails the case unless cpu is under 5% of wall.
func coreCheckIdle(c *C, what string, cpu, wall time.Duration) {
	c.Helper()
	limit := wall / 20
	c.Logf("%s: %v of CPU time over %v (limit %v)", what, cpu, wall, limit)
	c.True(cpu < limit, "%s: the process used %v of CPU time over %v, want under %v (5%%)", what, cpu, wall, limit)
}

func coreIdleBlocks(c *C) {
	requireCPUTime(c)
	var cpu, wall time.Duration
	measured := false
	coreWhenRunning(c, func() {
		end := coreCPUWindow()
		c.Later(coreIdleWindow, func() {
			cpu, wall = end()
			measured = true
			c.NoErr(c.R.Stop(), "Stop")
		})
	})
	c.NoErr(c.Run(), "Run")
	if !measured {
		c.Fatalf("the measuring timer did not run")
	}
	coreCheckIdle(c, "idle running reactor", cpu, wall)
}

func coreIdleStartupPending(c *C) {
	requireCPUTime(c)
	var s coreSeq
	var cpu, wall time.Duration
	measured := false
	_, err := c.R.AddSystemEventTrigger(gyre.Before, gyre.Startup, func() *deferred.Deferred {
		s.add("startup.before")
		d := deferred.New(nil)
		if c.Threads != nil {
			c.NoErr(c.Threads.CallFromThread(func() { s.add("queued") }), "CallFromThread")
		}
		c.Later(20*time.Millisecond, func() { s.add("timer") })
		end := coreCPUWindow()
		c.Later(coreIdleWindow, func() {
			cpu, wall = end()
			measured = true
			s.add("fire")
			c.NoErr(d.Callback(nil), "Callback")
		})
		return d
	})
	c.NoErr(err, "AddSystemEventTrigger")
	coreOn(c, gyre.During, gyre.Startup, func() { s.add("startup.during") })
	coreWhenRunning(c, func() { c.NoErr(c.R.Stop(), "Stop") })
	c.NoErr(c.Run(), "Run")
	want := "startup.before timer fire startup.during"
	if c.Threads != nil {
		want = "startup.before queued timer fire startup.during"
	}
	c.Equal(s.String(), want, "events (calls and timers are served while startup waits)")
	if !measured {
		c.Fatalf("the measuring timer did not run")
	}
	coreCheckIdle(c, "reactor waiting on a Before \"startup\" Deferred", cpu, wall)
}

func coreShutdownByHandNeverRun(c *C) {
	var s coreSeq
	_, err := c.R.AddSystemEventTrigger(gyre.Before, gyre.Shutdown, func() *deferred.Deferred {
		s.add("shutdown.before")
		d := deferred.New(nil)
		c.Later(20*time.Millisecond, func() {
			s.add("timer")
			c.NoErr(d.Callback(nil), "Callback")
		})
		return d
	})
	c.NoErr(err, "AddSystemEventTrigger")
	coreOn(c, gyre.During, gyre.Shutdown, func() { s.add("shutdown.during") })
	coreOn(c, gyre.After, gyre.Shutdown, func() { s.add("shutdown.after") })
	c.NoErr(c.guard(func() error { return c.R.FireSystemEvent(gyre.Shutdown) }),
		"FireSystemEvent(\"shutdown\") on a reactor that never ran")
	c.Equal(s.String(), "shutdown.before timer shutdown.during shutdown.after",
		"events when FireSystemEvent returned")
	c.True(!c.R.Running(), "Running is true after the shutdown")
	c.ErrIs(c.Run(), gyre.ErrNotRestartable, "Run after the shutdown")
	c.ErrIs(c.R.Stop(), gyre.ErrNotRunning, "Stop after the shutdown")
}

func coreShutdownByHandPool(c *C) {
	var s coreSeq
	var done atomic.Bool
	release := make(chan struct{})
	c.NoErr(c.Threads.CallInThread(func() {
		<-release
		done.Store(true)
	}), "CallInThread")
	coreOn(c, gyre.Before, gyre.Shutdown, func() {
		s.add("shutdown.before")
		close(release)
	})
	coreOn(c, gyre.During, gyre.Shutdown, func() { s.add("shutdown.during:job-done=%v", done.Load()) })
	coreOn(c, gyre.After, gyre.Shutdown, func() { s.add("shutdown.after") })
	c.NoErr(c.guard(func() error { return c.R.FireSystemEvent(gyre.Shutdown) }),
		"FireSystemEvent(\"shutdown\") on a reactor that never ran")
	c.Equal(s.String(), "shutdown.before shutdown.during:job-done=true shutdown.after",
		"events when FireSystemEvent returned")
	c.True(done.Load(), "the worker pool's job had not finished when FireSystemEvent returned")
	c.ErrIs(c.Threads.CallInThread(func() {}), gyre.ErrPoolStopped, "CallInThread after the shutdown")
	c.ErrIs(c.Run(), gyre.ErrNotRestartable, "Run after the shutdown")
}

func coreShutdownByHandCrashed(c *C) {
	var s coreSeq
	c.Later(0, func() { c.NoErr(c.R.Crash(), "Crash") })
	c.ErrIs(c.Run(), gyre.ErrCrashed, "Run")
	coreRecord(c, &s, gyre.Shutdown)
	c.NoErr(c.guard(func() error { return c.R.FireSystemEvent(gyre.Shutdown) }),
		"FireSystemEvent(\"shutdown\") on a crashed reactor")
	c.Equal(s.String(), coreShutdownPhases, "events when FireSystemEvent returned")
	c.True(!c.R.Running(), "Running is true after the shutdown")
	c.ErrIs(c.Run(), gyre.ErrNotRestartable, "Run after the shutdown")
}

func coreShutdownFireRunning(c *C) {
	var s coreSeq
	coreRecord(c, &s, gyre.Shutdown)
	c.Later(0, func() {
		c.NoErr(c.R.FireSystemEvent(gyre.Shutdown), "FireSystemEvent(\"shutdown\") on a running reactor")
		s.add("fired:running=%v", c.R.Running())
	})
	c.NoErr(c.Run(), "Run")
	c.Equal(s.String(), "fired:running=true "+coreShutdownPhases, "events (as for Stop)")
	c.ErrIs(c.Run(), gyre.ErrNotRestartable, "Run after the shutdown")
}
