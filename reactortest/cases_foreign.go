package reactortest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
	"github.com/gyre-go/gyre/interleave"
)

func init() {
	fg := func(id string, needs Need, f func(*C)) Case {
		return Case{ID: id, Facet: FacetForeign, Needs: NeedClock | NeedThreads | needs, Test: f}
	}
	register(
		fg("foreign.start.before-loop", 0, fgnBeforeLoop),
		fg("foreign.dispatch.goroutine", NeedTCP, fgnGoroutine),
		fg("foreign.waker.duplicate", 0, func(c *C) { fgnWakers(c, func(f *fgnLoop) { f.dup = true }) }),
		fg("foreign.waker.lost", 0, func(c *C) { fgnWakers(c, func(f *fgnLoop) { f.drop = true }) }),
		fg("foreign.waker.late", 0, func(c *C) { fgnWakers(c, func(f *fgnLoop) { f.late = true }) }),
		fg("foreign.between-turns#timer", 0, fgnBetweenTimer),
		fg("foreign.between-turns#stop", 0, fgnBetweenStop),
		fg("foreign.between-turns#write", NeedTCP, fgnBetweenWrite),
		fg("foreign.shutdown.gyre-first", NeedTCP, fgnGyreFirst),
		fg("foreign.shutdown.foreign-first", NeedTCP, func(c *C) { fgnForeignFirst(c, false) }),
		fg("foreign.shutdown.foreign-first#other-goroutine", NeedTCP, func(c *C) { fgnForeignFirst(c, true) }),
		fg("foreign.finish.deadline", NeedTCP, fgnFinishDeadline),
		fg("foreign.finish.after-stop", 0, fgnFinishAfterStop),
		fg("foreign.start.errors", 0, fgnStartErrors),
		fg("foreign.crash", 0, fgnCrash),
	)
}

// fgnLoop is the foreign loop of these cases: a queue of funcs that the
// case's goroutine runs, with wakers that may duplicate, drop or delay the
// requests gyre makes.
type fgnLoop struct {
	g     uint64 // the goroutine that runs the loop
	mu    sync.Mutex
	fs    []func()
	ready chan struct{}
	quit  bool // set by a func run in the loop: return after it

	dup, drop, late bool
	gate            chan struct{} // if set, the waker blocks until it is closed
	requests        atomic.Int64
	stale           atomic.Pointer[func()]
	pending         sync.WaitGroup // late deliveries under way
}

func newFgn() *fgnLoop {
	return &fgnLoop{g: netGoID(), ready: make(chan struct{}, 1)}
}

// post queues f for the loop; any goroutine.
func (f *fgnLoop) post(fn func()) {
	f.mu.Lock()
	f.fs = append(f.fs, fn)
	f.mu.Unlock()
	select {
	case f.ready <- struct{}{}:
	default:
	}
}

// waker is the interleave.Waker given to gyre.
func (f *fgnLoop) waker(fn func()) {
	n := f.requests.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	switch {
	case f.drop && (n <= 3 || n%2 == 0):
		return // lost
	case f.late:
		f.pending.Add(1)
		go func() {
			defer f.pending.Done()
			time.Sleep(time.Duration(n%4) * time.Millisecond)
			f.post(fn)
		}()
		return
	case f.dup:
		f.post(fn)
		if old := f.stale.Swap(&fn); old != nil {
			f.post(*old) // a stale one from an earlier request
		}
	}
	f.post(fn)
}

// run runs the loop on the calling goroutine until a func sets quit, or the
// case's deadline passes (a failure).
func (f *fgnLoop) run(c *C) bool {
	deadline := time.NewTimer(c.Deadline)
	defer deadline.Stop()
	for !f.quit {
		select {
		case <-f.ready:
		case <-deadline.C:
			c.Errorf("the foreign loop was not ended within %v", c.Deadline)
			return false
		}
		f.mu.Lock()
		fs := f.fs
		f.fs = nil
		f.mu.Unlock()
		for _, fn := range fs {
			fn()
			if f.quit {
				return true
			}
		}
	}
	return true
}

// onLoop fails the case if it is not called on the foreign loop's goroutine.
func (f *fgnLoop) onLoop(c *C, what string) {
	if g := netGoID(); g != f.g {
		c.Errorf("%s ran on goroutine %d, not on the foreign loop's (%d)", what, g, f.g)
	}
}

// fgnStart starts interleaving c.R with f, skipping the case for a reactor
// package interleave cannot drive.
func fgnStart(c *C, f *fgnLoop) *interleave.Interleaver {
	c.Helper()
	il, err := interleave.Start(c.R, f.waker)
	if errors.Is(err, interleave.ErrUnsupported) {
		c.Skipf("backend %s cannot be driven by package interleave: %v", c.Backend, err)
	}
	if err != nil {
		c.Fatalf("interleave.Start: %v", err)
	}
	return il
}

// fgnDone waits for il to finish after the foreign loop has returned: by
// itself if wantDone, otherwise it makes sure with Finish, so that a failed
// case leaves nothing running.
func fgnDone(c *C, f *fgnLoop, il *interleave.Interleaver, wantDone bool) {
	c.Helper()
	select {
	case <-il.Done():
	case <-time.After(c.Deadline):
		if wantDone {
			c.Errorf("Done was not closed within %v of the foreign loop's end", c.Deadline)
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.Deadline)
		defer cancel()
		_ = il.Finish(ctx)
	}
	f.pending.Wait()
}

// fgnTrigger adds a trigger that logs name in phase of event.
func fgnTrigger(c *C, phase gyre.Phase, event string, f func() *deferred.Deferred) {
	c.Helper()
	_, err := c.R.AddSystemEventTrigger(phase, event, f)
	c.NoErr(err, "AddSystemEventTrigger")
}

// fgnBeforeLoop: Start before the foreign loop runs, with a waker that
// blocks until it does.
func fgnBeforeLoop(c *C) {
	f := newFgn()
	f.gate = make(chan struct{})
	var log []string
	add := func(s string) func() *deferred.Deferred {
		return func() *deferred.Deferred {
			f.onLoop(c, s)
			log = append(log, s)
			return nil
		}
	}
	fgnTrigger(c, gyre.Before, gyre.Startup, add("before-startup"))
	fgnTrigger(c, gyre.During, gyre.Startup, add("during-startup"))
	_, err := c.R.CallWhenRunning(func() {
		add("running")()
		c.Later(10*time.Millisecond, func() {
			add("timer")()
			c.NoErr(c.R.Stop(), "Stop")
		})
	})
	c.NoErr(err, "CallWhenRunning")
	fgnTrigger(c, gyre.After, gyre.Shutdown, func() *deferred.Deferred {
		add("after-shutdown")()
		f.quit = true
		return nil
	})
	il := fgnStart(c, f)
	c.True(len(log) >= 2 && log[0] == "before-startup" && log[1] == "during-startup",
		"when Start returned the startup triggers had not run: %v", log)
	c.True(c.R.Running(), "Running() is false after Start")
	c.Equal(f.requests.Load() <= 1, true, "at most the helper's first wake-up is under way")
	close(f.gate) // the foreign loop starts now
	f.run(c)
	fgnDone(c, f, il, true)
	c.NoErr(il.Err(), "Err")
	c.Equal(strings.Join(log, " "), "before-startup during-startup running timer after-shutdown", "callbacks")
}

// fgnGoroutine: every kind of callback runs on the foreign loop, never at
// the same time as the foreign loop's own work.
func fgnGoroutine(c *C) {
	f := newFgn()
	shared := 0 // touched by the foreign loop's own funcs and gyre's callbacks, without a lock
	seen := map[string]int{}
	note := func(what string) {
		f.onLoop(c, what)
		shared++
		seen[what]++
	}
	var uiStop atomic.Bool
	var uiWG sync.WaitGroup
	uiWG.Add(1)
	go func() { // the foreign loop's own events
		defer uiWG.Done()
		for !uiStop.Load() {
			f.post(func() { shared++ })
			time.Sleep(time.Millisecond)
		}
	}()
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	cli := &netClient{}
	fgnTrigger(c, gyre.Before, gyre.Shutdown, func() *deferred.Deferred { note("trigger"); return nil })
	_, err := c.R.CallWhenRunning(func() {
		note("running")
		c.Later(time.Millisecond, func() { note("timer") })
		go func() { _ = c.Threads.CallFromThread(func() { note("call-from-thread") }) }()
		c.Threads.DeferToThread(func() (any, error) { return 1, nil }).AddCallback(func(v any) any {
			note("deferred")
			return v
		})
		netConnect(c, netLoopback(c, port), cli)
	})
	c.NoErr(err, "CallWhenRunning")
	netUntil(c, "the client connected and both sides exchanged data", func() bool {
		return len(srv.protos) == 1 && len(cli.protos) == 1
	}, func() {
		note("connected")
		cli.proto(0).write(c, "ping")
	})
	netUntil(c, "the server got ping", func() bool { return len(srv.protos) == 1 && string(srv.proto(0).data) == "ping" }, func() {
		note("data")
		c.NoErr(c.R.Stop(), "Stop")
	})
	fgnTrigger(c, gyre.After, gyre.Shutdown, func() *deferred.Deferred { note("after"); f.quit = true; return nil })
	il := fgnStart(c, f)
	f.run(c)
	uiStop.Store(true)
	uiWG.Wait()
	fgnDone(c, f, il, true)
	for _, k := range []string{"running", "timer", "call-from-thread", "deferred", "connected", "data", "trigger", "after"} {
		c.True(seen[k] > 0, "no %s callback ran (saw %v)", k, seen)
	}
	c.True(shared > len(seen), "the foreign loop's own work did not run")
}

// fgnWakers: with a waker that duplicates, drops or delays its requests,
// every callback still runs once, in order, and the shutdown completes.
func fgnWakers(c *C, set func(*fgnLoop)) {
	f := newFgn()
	set(f)
	var got []int
	const n = 40
	_, err := c.R.CallWhenRunning(func() {
		for i := 0; i < n; i++ {
			c.Later(time.Duration(i%8)*time.Millisecond, func() { got = append(got, i) })
		}
		go func() {
			for i := n; i < 2*n; i++ {
				_ = c.Threads.CallFromThread(func() { got = append(got, i) })
			}
		}()
	})
	c.NoErr(err, "CallWhenRunning")
	netUntil(c, "every call ran", func() bool { return len(got) >= 2*n }, func() { c.NoErr(c.R.Stop(), "Stop") })
	fgnTrigger(c, gyre.After, gyre.Shutdown, func() *deferred.Deferred { f.quit = true; return nil })
	il := fgnStart(c, f)
	f.run(c)
	fgnDone(c, f, il, true)
	c.Equal(len(got), 2*n, "calls run")
	count := map[int]int{}
	lastTimer, lastCFT := -1, n-1
	for _, v := range got {
		count[v]++
		if v < n {
			// Timers with equal delays run in the order scheduled.
			if v%8 == lastTimer%8 && lastTimer > v {
				c.Errorf("timer %d ran after timer %d", v, lastTimer)
			}
			lastTimer = v
		} else {
			c.True(v > lastCFT, "call %d ran after call %d", v, lastCFT)
			lastCFT = v
		}
	}
	for v, k := range count {
		c.True(k == 1, "call %d ran %d times", v, k)
	}
}

// fgnBetweenTimer: CallLater from the foreign loop's own code while gyre
// waits with nothing scheduled takes effect.
func fgnBetweenTimer(c *C) {
	f := newFgn()
	fired := false
	_, err := c.R.CallWhenRunning(func() {
		// Post from elsewhere, so that the call comes between turns.
		go func() {
			f.post(func() {
				_, err := c.Clock.CallLater(5*time.Millisecond, func() {
					f.onLoop(c, "timer")
					fired = true
					c.NoErr(c.R.Stop(), "Stop")
				})
				c.NoErr(err, "CallLater between turns")
			})
		}()
	})
	c.NoErr(err, "CallWhenRunning")
	fgnTrigger(c, gyre.After, gyre.Shutdown, func() *deferred.Deferred { f.quit = true; return nil })
	il := fgnStart(c, f)
	f.run(c)
	fgnDone(c, f, il, true)
	c.True(fired, "the timer scheduled between turns did not fire")
}

// fgnBetweenStop: Stop from the foreign loop's own code.
func fgnBetweenStop(c *C) {
	f := newFgn()
	_, err := c.R.CallWhenRunning(func() {
		go f.post(func() { c.NoErr(c.R.Stop(), "Stop between turns") })
	})
	c.NoErr(err, "CallWhenRunning")
	ranAfter := false
	fgnTrigger(c, gyre.After, gyre.Shutdown, func() *deferred.Deferred {
		f.onLoop(c, "after shutdown")
		ranAfter = true
		f.quit = true
		return nil
	})
	il := fgnStart(c, f)
	f.run(c)
	fgnDone(c, f, il, true)
	c.True(ranAfter, "the shutdown did not complete")
	c.NoErr(il.Err(), "Err")
}

// fgnBetweenWrite: a large Write from the foreign loop's own code, which
// must wait for the socket to drain, arrives whole.
func fgnBetweenWrite(c *C) {
	f := newFgn()
	const size = 4 << 20
	got := make(chan int, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	c.NoErr(err, "net.Listen")
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer conn.Close()
		n, _ := io.Copy(io.Discard, conn)
		got <- int(n)
	}()
	cli := &netClient{}
	_, err = c.R.CallWhenRunning(func() { netConnect(c, ln.Addr().String(), cli) })
	c.NoErr(err, "CallWhenRunning")
	netUntil(c, "the client connected", func() bool { return len(cli.protos) == 1 }, func() {
		go f.post(func() {
			t := cli.proto(0).t
			c.NoErr(t.Write(make([]byte, size)), "Write between turns")
			t.LoseConnection()
		})
	})
	netUntil(c, "the client's connection was lost", func() bool { return len(cli.protos) == 1 && cli.proto(0).lost > 0 }, func() {
		c.NoErr(c.R.Stop(), "Stop")
	})
	fgnTrigger(c, gyre.After, gyre.Shutdown, func() *deferred.Deferred { f.quit = true; return nil })
	il := fgnStart(c, f)
	f.run(c)
	fgnDone(c, f, il, true)
	select {
	case n := <-got:
		c.Equal(n, size, "bytes the peer received")
	case <-time.After(c.Deadline):
		c.Errorf("the peer did not see the end of the data")
	}
}

// fgnShutdownScene sets up what a shutdown has to deal with: a Before
// trigger whose Deferred fires from a timer, a connection to close, pool
// work to drain. Each step is logged; where reports where it ran.
func fgnShutdownScene(c *C, where func(string)) (log *[]string, srv *netServer) {
	var l []string
	log = &l
	add := func(s string) {
		where(s)
		l = append(l, s)
	}
	srv = &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	cli := &netClient{}
	fgnTrigger(c, gyre.Before, gyre.Shutdown, func() *deferred.Deferred {
		add("before")
		d := deferred.New(nil)
		c.Later(20*time.Millisecond, func() { add("deferred"); d.Callback(nil) })
		c.NoErr(c.Threads.CallInThread(func() { time.Sleep(10 * time.Millisecond) }), "CallInThread")
		return d
	})
	fgnTrigger(c, gyre.During, gyre.Shutdown, func() *deferred.Deferred {
		add("during")
		if len(srv.protos) == 1 && srv.proto(0).lost > 0 {
			add("conn-closed")
		}
		return nil
	})
	_, err := c.R.CallWhenRunning(func() { netConnect(c, netLoopback(c, port), cli) })
	c.NoErr(err, "CallWhenRunning")
	return log, srv
}

// fgnGyreFirst: Stop first; the shutdown runs through the foreign loop and
// an After trigger ends it.
func fgnGyreFirst(c *C) {
	f := newFgn()
	log, srv := fgnShutdownScene(c, func(s string) { f.onLoop(c, s) })
	netUntil(c, "a connection was accepted", func() bool { return len(srv.protos) == 1 }, func() {
		c.NoErr(c.R.Stop(), "Stop")
	})
	fgnTrigger(c, gyre.After, gyre.Shutdown, func() *deferred.Deferred {
		*log = append(*log, "after")
		f.quit = true
		return nil
	})
	il := fgnStart(c, f)
	f.run(c)
	fgnDone(c, f, il, true)
	c.NoErr(il.Err(), "Err")
	c.Equal(strings.Join(*log, " "), "before deferred during conn-closed after", "shutdown steps")
	c.ErrIs(c.R.Run(), gyre.ErrNotRestartable, "Run after the interleaved shutdown")
}

// fgnForeignFirst: the foreign loop ends while gyre runs; Finish runs the
// whole shutdown on its own goroutine.
func fgnForeignFirst(c *C, elsewhere bool) {
	f := newFgn()
	var finishG atomic.Uint64
	log, srv := fgnShutdownScene(c, func(s string) {
		if g := netGoID(); g != finishG.Load() {
			c.Errorf("%s ran on goroutine %d, not on Finish's (%d)", s, g, finishG.Load())
		}
	})
	netUntil(c, "a connection was accepted", func() bool { return len(srv.protos) == 1 }, func() {
		f.quit = true // the foreign loop ends, gyre still running
	})
	il := fgnStart(c, f)
	f.run(c)
	c.True(c.R.Running(), "the reactor stopped with the foreign loop")
	ctx, cancel := context.WithTimeout(context.Background(), c.Deadline)
	defer cancel()
	finish := func() error {
		finishG.Store(netGoID())
		return il.Finish(ctx)
	}
	var err error
	if elsewhere {
		done := make(chan error, 1)
		go func() { done <- finish() }()
		err = <-done
	} else {
		err = finish()
	}
	c.NoErr(err, "Finish")
	select {
	case <-il.Done():
	default:
		c.Errorf("Done is not closed when Finish returns")
	}
	c.Equal(strings.Join(*log, " "), "before deferred during conn-closed", "shutdown steps")
	c.ErrIs(c.R.Run(), gyre.ErrNotRestartable, "Run after Finish")
	f.pending.Wait()
}

// fgnFinishDeadline: a shutdown that cannot complete is abandoned when
// Finish's context ends.
func fgnFinishDeadline(c *C) {
	f := newFgn()
	srv := &netServer{}
	port := netListen(c, "127.0.0.1:0", srv)
	cli := &netClient{}
	fgnTrigger(c, gyre.Before, gyre.Shutdown, func() *deferred.Deferred { return deferred.New(nil) })
	_, err := c.R.CallWhenRunning(func() { netConnect(c, netLoopback(c, port), cli) })
	c.NoErr(err, "CallWhenRunning")
	netUntil(c, "a connection was accepted", func() bool { return len(srv.protos) == 1 }, func() { f.quit = true })
	il := fgnStart(c, f)
	f.run(c)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = il.Finish(ctx)
	c.ErrIs(err, context.DeadlineExceeded, "Finish with a shutdown that never completes")
	c.True(time.Since(start) < c.Deadline, "Finish took %v", time.Since(start))
	select {
	case <-il.Done():
	default:
		c.Errorf("Done is not closed when Finish returns")
	}
	c.ErrIs(c.R.Run(), gyre.ErrNotRestartable, "Run after an abandoned shutdown")
	c.True(len(srv.protos) == 1 && srv.proto(0).lost > 0, "the server's connection was not closed")
	f.pending.Wait()
}

// fgnFinishAfterStop: Finish after gyre has stopped, twice; Finish inside a
// turn.
func fgnFinishAfterStop(c *C) {
	f := newFgn()
	var il *interleave.Interleaver
	_, err := c.R.CallWhenRunning(func() {
		c.ErrIs(il.Finish(context.Background()), interleave.ErrInTurn, "Finish inside a turn")
		c.NoErr(c.R.Stop(), "Stop")
	})
	c.NoErr(err, "CallWhenRunning")
	fgnTrigger(c, gyre.After, gyre.Shutdown, func() *deferred.Deferred { f.quit = true; return nil })
	// CallWhenRunning's callback runs in Start, before il is set: run it
	// in a turn instead.
	il = fgnStartDeferred(c, f)
	f.run(c)
	fgnDone(c, f, il, true)
	for i := 0; i < 2; i++ {
		c.NoErr(il.Finish(context.Background()), fmt.Sprintf("Finish #%d after the reactor stopped", i+1))
	}
}

// fgnStartDeferred starts interleaving with "startup" held back by a Before
// trigger until the first turn, so that CallWhenRunning callbacks run in a
// turn rather than inside Start.
func fgnStartDeferred(c *C, f *fgnLoop) *interleave.Interleaver {
	c.Helper()
	d := deferred.New(nil)
	fgnTrigger(c, gyre.Before, gyre.Startup, func() *deferred.Deferred {
		c.Later(0, func() { d.Callback(nil) })
		return d
	})
	return fgnStart(c, f)
}

// fgnStartErrors: Start's errors, and Run and Iterate while interleaved.
func fgnStartErrors(c *C) {
	_, err := interleave.Start(c.R, nil)
	if errors.Is(err, interleave.ErrUnsupported) {
		c.Skipf("backend %s cannot be driven by package interleave: %v", c.Backend, err)
	}
	c.ErrIs(err, gyre.ErrNilFunc, "Start with a nil waker")
	f := newFgn()
	_, err = c.R.CallWhenRunning(func() {
		_, err := interleave.Start(c.R, f.waker)
		c.ErrIs(err, gyre.ErrAlreadyRunning, "Start while interleaved")
		c.ErrIs(c.R.Run(), gyre.ErrAlreadyRunning, "Run while interleaved")
		c.ErrIs(c.R.Iterate(0), gyre.ErrAlreadyRunning, "Iterate while interleaved")
		c.NoErr(c.R.Stop(), "Stop")
	})
	c.NoErr(err, "CallWhenRunning")
	fgnTrigger(c, gyre.After, gyre.Shutdown, func() *deferred.Deferred { f.quit = true; return nil })
	il := fgnStartDeferred(c, f)
	f.run(c)
	fgnDone(c, f, il, true)
	_, err = interleave.Start(c.R, f.waker)
	c.ErrIs(err, gyre.ErrNotRestartable, "Start on a stopped reactor")
}

// fgnCrash: Crash ends the interleaving; the reactor then runs again.
func fgnCrash(c *C) {
	f := newFgn()
	ticks := 0
	_, err := c.R.CallWhenRunning(func() {
		c.Later(time.Millisecond, func() {
			ticks++
			c.NoErr(c.R.Crash(), "Crash")
			f.quit = true // no turn is needed after this one
			c.Later(time.Millisecond, func() { ticks++; c.NoErr(c.R.Stop(), "Stop") })
		})
	})
	c.NoErr(err, "CallWhenRunning")
	il := fgnStart(c, f)
	f.run(c)
	fgnDone(c, f, il, true)
	c.ErrIs(il.Err(), gyre.ErrCrashed, "Err after Crash")
	c.Equal(ticks, 1, "timer callbacks run before Run")
	c.NoErr(c.Run(), "Run after the interleaving crashed")
	c.Equal(ticks, 2, "timer callbacks run after Run")
}
