// Package interleave lets another event loop drive a gyre reactor: the main
// loop of a GUI or terminal UI toolkit, a game loop, any loop that owns its
// goroutine and can be asked to run a function on it.
//
// Start takes a reactor of one of gyre's backends and a Waker, a function
// that asks the foreign loop to call a func on its own goroutine soon (for a
// Bubble Tea program, a Program.Send of a message whose handler calls it).
// From then on gyre waits for I/O and timers on a helper goroutine and, each
// time something is ready, asks for a turn through the waker. Every gyre
// callback (protocol events, timers, triggers, Deferreds, calls queued with
// CallFromThread) runs inside such a turn, on the foreign loop's goroutine,
// one at a time, interleaved with the foreign loop's own events. Code of the
// foreign loop and protocol code can therefore share state without locks,
// and the foreign loop's code may call the reactor's loop methods (CallLater,
// a transport's Write, Stop, ...) directly between turns: a wait under way is
// woken when it has to end sooner.
//
// The waker carries only a wake-up: the work stays queued inside gyre, every
// turn does whatever is due, and a turn that finds nothing to do does
// nothing. So a wake-up that comes late, or twice, changes nothing, and one
// the foreign loop drops is asked for again (after 50 ms, then less and less
// often, up to once a second) until a turn is run.
//
// Start may be called before the foreign loop starts running: "startup" is
// fired at once, and the waker is first called from the helper goroutine, so
// it may block or queue until the foreign loop runs.
//
// Shutting down works in either order:
//
//   - gyre first: call the reactor's Stop (from a turn, or from the foreign
//     loop's code). The whole "shutdown" event runs in turns of the foreign
//     loop, however many it takes (Deferreds, connections closing, the worker
//     pool draining); then the helper goroutine ends and Done is closed. An
//     After "shutdown" trigger is the place to end the foreign loop.
//   - the foreign loop first: once it has returned, call Finish (for example
//     `defer il.Finish(ctx)` after the foreign loop's run call). Finish stops
//     the reactor if it is still running and runs the remaining turns on its
//     own goroutine until the shutdown is complete, or the context ends.
//
// Either way nothing hangs and no goroutine is left behind, provided the
// waker does not block for ever once the foreign loop has returned (Bubble
// Tea's Send returns at once after its program has ended).
package interleave

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/internal/loop"
)

// Waker asks the foreign loop to call f on its own goroutine, soon. It is
// called from gyre's helper goroutine (and from Finish's), never from the
// foreign loop's, and may block until the foreign loop takes the request.
type Waker func(f func())

// ErrUnsupported is returned by Start for a reactor that package interleave
// cannot drive: one not built by gyre's backends.
var ErrUnsupported = errors.New("gyre/interleave: reactor cannot be driven from a foreign loop")

// ErrInTurn is returned by Finish called from inside a turn: Finish is for
// after the foreign loop has returned.
var ErrInTurn = errors.New("gyre/interleave: Finish called from inside a turn")

// How long the helper waits for a turn it asked for before asking again,
// and the longest it waits between repeats.
const (
	firstRewake = 50 * time.Millisecond
	maxRewake   = time.Second
)

type state uint8

const (
	stWaiting state = iota // a turn is wanted
	stTurn                 // a turn is running
	stBlocked              // the helper waits for I/O, timers or a wake-up
	stDone                 // the loop has been left
)

// Interleaver drives one reactor from a foreign loop. Its methods are safe
// from any goroutine.
type Interleaver struct {
	l      *loop.Loop
	wake   Waker
	turnFn func() // il.turn, made once
	hosted bool   // run by Hosted: Run's own prologue and epilogue apply

	mu       sync.Mutex
	st       state
	first    bool          // no Block has happened yet: nothing to dispatch
	takeover chan struct{} // set by Finish: turns are asked for here
	err      error         // what End returned

	handoff chan time.Duration // turn to helper: block this long; closed at the end
	done    chan struct{}      // closed when the helper has exited
}

// Start begins driving r from a foreign loop through wake: it fires
// "startup" on the calling goroutine, which must be the foreign loop's (or
// one whose work happens before the foreign loop starts), and starts the
// helper goroutine. It returns an error wrapping gyre.ErrAlreadyRunning if
// r's loop is active, gyre.ErrNotRestartable if r has stopped,
// gyre.ErrNilFunc for a nil waker, and ErrUnsupported for a reactor not
// built by one of gyre's backends.
func Start(r gyre.Core, wake Waker) (*Interleaver, error) {
	l, err := loopOf(r)
	if err != nil {
		return nil, err
	}
	if wake == nil {
		return nil, fmt.Errorf("gyre/interleave: nil waker: %w", gyre.ErrNilFunc)
	}
	if err := l.Begin(); err != nil {
		return nil, fmt.Errorf("gyre/interleave: start: %w", err)
	}
	return start(l, wake, false), nil
}

func loopOf(r gyre.Core) (*loop.Loop, error) {
	h, ok := r.(interface{ InternalLoop() *loop.Loop })
	if !ok || h.InternalLoop() == nil || !h.InternalLoop().CanPark() {
		return nil, fmt.Errorf("%w (%T)", ErrUnsupported, r)
	}
	return h.InternalLoop(), nil
}

func start(l *loop.Loop, wake Waker, hosted bool) *Interleaver {
	il := &Interleaver{
		l:       l,
		wake:    wake,
		hosted:  hosted,
		st:      stWaiting,
		first:   true,
		handoff: make(chan time.Duration, 1),
		done:    make(chan struct{}),
	}
	il.turnFn = il.turn
	go il.helper()
	return il
}

// Done returns a channel that is closed once the reactor has left the loop
// (after its shutdown, or a crash) and the helper goroutine has exited.
func (il *Interleaver) Done() <-chan struct{} { return il.done }

// Err returns, once Done is closed, what Run would have returned: nil after
// a shutdown, an error wrapping gyre.ErrCrashed after Crash. Before that it
// returns nil.
func (il *Interleaver) Err() error {
	il.mu.Lock()
	defer il.mu.Unlock()
	return il.err
}

// turn runs one turn of the reactor's loop. It is what the waker hands to
// the foreign loop; a call when no turn is wanted (a duplicated or stale
// wake-up) does nothing.
func (il *Interleaver) turn() {
	il.mu.Lock()
	if il.st != stWaiting {
		il.mu.Unlock()
		return
	}
	il.st = stTurn
	dispatch := !il.first
	il.first = false
	il.mu.Unlock()

	timeout, done := il.l.Turn(dispatch)
	if done {
		var err error
		if !il.hosted {
			err = il.l.End()
		}
		il.mu.Lock()
		il.st = stDone
		il.err = err
		il.mu.Unlock()
		close(il.handoff)
		return
	}
	il.l.Park()
	il.mu.Lock()
	il.st = stBlocked
	il.mu.Unlock()
	il.handoff <- timeout
}

// helper waits for I/O and timers between turns, and asks for each turn.
func (il *Interleaver) helper() {
	defer close(il.done)
	retry := time.NewTimer(firstRewake)
	defer retry.Stop()
	for {
		// A turn is wanted: ask for it, and again if it does not come.
		il.requestTurn()
		backoff := firstRewake
		var timeout time.Duration
		for waiting := true; waiting; {
			retry.Reset(backoff)
			select {
			case d, ok := <-il.handoff:
				if !ok {
					return
				}
				timeout, waiting = d, false
			case <-retry.C:
				il.requestTurn()
				backoff = min(2*backoff, maxRewake)
			}
		}
		retry.Stop()
		if err := il.l.Block(timeout); err != nil {
			il.l.Logger().Error("gyre/interleave: waiting failed", "err", err)
		}
		il.mu.Lock()
		il.st = stWaiting
		il.mu.Unlock()
	}
}

// requestTurn asks for a turn: through the waker, or through Finish's
// channel once Finish has taken over.
func (il *Interleaver) requestTurn() {
	il.mu.Lock()
	ch := il.takeover
	il.mu.Unlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default: // one is pending already
		}
		return
	}
	il.wake(il.turnFn)
}

// Finish is for when the foreign loop has returned while the reactor may
// still be running: call it after the foreign loop's run call has returned
// (never while the foreign loop may still run a turn), on any goroutine,
// which becomes the reactor's loop goroutine. It stops the reactor if it is
// running, runs the remaining turns (the whole shutdown: triggers, closing
// connections, draining the worker pool) on the calling goroutine, and
// returns once the reactor has left the loop and the helper goroutine has
// exited, with what Err returns.
//
// If ctx ends first, Finish crashes the reactor, which abandons the rest of
// the shutdown but still releases its descriptors, and returns an error
// wrapping context.Cause(ctx). Work still running in the worker pool is not
// interrupted. Calling Finish after the reactor has stopped (gyre first)
// just waits for Done; calling it again is harmless.
func (il *Interleaver) Finish(ctx context.Context) error {
	il.mu.Lock()
	if il.st == stTurn {
		il.mu.Unlock()
		return ErrInTurn
	}
	if il.takeover == nil {
		il.takeover = make(chan struct{}, 1)
	}
	ch, st := il.takeover, il.st
	il.mu.Unlock()
	if st != stDone {
		il.l.Adopt()
		// Harmless when shutdown is under way already; ErrNotRunning
		// only when a crash is about to end the loop anyway.
		_ = il.l.Stop()
		// The foreign loop may have dropped the last wake-up.
		il.turn()
	}
	crashed := false
	for {
		select {
		case <-il.done:
			if crashed {
				return fmt.Errorf("gyre/interleave: shutdown abandoned: %w", context.Cause(ctx))
			}
			return il.Err()
		case <-ch:
			il.turn()
		case <-ctxDone(ctx, crashed):
			crashed = true
			il.mu.Lock()
			live := il.st != stDone
			il.mu.Unlock()
			if live {
				_ = il.l.Crash()
				il.turn()
			}
		}
	}
}

// ctxDone is ctx.Done() until the context has been acted on.
func ctxDone(ctx context.Context, acted bool) <-chan struct{} {
	if acted {
		return nil
	}
	return ctx.Done()
}
