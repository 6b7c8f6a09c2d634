package reactortest_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/reactortest"
)

var epoch = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// later schedules f on clk and fails the test if that fails.
func later(t *testing.T, clk gyre.Clock, d time.Duration, f func()) gyre.DelayedCall {
	t.Helper()
	dc, err := clk.CallLater(d, f)
	if err != nil {
		t.Fatalf("CallLater(%v): %v", d, err)
	}
	return dc
}

// elapsed is how far clk has moved since NewClock.
func elapsed(clk *reactortest.Clock) time.Duration { return clk.Now().Sub(epoch) }

func wantTrace(t *testing.T, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("calls ran as %q, want %q", got, want)
	}
}

func TestClockNow(t *testing.T) {
	clk := reactortest.NewClock()
	if !clk.Now().Equal(epoch) {
		t.Fatalf("NewClock().Now() = %v, want %v", clk.Now(), epoch)
	}
	clk.Advance(90 * time.Second)
	clk.Pump(time.Second, 2*time.Second)
	if got := elapsed(clk); got != 93*time.Second {
		t.Fatalf("after advancing 93s, Now is %v after the epoch", got)
	}
	if len(clk.DelayedCalls()) != 0 {
		t.Fatal("a new clock lists delayed calls")
	}
}

func TestClockOrder(t *testing.T) {
	clk := reactortest.NewClock()
	var trace []string
	at := make(map[string]time.Duration)
	for _, tc := range []struct {
		name string
		d    time.Duration
	}{{"c", 3 * time.Second}, {"a", time.Second}, {"b", 2 * time.Second}} {
		dc := later(t, clk, tc.d, func() {
			trace = append(trace, tc.name)
			at[tc.name] = elapsed(clk)
		})
		if want := epoch.Add(tc.d); !dc.Time().Equal(want) {
			t.Fatalf("Time() = %v, want %v", dc.Time(), want)
		}
	}
	clk.Advance(999 * time.Millisecond)
	wantTrace(t, trace, nil)
	clk.Advance(5 * time.Second)
	wantTrace(t, trace, []string{"a", "b", "c"})
	// Each call sees Now at its own due time.
	for name, want := range map[string]time.Duration{"a": time.Second, "b": 2 * time.Second, "c": 3 * time.Second} {
		if at[name] != want {
			t.Errorf("call %s saw Now = epoch+%v, want epoch+%v", name, at[name], want)
		}
	}
	if got := elapsed(clk); got != 5999*time.Millisecond {
		t.Fatalf("Now = epoch+%v after the calls, want epoch+5.999s", got)
	}
	if n := len(clk.DelayedCalls()); n != 0 {
		t.Fatalf("%d calls still listed after running", n)
	}
}

func TestClockFIFO(t *testing.T) {
	clk := reactortest.NewClock()
	var trace []string
	dcs := make(map[string]gyre.DelayedCall)
	for _, name := range []string{"a", "b", "c", "d"} {
		dcs[name] = later(t, clk, time.Second, func() { trace = append(trace, name) })
	}
	// Moving a call, even to the same due time, schedules it anew.
	if err := dcs["a"].Reset(time.Second); err != nil {
		t.Fatal(err)
	}
	if err := dcs["b"].Delay(0); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	wantTrace(t, trace, []string{"c", "d", "a", "b"})
}

func TestClockResetDelayCancel(t *testing.T) {
	clk := reactortest.NewClock()
	var trace []string
	a := later(t, clk, 10*time.Second, func() { trace = append(trace, "a") })
	b := later(t, clk, 20*time.Second, func() { trace = append(trace, "b") })
	c := later(t, clk, 30*time.Second, func() { trace = append(trace, "c") })
	clk.Advance(5 * time.Second)

	if err := a.Reset(20 * time.Second); err != nil { // due at 25s
		t.Fatal(err)
	}
	if err := c.Delay(-time.Second); !errors.Is(err, gyre.ErrNegativeDelay) {
		t.Fatalf("Delay(-1s) = %v, want ErrNegativeDelay", err)
	}
	if err := c.Reset(-time.Second); !errors.Is(err, gyre.ErrNegativeDelay) {
		t.Fatalf("Reset(-1s) = %v, want ErrNegativeDelay", err)
	}
	if err := b.Delay(time.Minute); err != nil { // due at 80s
		t.Fatal(err)
	}
	for dc, want := range map[gyre.DelayedCall]time.Duration{a: 25 * time.Second, b: 80 * time.Second, c: 30 * time.Second} {
		if got := dc.Time().Sub(epoch); got != want {
			t.Fatalf("Time() = epoch+%v, want epoch+%v", got, want)
		}
	}
	if err := c.Cancel(); err != nil {
		t.Fatal(err)
	}
	if c.Active() {
		t.Fatal("cancelled call is active")
	}
	for name, err := range map[string]error{"Cancel": c.Cancel(), "Reset": c.Reset(0), "Delay": c.Delay(0)} {
		if !errors.Is(err, gyre.ErrAlreadyCancelled) {
			t.Fatalf("%s after Cancel = %v, want ErrAlreadyCancelled", name, err)
		}
	}
	if n := len(clk.DelayedCalls()); n != 2 {
		t.Fatalf("%d calls listed, want 2", n)
	}

	clk.Advance(20 * time.Second) // to 25s
	wantTrace(t, trace, []string{"a"})
	if a.Active() {
		t.Fatal("call that ran is active")
	}
	for name, err := range map[string]error{"Cancel": a.Cancel(), "Reset": a.Reset(0), "Delay": a.Delay(0)} {
		if !errors.Is(err, gyre.ErrAlreadyCalled) {
			t.Fatalf("%s after the call ran = %v, want ErrAlreadyCalled", name, err)
		}
	}
	clk.Advance(time.Hour)
	wantTrace(t, trace, []string{"a", "b"})
}

func TestClockScheduledDuringAdvance(t *testing.T) {
	clk := reactortest.NewClock()
	var trace []string
	tick := 0
	var ticker func()
	ticker = func() {
		tick++
		trace = append(trace, fmt.Sprintf("tick%d@%v", tick, elapsed(clk)))
		later(t, clk, time.Second, ticker)
	}
	later(t, clk, time.Second, ticker)
	later(t, clk, 2500*time.Millisecond, func() {
		trace = append(trace, "mid")
		later(t, clk, 0, func() { trace = append(trace, fmt.Sprintf("now@%v", elapsed(clk))) })
		later(t, clk, 10*time.Second, func() { trace = append(trace, "far") })
	})
	clk.Advance(3 * time.Second)
	wantTrace(t, trace, []string{"tick1@1s", "tick2@2s", "mid", "now@2.5s", "tick3@3s"})
	if n := len(clk.DelayedCalls()); n != 2 { // the next tick and "far"
		t.Fatalf("%d calls pending, want 2", n)
	}
	clk.Advance(time.Second)
	wantTrace(t, trace[5:], []string{"tick4@4s"})
}

func TestClockAdvanceZero(t *testing.T) {
	clk := reactortest.NewClock()
	ran := 0
	dc := later(t, clk, 0, func() { ran++ })
	if ran != 0 || !dc.Active() {
		t.Fatal("CallLater(0) ran the call before returning")
	}
	clk.Advance(0)
	if ran != 1 || dc.Active() {
		t.Fatalf("Advance(0) ran a call due now %d times, want once", ran)
	}
	if !clk.Now().Equal(epoch) {
		t.Fatalf("Advance(0) moved Now to %v", clk.Now())
	}
	later(t, clk, time.Second, func() { ran++ })
	clk.Pump(500*time.Millisecond, 499*time.Millisecond, 0)
	if ran != 1 {
		t.Fatal("call ran before it was due")
	}
	clk.Pump(time.Millisecond)
	if ran != 2 {
		t.Fatal("Pump did not run the call that fell due")
	}
}

func TestClockErrors(t *testing.T) {
	clk := reactortest.NewClock()
	if _, err := clk.CallLater(time.Second, nil); !errors.Is(err, gyre.ErrNilFunc) {
		t.Fatalf("CallLater(nil) = %v, want ErrNilFunc", err)
	}
	if _, err := clk.CallLater(-time.Nanosecond, func() {}); !errors.Is(err, gyre.ErrNegativeDelay) {
		t.Fatalf("CallLater(-1ns) = %v, want ErrNegativeDelay", err)
	}
	if n := len(clk.DelayedCalls()); n != 0 {
		t.Fatalf("failed CallLater left %d calls", n)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Advance(-1s) did not panic")
		}
	}()
	clk.Advance(-time.Second)
}

func TestClockDistant(t *testing.T) {
	clk := reactortest.NewClock()
	ran := false
	dc := later(t, clk, time.Duration(1<<63-1), func() { ran = true })
	clk.Advance(time.Hour)
	if ran || !dc.Active() {
		t.Fatal("distant call ran early")
	}
	clk.Advance(time.Duration(1<<63 - 1)) // saturates
	if !ran {
		t.Fatal("distant call did not run")
	}
}

// ExampleClock tests a timeout helper that takes a gyre.Clock, without a
// reactor and without waiting.
func ExampleClock() {
	// timeout calls expire unless the returned stop is called within d.
	timeout := func(clk gyre.Clock, d time.Duration, expire func()) (stop func() bool) {
		dc, err := clk.CallLater(d, expire)
		if err != nil {
			panic(err)
		}
		return func() bool { return dc.Cancel() == nil }
	}

	clk := reactortest.NewClock()
	timeout(clk, 5*time.Second, func() {
		fmt.Println("first request timed out at", clk.Now().Format(time.TimeOnly))
	})
	clk.Advance(4 * time.Second)
	fmt.Println("still waiting at", clk.Now().Format(time.TimeOnly))
	clk.Advance(time.Second)

	stop := timeout(clk, 5*time.Second, func() { fmt.Println("second request timed out") })
	clk.Advance(time.Second)
	fmt.Println("second request answered in time:", stop())
	clk.Advance(time.Minute)
	// Output:
	// still waiting at 00:00:04
	// first request timed out at 00:00:05
	// second request answered in time: true
}
