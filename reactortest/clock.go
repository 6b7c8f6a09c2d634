package reactortest

import (
	"math"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/internal/timerheap"
)

// Clock is a fake gyre.Clock for tests: its time stands still until the test
// moves it with Advance or Pump, and the calls that fall due then run at once,
// on the goroutine that moved it. Code that takes a gyre.Clock can so be
// tested without sleeping and without a running reactor.
//
// Calls run in the order of their due times, and calls due at the same
// instant in the order they were scheduled; Reset and Delay count as
// scheduling anew, as on a real reactor. CallLater, Reset and Delay return the
// same errors as a real reactor's.
//
// A Clock is not safe for concurrent use: create it, schedule on it and
// advance it from one goroutine, as a reactor's loop goroutine would.
type Clock struct {
	base   time.Time
	now    int64 // nanoseconds since base
	timers *timerheap.Heap
}

var _ gyre.Clock = (*Clock)(nil)

// clockEpoch is where every Clock's time starts.
var clockEpoch = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// NewClock returns a Clock whose Now is 2000-01-01 00:00:00 UTC and that has
// no calls scheduled.
func NewClock() *Clock {
	c := &Clock{base: clockEpoch}
	c.timers = timerheap.New(c.base, func() int64 { return c.now })
	return c
}

// Now implements gyre.Clock. It changes only when the clock is advanced.
func (c *Clock) Now() time.Time { return c.base.Add(time.Duration(c.now)) }

// CallLater implements gyre.Clock. The call runs during the Advance that
// moves the clock to or past Now()+d; with d == 0 that is the next Advance,
// even Advance(0). It returns gyre.ErrNilFunc for a nil f and
// gyre.ErrNegativeDelay for d < 0.
func (c *Clock) CallLater(d time.Duration, f func()) (gyre.DelayedCall, error) {
	switch {
	case f == nil:
		return nil, gyre.ErrNilFunc
	case d < 0:
		return nil, gyre.ErrNegativeDelay
	}
	return c.timers.Schedule(d, f), nil
}

// DelayedCalls implements gyre.Clock.
func (c *Clock) DelayedCalls() []gyre.DelayedCall { return c.timers.Pending() }

// Advance moves the clock d forward and runs every call that falls due on the
// way, in order. Before each call runs, Now is set to the call's due time, so
// a call that schedules another one (a ticker rescheduling itself, say) sees
// the time it expects, and the new call runs within the same Advance if it
// falls due by the end of it. Once no call is due, Now is the old Now plus d
// (saturating at the largest time the clock can represent).
//
// Advance(0) runs the calls that are due now. A call that keeps rescheduling
// itself with delay 0 makes Advance run forever, so don't write one for this
// clock. A panic in a call propagates out of Advance; the calls not yet run
// stay scheduled, and Now is the due time of the call that panicked.
//
// Advance panics if d is negative: the clock never goes backwards.
func (c *Clock) Advance(d time.Duration) {
	if d < 0 {
		panic("reactortest: Clock.Advance with a negative duration")
	}
	end := c.now + int64(d)
	if int64(d) > math.MaxInt64-c.now {
		end = math.MaxInt64
	}
	for {
		next, ok := c.timers.Next()
		if !ok || next > end {
			break
		}
		if next > c.now {
			c.now = next
		}
		// Every pending call was scheduled before Seq, including those
		// scheduled by the calls this Advance has run.
		t := c.timers.PopDue(c.now, c.timers.Seq())
		if t == nil {
			break // not reached: the earliest call is due
		}
		f := t.Func()
		t.Release()
		f()
	}
	c.now = end
}

// Pump advances the clock by each step in turn, running the calls that fall
// due after each one, as a loop iterating at those intervals would.
func (c *Clock) Pump(steps ...time.Duration) {
	for _, d := range steps {
		c.Advance(d)
	}
}
