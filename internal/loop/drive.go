package loop

import (
	"errors"
	"time"
)

// Driving the loop from a foreign event loop (package interleave).
//
// Run turns the loop on one goroutine: queued calls, timers, stop handling,
// then Wait and Dispatch. A foreign driver splits that in two. On the loop
// goroutine (the foreign loop's) it calls Turn, which dispatches what the
// poller found and then runs the queued calls, the due timers and the stop
// handling of a pass; then Park. On a helper goroutine it calls Block, which
// waits as Wait would but consumes nothing; then it asks the foreign loop for
// the next Turn. While Block runs, the foreign loop goes on with its own work
// and may call the reactor's methods: each change that could shorten the wait
// (a timer becoming the earliest, Stop, Crash, a descriptor added or changed,
// a call queued from another goroutine) wakes the Block up.

// Parker is implemented by pollers that can be driven from a foreign loop.
type Parker interface {
	// Park is called on the loop goroutine before Block, to take what
	// Block needs (a snapshot of the descriptors, say).
	Park()
	// Block waits until Wait would find something ready, Wake is called,
	// or timeout passes (negative: no limit), without consuming anything
	// but a wake-up. It runs on another goroutine, possibly while the
	// loop goroutine calls Wake or adds, changes or removes descriptors,
	// never while it calls Wait, Dispatch or Close.
	Block(timeout time.Duration) error
}

// ErrCannotPark is returned by Begin when the backend's poller cannot be
// driven from a foreign loop.
var ErrCannotPark = errors.New("gyre: this backend cannot be driven from a foreign loop")

// SetRunLoop makes Run and RunContext call f instead of their own loop, once
// "startup" has been fired; f returns when the loop is to be left (after
// shutdown, or a crash), as Turn reports. It is for foreign drivers that
// offer a Run of their own (interleave.Hosted).
func (l *Loop) SetRunLoop(f func()) { l.runLoop = f }

// CanPark reports whether the poller implements Parker.
func (l *Loop) CanPark() bool {
	_, ok := l.poller.(Parker)
	return ok
}

// Begin enters the loop for a foreign driver, as Run does before its first
// pass: "startup" is fired (or resumed after a crash). The calling goroutine
// becomes the loop goroutine.
func (l *Loop) Begin() error {
	if !l.CanPark() {
		return ErrCannotPark
	}
	if err := l.checkRun(); err != nil {
		return err
	}
	l.runs++
	l.begin()
	return nil
}

// End leaves the loop after Turn has reported done, and returns what Run
// would: nil after a shutdown, ErrCrashed after a crash.
func (l *Loop) End() error { return l.end() }

// Adopt makes the calling goroutine the loop goroutine (for the debug
// checks), when a driver hands the loop over to another goroutine.
func (l *Loop) Adopt() { l.enter() }

// Turn runs one turn for a foreign driver: when dispatch is true it collects
// and dispatches what the poller has ready (after a Block), then it runs the
// queued calls, the due timers and the stop handling of a pass. It returns
// the timeout for the next Block, or done when the driver must call End.
func (l *Loop) Turn(dispatch bool) (timeout time.Duration, done bool) {
	l.parked = false
	l.enter() // whichever goroutine runs the turn is the loop's (debug mode)
	if dispatch && !l.exitReq && !l.crashReq {
		l.waitAndDispatch(0)
	}
	if l.exitReq || l.crashReq || l.runDue() {
		return 0, true
	}
	return l.timeout(-1), false
}

// Park prepares a Block, on the loop goroutine: from now until the next Turn,
// changes that could shorten the wait wake the poller.
func (l *Loop) Park() {
	l.poller.(Parker).Park()
	l.parked = true
}

// Block waits as Parker.Block says. It is called on the driver's helper
// goroutine, between Park and the next Turn.
func (l *Loop) Block(timeout time.Duration) error {
	return l.poller.(Parker).Block(timeout)
}

// Wake makes a Block under way, or the next one, return promptly. It is safe
// from any goroutine.
func (l *Loop) Wake() { l.poller.Wake() }

// wakeParked wakes the poller if a Block may be under way.
func (l *Loop) wakeParked() {
	if l.parked {
		l.poller.Wake()
	}
}

// InternalLoop returns l. Backends embed *Loop, so this is how gyre's own
// packages (interleave) find the loop core of any of gyre's backends; it is
// of no use outside the module.
func (l *Loop) InternalLoop() *Loop { return l }
