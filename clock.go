package gyre

import "time"

// Clock schedules calls in time. Code that needs only timers should take a
// Clock, so that tests can hand it reactortest.Clock.
type Clock interface {
	// Now returns the clock's current time. For a real reactor it carries
	// a monotonic reading, so timers do not move when the wall clock does.
	Now() time.Time
	// CallLater arranges for f to be called on the loop after d. It never
	// calls f before returning, even for d == 0.
	CallLater(d time.Duration, f func()) (DelayedCall, error)
	// DelayedCalls returns the calls scheduled and not yet run or cancelled,
	// in no particular order.
	DelayedCalls() []DelayedCall
}

// DelayedCall is a call scheduled with Clock.CallLater.
type DelayedCall interface {
	// Cancel stops the call from running. It returns ErrAlreadyCalled or
	// ErrAlreadyCancelled when there is nothing left to cancel.
	Cancel() error
	// Reset moves the call to run d after now.
	Reset(d time.Duration) error
	// Delay moves the call d later than it was due.
	Delay(d time.Duration) error
	// Active reports whether the call has neither run nor been cancelled.
	Active() bool
	// Time returns when the call is due.
	Time() time.Time
}
