// Package loop is the reactor core shared by every backend: the run, stop and
// crash state machine, system event triggers, the timer heap, the queue of
// calls from other goroutines and the worker pool. It knows nothing about
// sockets; a backend gives it a Poller, which waits for I/O and dispatches it.
//
// One pass of the loop runs the calls queued from other goroutines (as the
// queue stood when the pass began), then the timers that are due (as the heap
// stood when the pass began), then handles a stop or crash request, then
// waits in the poller (no longer than the next timer) and dispatches what it
// found ready.
package loop

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
	"github.com/gyre-go/gyre/internal/timerheap"
)

// Poller is what a backend supplies: waiting, and dispatching what became
// ready. Wait and Dispatch are called on the loop goroutine, never at the same
// time; Wake may be called from any goroutine.
type Poller interface {
	// Wait blocks until I/O is ready, Wake is called, or timeout passes.
	// A negative timeout means no limit; zero means do not block. It
	// reports whether it found anything (I/O or a wake-up).
	Wait(timeout time.Duration) (found bool, err error)
	// Dispatch runs the handlers for what the last Wait found ready.
	Dispatch()
	// Wake makes the current or the next Wait return promptly. Wake-ups
	// may be coalesced.
	Wake()
	// Close releases the poller's resources. It is called once, on the
	// loop goroutine, when the reactor has stopped.
	Close() error
}

type state uint8

const (
	stateIdle     state = iota // never run
	stateStarting              // "startup" under way, not yet running
	stateRunning
	stateStopping // "shutdown" under way
	stateStopped  // final
	stateCrashed  // left through Crash; may run again
)

// Loop implements gyre.Core, gyre.Clock and gyre.Threads over a Poller.
type Loop struct {
	poller Poller
	log    *slog.Logger
	base   time.Time
	timers *timerheap.Heap

	state    state
	running  bool // from During "startup" to During "shutdown"
	inLoop   bool // Run, Iterate or a manual shutdown is active
	stopReq  bool
	crashReq bool
	exitReq  bool // shutdown finished: leave the loop
	runs     int  // calls of Run so far, to tell one run's context from another's
	startup  *firing

	events   map[string]*event
	triggers map[gyre.TriggerID]*trigger
	lastID   gyre.TriggerID

	// Calls from other goroutines. Producers touch mu, queue and closed;
	// wakePending sits on a cache line of its own so that checking it does
	// not contend with the lock.
	_           [64]byte
	mu          sync.Mutex
	queue       []func()
	closed      bool
	_           [64]byte
	wakePending atomic.Bool
	_           [64]byte
	spare       []func() // loop goroutine only

	pool       *pool
	onShutdown []func()

	debug bool   // check that loop-only methods are called on the loop
	loopG uint64 // the loop goroutine, in debug mode

	// Driving from a foreign loop (drive.go).
	runLoop func() // replaces loop() in Run, if set
	parked  bool   // a Block may be under way on another goroutine

	spin time.Duration // Options.Spin: polling before sleeping after I/O
	busy bool          // the last wait found something

	sig signals // signal handlers (signals.go)
}

// OnShutdown registers f to run in the reactor's own During step of
// "shutdown": after the Before triggers, once Running is false, before the
// worker pool drains and before the users' During triggers. Backends use it
// to close their ports, connection attempts and connections.
func (l *Loop) OnShutdown(f func()) {
	l.onShutdown = append(l.onShutdown, f)
}

// New returns a loop that waits with p.
func New(p Poller, cfg gyre.Options) *Loop {
	l := &Loop{
		poller:   p,
		log:      cfg.Logger,
		base:     time.Now(),
		events:   make(map[string]*event),
		triggers: make(map[gyre.TriggerID]*trigger),
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	l.debug = cfg.Debug || debugFromEnv()
	l.spin = cfg.Spin()
	l.sig.noDefault = cfg.NoSignalHandlers
	l.timers = timerheap.New(l.base, l.nowNS)
	l.timers.OnEarliest = l.wakeParked
	size := cfg.PoolSize
	if size <= 0 {
		size = defaultPoolSize
	}
	l.pool = newPool(size, l.log)
	return l
}

func (l *Loop) nowNS() int64 { return int64(time.Since(l.base)) }

// Logger returns the loop's logger, for backends that log.
func (l *Loop) Logger() *slog.Logger { return l.log }

// Call runs f, recovering and logging a panic. Backends use it for every
// protocol callback they make.
func (l *Loop) Call(f func()) {
	defer l.recoverPanic()
	f()
}

func (l *Loop) recoverPanic() {
	if r := recover(); r != nil {
		l.log.Error("gyre: panic in callback", "panic", r, "stack", string(debug.Stack()))
	}
}

// Run implements gyre.Core.
func (l *Loop) Run() error { return l.run(context.Background()) }

// RunContext implements gyre.Core.
func (l *Loop) RunContext(ctx context.Context) error { return l.run(ctx) }

func (l *Loop) run(ctx context.Context) error {
	if err := l.checkRun(); err != nil {
		return err
	}
	l.runs++
	var ctxStopped bool
	if ctx.Done() != nil {
		run := l.runs
		stop := context.AfterFunc(ctx, func() {
			// Fails only once the reactor has stopped, when there is
			// nothing left to stop.
			_ = l.CallFromThread(func() {
				// Only this Run, and only if nothing else stopped it.
				if l.runs == run && l.inLoop && (l.state == stateStarting || l.state == stateRunning) {
					ctxStopped = l.Stop() == nil
				}
			})
		})
		defer stop()
	}
	l.begin()
	if l.runLoop != nil {
		l.runLoop()
	} else {
		l.loop()
	}
	err := l.end()
	if err == nil && ctxStopped {
		return context.Cause(ctx)
	}
	return err
}

// checkRun returns why the loop cannot be entered now, or nil.
func (l *Loop) checkRun() error {
	switch {
	case l.state == stateStopped || l.state == stateStopping:
		return gyre.ErrNotRestartable
	case l.inLoop:
		return gyre.ErrAlreadyRunning
	}
	return nil
}

// begin enters the loop: "startup" is fired, or resumed after a crash.
func (l *Loop) begin() {
	l.inLoop = true
	l.enter()
	l.crashReq = false
	l.sigBegin()
	if l.state == stateCrashed && l.startup != nil {
		l.state = stateStarting // resume a startup that was waiting
	} else {
		l.state = stateStarting
		l.fireStartup()
	}
}

// end leaves the loop, once shutdown has completed or Crash was called, and
// returns what Run returns.
func (l *Loop) end() error {
	l.sigEnd()
	if l.crashReq && l.state == stateStopping {
		// Crash during shutdown abandons it; the reactor is stopped,
		// and its ports and connections are closed all the same.
		l.running = false
		l.runShutdownHooks()
		l.finish()
	}
	l.exitReq = false
	l.inLoop = false
	if l.crashReq {
		l.crashReq = false
		if l.state != stateStopped {
			l.state = stateCrashed
		}
		return gyre.ErrCrashed
	}
	return nil
}

// loop runs passes until shutdown has completed or Crash was called.
func (l *Loop) loop() {
	for !l.exitReq && !l.crashReq {
		l.pass(-1)
	}
}

// pass is one iteration: queued calls, due timers, stop handling, then a wait
// of at most limit (negative: no limit) and dispatch.
func (l *Loop) pass(limit time.Duration) {
	if l.runDue() {
		return
	}
	l.waitAndDispatch(l.timeout(limit))
}

// runDue runs the first part of a pass: the queued calls, the due timers and
// the stop handling. It reports whether the loop is to be left.
func (l *Loop) runDue() (leave bool) {
	now, before := l.nowNS(), l.timers.Seq()
	l.runQueued()
	if !l.crashReq && !l.exitReq {
		l.runTimers(now, before)
	}
	if l.stopReq && !l.crashReq {
		l.stopReq = false
		l.beginShutdown()
	}
	return l.exitReq || l.crashReq
}

// waitAndDispatch waits up to timeout and dispatches what became ready.
// After a wait that found something, it first polls without sleeping for up
// to the spin time (Options.SpinWait).
func (l *Loop) waitAndDispatch(timeout time.Duration) {
	var (
		found, done bool
		err         error
	)
	if timeout != 0 && l.busy && l.spin > 0 {
		found, timeout, done, err = l.spinWait(timeout)
	}
	if !done {
		found, err = l.poller.Wait(timeout)
	}
	if err != nil {
		l.log.Error("gyre: poller wait failed", "err", err)
	}
	l.busy = found
	l.poller.Dispatch()
}

// spinWait polls for up to the spin time, and no longer than timeout unless
// that is negative. It reports what it found, what is left of timeout,
// whether the wait is over (something found, the whole timeout spent, or the
// poller failed), and the poller's error.
func (l *Loop) spinWait(timeout time.Duration) (found bool, left time.Duration, done bool, err error) {
	start := time.Now()
	for {
		found, err := l.poller.Wait(0)
		if found || err != nil {
			return found, 0, true, err
		}
		spent := time.Since(start)
		switch {
		case timeout >= 0 && spent >= timeout:
			return false, 0, true, nil
		case spent >= l.spin && timeout < 0:
			return false, timeout, false, nil
		case spent >= l.spin:
			return false, timeout - spent, false, nil
		}
	}
}

// timeout is how long the next wait may block: until the next timer, and no
// longer than limit (negative: no limit).
func (l *Loop) timeout(limit time.Duration) time.Duration {
	if l.stopReq {
		return 0
	}
	next, ok := l.timers.Next()
	if !ok {
		return limit
	}
	d := time.Duration(next - l.nowNS())
	if d < 0 {
		d = 0
	}
	if limit >= 0 && limit < d {
		return limit
	}
	return d
}

// runTimers runs the timers that were due at now, the start of the pass, and
// scheduled before it (sequence numbers below before).
func (l *Loop) runTimers(now int64, before uint64) {
	for !l.crashReq {
		t := l.timers.PopDue(now, before)
		if t == nil {
			return
		}
		f := t.Func()
		t.Release()
		l.Call(f)
	}
}

// Stop implements gyre.Core.
func (l *Loop) Stop() error {
	l.onLoop("Stop")
	switch l.state {
	case stateStarting, stateRunning:
		if l.inLoop {
			l.stopReq = true
			l.wakeParked()
			return nil
		}
		return gyre.ErrNotRunning
	case stateStopping:
		return nil
	}
	return gyre.ErrNotRunning
}

// Crash implements gyre.Core.
func (l *Loop) Crash() error {
	l.onLoop("Crash")
	if !l.inLoop || l.state == stateIdle || l.state == stateCrashed {
		return gyre.ErrNotRunning
	}
	l.crashReq = true
	l.running = false
	l.wakeParked()
	return nil
}

// Running implements gyre.Core.
func (l *Loop) Running() bool { return l.running }

// Iterate implements gyre.Core.
func (l *Loop) Iterate(timeout time.Duration) error {
	switch {
	case l.state == stateStopped || l.state == stateStopping:
		return gyre.ErrNotRestartable
	case l.inLoop:
		return gyre.ErrAlreadyRunning
	case timeout < 0:
		return gyre.ErrNegativeDelay
	}
	l.inLoop = true
	l.enter()
	l.pass(timeout)
	l.inLoop = false
	l.crashReq = false
	return nil
}

// Now implements gyre.Clock.
func (l *Loop) Now() time.Time { return l.base.Add(time.Duration(l.nowNS())) }

// CallLater implements gyre.Clock.
func (l *Loop) CallLater(d time.Duration, f func()) (gyre.DelayedCall, error) {
	l.onLoop("CallLater")
	switch {
	case f == nil:
		return nil, gyre.ErrNilFunc
	case d < 0:
		return nil, gyre.ErrNegativeDelay
	case l.state == stateStopped:
		return nil, gyre.ErrStopped
	}
	return l.timers.Schedule(d, f), nil
}

// DelayedCalls implements gyre.Clock.
func (l *Loop) DelayedCalls() []gyre.DelayedCall { return l.timers.Pending() }

// CallFromThread implements gyre.Threads. It is safe from any goroutine.
func (l *Loop) CallFromThread(f func()) error {
	if f == nil {
		return gyre.ErrNilFunc
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return gyre.ErrStopped
	}
	l.queue = append(l.queue, f)
	l.mu.Unlock()
	if !l.wakePending.Load() && l.wakePending.CompareAndSwap(false, true) {
		l.poller.Wake()
	}
	return nil
}

// runQueued runs the calls queued when it started; calls queued meanwhile
// wait for the next pass. After Crash, the calls not yet run stay queued.
func (l *Loop) runQueued() {
	// Every call queued sets wakePending after appending, and wakes the
	// loop if it was clear: when it is clear here, anything being queued
	// right now brings its own wake-up and a later pass, so the lock can
	// be skipped.
	if !l.wakePending.Load() {
		return
	}
	l.wakePending.Store(false)
	l.mu.Lock()
	q := l.queue
	l.queue = l.spare[:0]
	l.mu.Unlock()
	for i, f := range q {
		q[i] = nil
		l.Call(f)
		if l.crashReq && i+1 < len(q) {
			l.requeue(q[i+1:])
			break
		}
	}
	l.spare = q[:0]
}

// requeue puts calls left over by a crash back at the head of the queue.
func (l *Loop) requeue(rest []func()) {
	l.mu.Lock()
	q := make([]func(), 0, len(rest)+len(l.queue))
	q = append(q, rest...)
	l.queue = append(q, l.queue...)
	l.mu.Unlock()
	clear(rest)
	l.wakePending.Store(true)
	l.poller.Wake()
}

// CallInThread implements gyre.Threads. It is safe from any goroutine.
func (l *Loop) CallInThread(f func()) error {
	if f == nil {
		return gyre.ErrNilFunc
	}
	return l.pool.submit(f)
}

// DeferToThread implements gyre.Threads.
func (l *Loop) DeferToThread(f func() (any, error)) *deferred.Deferred {
	l.onLoop("DeferToThread")
	d := deferred.New(nil)
	if f == nil {
		d.Errback(gyre.ErrNilFunc)
		return d
	}
	err := l.pool.submit(func() {
		v, err := callRecovering(f)
		// The pool is drained before the queue closes, so this succeeds.
		_ = l.CallFromThread(func() {
			if err != nil {
				d.Errback(err)
			} else {
				d.Callback(v)
			}
		})
	})
	if err != nil {
		d.Errback(err)
	}
	return d
}

// SetThreadPoolSize implements gyre.Threads.
func (l *Loop) SetThreadPoolSize(n int) error { return l.pool.resize(n) }

// finish completes a shutdown: the reactor is stopped for good and its
// resources are released.
func (l *Loop) finish() {
	l.running = false
	l.state = stateStopped
	l.exitReq = true
	l.sigClose()
	l.pool.stop(nil) // already drained, unless a crash cut shutdown short
	// Run what is still queued (unless this is a crash), then refuse more.
	for {
		l.mu.Lock()
		if l.crashReq || len(l.queue) == 0 {
			l.closed = true
			l.queue = nil
			l.mu.Unlock()
			break
		}
		l.mu.Unlock()
		l.wakePending.Store(true) // drain now, whoever set it
		l.runQueued()
	}
	if err := l.poller.Close(); err != nil {
		l.log.Error("gyre: closing poller", "err", err)
	}
}
