package reactortest

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// Cases for the "Signals" rules of docs/SPEC.md.
//
// The cases send real signals to the test process. A signal that nothing
// catches has its default effect, which for SIGINT, SIGTERM, SIGUSR1 and
// SIGUSR2 ends the whole test binary; so every case that sends holds a
// channel of its own notified for each signal it sends (sigEnv.safety) from
// before the first send until it ends. With a channel notified, the runtime
// never applies the default effect, whatever the reactor does.
//
// Signals reach the reactor's loop in the order os/signal handed them over,
// so a case that must show that a signal did NOT stop the reactor sends it,
// then sends SIGUSR1 to a handler of its own, and from there stops the
// reactor itself on a later pass: had the first signal stopped it, shutdown
// would have begun before.

func init() {
	register(
		Case{ID: "signal.handle.deliver", Facet: FacetSignals, Needs: NeedSignals, Test: sigDeliver},
		Case{ID: "signal.handle.deliver#before-run", Facet: FacetSignals, Needs: NeedSignals, Test: sigDeliverBeforeRun},
		Case{ID: "signal.handle.repeat", Facet: FacetSignals, Needs: NeedSignals | NeedClock, Test: sigRepeat},
		Case{ID: "signal.handle.order", Facet: FacetSignals, Needs: NeedSignals, Test: sigOrder},
		Case{ID: "signal.handle.several", Facet: FacetSignals, Needs: NeedSignals, Test: sigSeveral},
		Case{ID: "signal.handle.panic", Facet: FacetSignals, Needs: NeedSignals, Test: sigPanic},
		Case{ID: "signal.cancel", Facet: FacetSignals, Needs: NeedSignals, Test: sigCancel},
		Case{ID: "signal.cancel#in-handler", Facet: FacetSignals, Needs: NeedSignals, Test: sigCancelInHandler},
		Case{ID: "signal.cancel#on-its-way", Facet: FacetSignals, Needs: NeedSignals, Test: sigCancelOnItsWay},
		Case{ID: "signal.errors", Facet: FacetSignals, Needs: NeedSignals, Test: sigErrors},
		Case{ID: "signal.stopped", Facet: FacetSignals, Needs: NeedSignals, Test: sigStopped},
		Case{ID: "signal.default.stop#sigint", Facet: FacetSignals, Needs: NeedSignals, Test: func(c *C) { sigDefaultStop(c, os.Interrupt) }},
		Case{ID: "signal.default.stop#sigterm", Facet: FacetSignals, Needs: NeedSignals, Test: func(c *C) { sigDefaultStop(c, syscall.SIGTERM) }},
		Case{ID: "signal.default.per-run", Facet: FacetSignals, Needs: NeedSignals | NeedClock, Test: sigDefaultPerRun},
		Case{ID: "signal.default.shutdown", Facet: FacetSignals, Needs: NeedSignals, Test: sigDefaultShutdown},
		Case{ID: "signal.default.replaced", Facet: FacetSignals, Needs: NeedSignals | NeedClock, Test: sigDefaultReplaced},
		Case{ID: "signal.default.replaced#other-signal", Facet: FacetSignals, Needs: NeedSignals, Test: sigDefaultReplacedOther},
		Case{ID: "signal.default.disabled", Facet: FacetSignals, Needs: NeedSignals | NeedClock, Test: sigDefaultDisabled,
			Options: []gyre.Option{gyre.WithoutSignalHandlers()}},
	)
}

var signalWatcherOnce sync.Once

// startSignalWatcher starts the goroutine os/signal keeps for the rest of the
// process once any channel is notified, so that the first case to run a
// reactor (which catches SIGINT and SIGTERM while it runs) is not charged
// with it by the leak check.
func startSignalWatcher() {
	signalWatcherOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt)
		signal.Stop(ch)
	})
}

// sigStopRecord is the message of the Debug record the default handler logs
// before it stops the reactor.
const sigStopRecord = "gyre: stopping on signal"

// sigEnv is the state of a case that sends signals.
type sigEnv struct {
	c      *C
	loopID uint64
	safety chan os.Signal
}

// sigStart skips the case where the process cannot signal itself, and
// otherwise holds a safety channel for sigs until end. Call it on the
// goroutine that will run the reactor.
func sigStart(c *C, sigs ...os.Signal) *sigEnv {
	c.Helper()
	if !sigCanSend {
		c.Skipf("the cases cannot send signals to the process on this OS")
	}
	e := &sigEnv{c: c, loopID: trGoID(), safety: make(chan os.Signal, 64)}
	signal.Notify(e.safety, sigs...)
	return e
}

// end gives up the safety channel. Every signal sent has been through
// os/signal by then (send waits for it), so none is left to take effect.
func (e *sigEnv) end() { signal.Stop(e.safety) }

// send sends sig to the process and waits until os/signal has handed it to
// the channels notified for it (the safety channel among them), so that
// signals sent one after the other reach the reactor in that order and are
// never merged.
func (e *sigEnv) send(sig os.Signal) {
	e.c.Helper()
	if err := sigRaise(sig); err != nil {
		e.c.Errorf("sending %v: %v", sig, err)
		return
	}
	deadline := time.After(e.c.Deadline)
	for {
		select {
		case got := <-e.safety:
			if got == sig {
				return
			}
		case <-deadline:
			e.c.Errorf("%v was sent but never arrived", sig)
			return
		}
	}
}

// onLoop fails the case unless called on the loop goroutine.
func (e *sigEnv) onLoop(what string) {
	if id := trGoID(); id != e.loopID {
		e.c.Errorf("%s ran on goroutine %d, not on the loop goroutine %d", what, id, e.loopID)
	}
}

// handle installs f for sigs and fails the case if HandleSignal fails.
func (e *sigEnv) handle(f func(os.Signal), sigs ...os.Signal) func() {
	e.c.Helper()
	cancel, err := e.c.Signals.HandleSignal(f, sigs...)
	if err != nil {
		e.c.Fatalf("HandleSignal(%v): %v", sigs, err)
	}
	return cancel
}

// stopRecords counts the default handler's Debug records so far.
func (e *sigEnv) stopRecords() []string {
	var out []string
	for _, r := range e.c.Logs() {
		if r.Message == sigStopRecord {
			out = append(out, r.Attrs["signal"])
		}
	}
	return out
}

// ownStop arranges to tell, in a Before "shutdown" trigger, whether the case
// stopped the reactor itself (with the function returned, which stops it on
// a later pass) or something else began the shutdown first.
func (e *sigEnv) ownStop(what string) (stop func()) {
	e.c.Helper()
	ours := false
	shutdowns := 0
	thrTrigger(e.c, gyre.Before, func() {
		shutdowns++
		if !ours {
			e.c.Errorf("the reactor began to shut down before the case stopped it: %s", what)
		}
	})
	return func() {
		e.c.Later(0, func() {
			ours = true
			e.c.NoErr(e.c.R.Stop(), "Stop")
		})
	}
}

// sigDeliver: a handler installed on a running reactor runs on the loop with
// the signal that arrived.
func sigDeliver(c *C) {
	e := sigStart(c, sigUser1)
	defer e.end()
	var got []string
	thrWhenRunning(c, func() {
		e.handle(func(s os.Signal) {
			e.onLoop("the signal handler")
			got = append(got, s.String())
			c.NoErr(c.R.Stop(), "Stop")
		}, sigUser1)
		e.send(sigUser1)
	})
	c.NoErr(c.Run(), "Run")
	c.Equal(got, []string{sigUser1.String()}, "signals the handler received")
}

// sigDeliverBeforeRun: a handler installed before Run hears a signal that
// arrived before Run, once the loop runs.
func sigDeliverBeforeRun(c *C) {
	e := sigStart(c, sigUser1)
	defer e.end()
	var got []string
	e.handle(func(s os.Signal) {
		e.onLoop("the signal handler")
		c.True(c.R.Running(), "the handler ran while the reactor was not running")
		got = append(got, s.String())
		c.NoErr(c.R.Stop(), "Stop")
	}, sigUser1)
	e.send(sigUser1)
	c.Equal(len(got), 0, "handler calls before Run")
	c.NoErr(c.Run(), "Run")
	c.Equal(got, []string{sigUser1.String()}, "signals the handler received")
}

// sigRepeat: the handler runs again for each arrival.
func sigRepeat(c *C) {
	e := sigStart(c, sigUser1)
	defer e.end()
	calls := 0
	e.handle(func(os.Signal) {
		calls++
		if calls < 3 {
			e.send(sigUser1)
			return
		}
		// A fourth call would be a delivery made up from nothing: give it
		// a pass to show itself before stopping.
		c.Later(0, func() { c.NoErr(c.R.Stop(), "Stop") })
	}, sigUser1)
	thrWhenRunning(c, func() { e.send(sigUser1) })
	c.NoErr(c.Run(), "Run")
	c.Equal(calls, 3, "handler calls for three signals sent one after the other")
}

// sigOrder: two handlers for one signal both run, in the order installed.
func sigOrder(c *C) {
	e := sigStart(c, sigUser1)
	defer e.end()
	var got []string
	for _, name := range []string{"first", "second", "third"} {
		e.handle(func(os.Signal) {
			got = append(got, name)
			if name == "third" {
				c.NoErr(c.R.Stop(), "Stop")
			}
		}, sigUser1)
	}
	thrWhenRunning(c, func() { e.send(sigUser1) })
	c.NoErr(c.Run(), "Run")
	c.Equal(got, []string{"first", "second", "third"}, "handlers run")
}

// sigSeveral: a handler for two signals hears each with its own value; a
// handler hears only the signals it asked for.
func sigSeveral(c *C) {
	e := sigStart(c, sigUser1, sigUser2)
	defer e.end()
	var got []string
	rec := func(name string) func(os.Signal) {
		return func(s os.Signal) { got = append(got, name+":"+s.String()) }
	}
	e.handle(rec("one"), sigUser1)
	e.handle(rec("both"), sigUser1, sigUser2)
	e.handle(func(s os.Signal) {
		rec("two")(s)
		c.NoErr(c.R.Stop(), "Stop")
	}, sigUser2)
	thrWhenRunning(c, func() {
		e.send(sigUser1)
		e.send(sigUser2)
	})
	c.NoErr(c.Run(), "Run")
	u1, u2 := sigUser1.String(), sigUser2.String()
	c.Equal(got, []string{"one:" + u1, "both:" + u1, "both:" + u2, "two:" + u2}, "deliveries")
}

// sigPanic: a handler that panics is logged; the next handler still runs and
// the reactor carries on.
func sigPanic(c *C) {
	e := sigStart(c, sigUser1)
	defer e.end()
	after := false
	e.handle(func(os.Signal) { panic("test: handler panics") }, sigUser1)
	e.handle(func(os.Signal) {
		after = true
		c.NoErr(c.R.Stop(), "Stop")
	}, sigUser1)
	thrWhenRunning(c, func() { e.send(sigUser1) })
	c.NoErr(c.Run(), "Run")
	c.True(after, "the handler after the one that panicked did not run")
	logged := false
	for _, r := range c.Logs() {
		logged = logged || (r.Level >= 8 && strings.Contains(fmt.Sprint(r.Attrs), "test: handler panics"))
	}
	c.True(logged, "the panic was not logged as an error: %v", c.Logs())
}

// sigCancel: a cancelled handler is not called; cancel is idempotent; the
// other handler for the same signal still runs.
func sigCancel(c *C) {
	e := sigStart(c, sigUser1)
	defer e.end()
	cancelled := 0
	cancel := e.handle(func(os.Signal) { cancelled++ }, sigUser1)
	kept := 0
	e.handle(func(os.Signal) {
		kept++
		c.NoErr(c.R.Stop(), "Stop")
	}, sigUser1)
	cancel()
	cancel()
	thrWhenRunning(c, func() { e.send(sigUser1) })
	c.NoErr(c.Run(), "Run")
	c.Equal(cancelled, 0, "calls of the cancelled handler")
	c.Equal(kept, 1, "calls of the other handler")
	cancel()
}

// sigCancelInHandler: a handler cancels a later one for the same delivery;
// the later one does not run, now or for the next signal.
func sigCancelInHandler(c *C) {
	e := sigStart(c, sigUser1)
	defer e.end()
	var got []string
	var cancelSecond func()
	first := 0
	e.handle(func(os.Signal) {
		first++
		got = append(got, "first")
		cancelSecond()
		if first == 1 {
			e.send(sigUser1)
			return
		}
		c.NoErr(c.R.Stop(), "Stop")
	}, sigUser1)
	cancelSecond = e.handle(func(os.Signal) { got = append(got, "second") }, sigUser1)
	thrWhenRunning(c, func() { e.send(sigUser1) })
	c.NoErr(c.Run(), "Run")
	c.Equal(got, []string{"first", "first"}, "handlers run")
}

// sigCancelOnItsWay: a signal that has arrived but not yet been delivered
// when its handler is cancelled does not reach that handler.
func sigCancelOnItsWay(c *C) {
	e := sigStart(c, sigUser1)
	defer e.end()
	cancelled := 0
	cancel := e.handle(func(os.Signal) { cancelled++ }, sigUser1)
	e.handle(func(os.Signal) { c.NoErr(c.R.Stop(), "Stop") }, sigUser1)
	thrWhenRunning(c, func() {
		e.send(sigUser1) // delivered on a later callback at the earliest
		cancel()
	})
	c.NoErr(c.Run(), "Run")
	c.Equal(cancelled, 0, "calls of the handler cancelled while its signal was on its way")
}

// sigErrors: bad arguments are refused with a clear error and install
// nothing.
func sigErrors(c *C) {
	f := func(os.Signal) { c.Errorf("a refused handler ran") }
	check := func(what string, cancel func(), err, want error) {
		c.Helper()
		c.ErrIs(err, want, what)
		c.True(cancel == nil, "%s returned a cancel function with its error", what)
	}
	cancel, err := c.Signals.HandleSignal(nil, os.Interrupt)
	check("HandleSignal(nil, SIGINT)", cancel, err, gyre.ErrNilFunc)
	cancel, err = c.Signals.HandleSignal(f)
	check("HandleSignal(f) with no signal", cancel, err, gyre.ErrInvalidSignal)
	cancel, err = c.Signals.HandleSignal(f, os.Interrupt, nil)
	check("HandleSignal(f, SIGINT, nil)", cancel, err, gyre.ErrInvalidSignal)
	cancel, err = c.Signals.HandleSignal(f, os.Kill)
	check("HandleSignal(f, SIGKILL)", cancel, err, gyre.ErrInvalidSignal)
	if err != nil && !strings.Contains(err.Error(), os.Kill.String()) {
		c.Errorf("the error %q does not name the signal %v", err, os.Kill)
	}
}

// sigStopped: once the reactor has stopped, HandleSignal returns ErrStopped
// and the handlers installed before are gone (their cancel does nothing).
func sigStopped(c *C) {
	e := sigStart(c, sigUser1)
	defer e.end()
	calls := 0
	cancel := e.handle(func(os.Signal) { calls++ }, sigUser1)
	thrWhenRunning(c, func() { c.NoErr(c.R.Stop(), "Stop") })
	c.NoErr(c.Run(), "Run")
	again, err := c.Signals.HandleSignal(func(os.Signal) { calls++ }, sigUser1)
	c.ErrIs(err, gyre.ErrStopped, "HandleSignal after the reactor stopped")
	c.True(again == nil, "HandleSignal after the reactor stopped returned a cancel function")
	cancel()
	c.Equal(calls, 0, "handler calls")
}

// sigDefaultStop: while Run runs, SIGINT or SIGTERM stops the reactor
// through a full shutdown, and the Debug record names the signal.
func sigDefaultStop(c *C, sig os.Signal) {
	e := sigStart(c, sig)
	defer e.end()
	var seq []string
	for _, p := range corePhases {
		thrTrigger(c, p, func() { seq = append(seq, p.String()) })
	}
	thrWhenRunning(c, func() { e.send(sig) })
	c.NoErr(c.Run(), "Run")
	c.Equal(seq, []string{gyre.Before.String(), gyre.During.String(), gyre.After.String()}, "shutdown phases")
	c.Equal(e.stopRecords(), []string{sig.String()}, "Debug records "+sigStopRecord)
}

// sigDefaultPerRun: the default handler belongs to Run: a SIGINT that
// arrives after a Run has returned (here through Crash) is not the
// reactor's, and the next Run stops on SIGINT again.
func sigDefaultPerRun(c *C) {
	e := sigStart(c, os.Interrupt, sigUser1)
	defer e.end()
	marked := false
	shutdowns := 0
	thrTrigger(c, gyre.Before, func() {
		shutdowns++
		c.True(marked, "the reactor began to shut down before the case sent SIGINT during the second Run: the SIGINT sent between the Runs stopped it")
	})
	e.handle(func(os.Signal) {
		// Second Run: the SIGINT sent before this SIGUSR1 has been
		// delivered by now if it ever will be; had it stopped the
		// reactor, the shutdown would begin at the end of this pass,
		// before the timer.
		c.Later(0, func() {
			marked = true
			e.send(os.Interrupt)
		})
	}, sigUser1)
	thrWhenRunning(c, func() { c.NoErr(c.R.Crash(), "Crash") })
	c.ErrIs(c.Run(), gyre.ErrCrashed, "first Run")
	e.send(os.Interrupt)
	e.send(sigUser1)
	c.NoErr(c.Run(), "second Run")
	c.Equal(shutdowns, 1, "shutdowns")
	c.Equal(e.stopRecords(), []string{os.Interrupt.String()}, "Debug records "+sigStopRecord)
}

// sigDefaultShutdown: a second SIGINT, and a SIGTERM, arriving while the
// shutdown is under way reach the default handler and change nothing.
func sigDefaultShutdown(c *C) {
	e := sigStart(c, os.Interrupt, syscall.SIGTERM, sigUser1)
	defer e.end()
	var seq []string
	hold := deferred.New(nil)
	released := false
	befores := 0
	_, err := c.R.AddSystemEventTrigger(gyre.Before, gyre.Shutdown, func() *deferred.Deferred {
		befores++
		seq = append(seq, "before")
		e.send(os.Interrupt)
		e.send(syscall.SIGTERM)
		e.send(sigUser1) // delivered after both: then the shutdown may go on
		return hold
	})
	c.NoErr(err, "AddSystemEventTrigger")
	thrTrigger(c, gyre.During, func() { seq = append(seq, "during") })
	thrTrigger(c, gyre.After, func() { seq = append(seq, "after") })
	e.handle(func(os.Signal) {
		if befores == 0 || released {
			c.Errorf("SIGUSR1 delivered outside the shutdown")
			return
		}
		released = true
		seq = append(seq, "signals delivered")
		hold.Callback(nil)
	}, sigUser1)
	thrWhenRunning(c, func() { e.send(os.Interrupt) })
	c.NoErr(c.Run(), "Run")
	c.Equal(seq, []string{"before", "signals delivered", "during", "after"}, "shutdown")
	c.Equal(e.stopRecords(), []string{os.Interrupt.String(), os.Interrupt.String(), syscall.SIGTERM.String()},
		"Debug records "+sigStopRecord)
}

// sigDefaultReplaced: a handler for SIGINT replaces the default stop while it
// is installed; once it is cancelled, SIGINT stops the reactor again.
func sigDefaultReplaced(c *C) {
	e := sigStart(c, os.Interrupt)
	defer e.end()
	stage := 0
	thrTrigger(c, gyre.Before, func() {
		c.Equal(stage, 2, "stage at which the shutdown began (1: with the user's SIGINT handler installed)")
	})
	var cancel func()
	calls := 0
	cancel = e.handle(func(os.Signal) {
		calls++
		stage = 1
		// Had the default handler stopped the reactor too, the shutdown
		// would begin at the end of this pass, before the timer.
		c.Later(0, func() {
			stage = 2
			cancel()
			e.send(os.Interrupt)
		})
	}, os.Interrupt)
	thrWhenRunning(c, func() { e.send(os.Interrupt) })
	c.NoErr(c.Run(), "Run")
	c.Equal(calls, 1, "calls of the user's SIGINT handler")
	c.Equal(e.stopRecords(), []string{os.Interrupt.String()}, "Debug records "+sigStopRecord)
}

// sigDefaultReplacedOther: a handler for SIGINT leaves the default stop on
// SIGTERM in place.
func sigDefaultReplacedOther(c *C) {
	e := sigStart(c, os.Interrupt, syscall.SIGTERM)
	defer e.end()
	calls := 0
	e.handle(func(os.Signal) { calls++ }, os.Interrupt)
	thrWhenRunning(c, func() { e.send(syscall.SIGTERM) })
	c.NoErr(c.Run(), "Run")
	c.Equal(calls, 0, "calls of the SIGINT handler for a SIGTERM")
	c.Equal(e.stopRecords(), []string{syscall.SIGTERM.String()}, "Debug records "+sigStopRecord)
}

// sigDefaultDisabled: with WithoutSignalHandlers, Run does not catch SIGINT
// or SIGTERM.
func sigDefaultDisabled(c *C) {
	e := sigStart(c, os.Interrupt, syscall.SIGTERM, sigUser1)
	defer e.end()
	stop := e.ownStop("SIGINT or SIGTERM stopped a reactor made WithoutSignalHandlers")
	e.handle(func(os.Signal) { stop() }, sigUser1)
	thrWhenRunning(c, func() {
		e.send(os.Interrupt)
		e.send(syscall.SIGTERM)
		e.send(sigUser1)
	})
	c.NoErr(c.Run(), "Run")
	c.Equal(e.stopRecords(), []string(nil), "Debug records "+sigStopRecord)
}
