package deferred_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/gyre-go/gyre/deferred"
)

// TestMain silences unhandled-failure reports from Deferreds that tests
// drop on purpose; the tests of that rule install their own logger.
func TestMain(m *testing.M) {
	deferred.SetLogger(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

var (
	errA = errors.New("error A")
	errB = errors.New("error B")
)

// result reads d's result and fails the test if it is not available.
func result(t *testing.T, d *deferred.Deferred) (any, error) {
	t.Helper()
	v, err, ok := d.Result()
	if !ok {
		t.Fatalf("Result: ok = false (called=%v paused=%v)", d.Called(), d.Paused())
	}
	return v, err
}

func wantValue(t *testing.T, d *deferred.Deferred, want any) {
	t.Helper()
	v, err := result(t, d)
	if err != nil || !reflect.DeepEqual(v, want) {
		t.Fatalf("Result = (%v, %v), want (%v, nil)", v, err, want)
	}
}

func wantError(t *testing.T, d *deferred.Deferred, want error) {
	t.Helper()
	v, err := result(t, d)
	if !errors.Is(err, want) {
		t.Fatalf("Result = (%v, %v), want error %v", v, err, want)
	}
}

func wantPending(t *testing.T, d *deferred.Deferred) {
	t.Helper()
	if _, _, ok := d.Result(); ok {
		t.Fatalf("Result: ok = true, want no result yet")
	}
}

// TestChainOrder checks deferred.chain.order.
func TestChainOrder(t *testing.T) {
	var trace []string
	d := deferred.New(nil)
	for _, name := range []string{"a", "b", "c"} {
		d.AddCallback(func(v any) any {
			trace = append(trace, fmt.Sprintf("%s(%v)", name, v))
			return v.(string) + name
		})
	}
	if len(trace) != 0 {
		t.Fatalf("callbacks ran before Callback: %v", trace)
	}
	if err := d.Callback(""); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a()", "b(a)", "c(ab)"}; !reflect.DeepEqual(trace, want) {
		t.Fatalf("trace = %v, want %v", trace, want)
	}
	wantValue(t, d, "abc")
}

// TestChainErrorSwitch checks deferred.chain.error-switch.
func TestChainErrorSwitch(t *testing.T) {
	var trace []string
	cb := func(name string, ret any) func(any) any {
		return func(v any) any { trace = append(trace, fmt.Sprintf("cb-%s(%v)", name, v)); return ret }
	}
	eb := func(name string, ret any) func(error) any {
		return func(err error) any { trace = append(trace, fmt.Sprintf("eb-%s(%v)", name, err)); return ret }
	}
	d := deferred.New(nil).
		AddCallbacks(cb("1", errA), eb("1", "unused")). // value -> failure
		AddCallbacks(cb("2", "unused"), eb("2", errB)). // failure -> failure
		AddCallbacks(cb("3", "unused"), eb("3", 7)).    // failure -> value
		AddCallbacks(cb("4", nil), eb("4", "unused")).  // value -> nil value
		AddBoth(func(v any) any { trace = append(trace, fmt.Sprintf("both(%v)", v)); return errA }).
		AddBoth(func(v any) any { trace = append(trace, fmt.Sprintf("both(%v)", v)); return "done" })
	d.Callback("start")
	want := []string{"cb-1(start)", "eb-2(error A)", "eb-3(error B)", "cb-4(7)", "both(<nil>)", "both(error A)"}
	if !reflect.DeepEqual(trace, want) {
		t.Fatalf("trace =\n%q\nwant\n%q", trace, want)
	}
	wantValue(t, d, "done")
}

// TestChainPassThrough checks deferred.chain.pass-through.
func TestChainPassThrough(t *testing.T) {
	called := false
	cb := func(any) any { called = true; return nil }
	eb := func(error) any { called = true; return nil }
	for _, tc := range []struct {
		name string
		add  func(*deferred.Deferred)
		fire func(*deferred.Deferred) error
		want any // value, or error
	}{
		{
			"value past nil callbacks and errbacks",
			func(d *deferred.Deferred) {
				d.AddCallbacks(nil, nil).AddCallback(nil).AddCallbacks(nil, eb).AddErrback(eb).AddBoth(nil)
			},
			func(d *deferred.Deferred) error { return d.Callback(5) },
			5,
		},
		{
			"error past callbacks and nil errbacks",
			func(d *deferred.Deferred) {
				d.AddCallbacks(nil, nil).AddErrback(nil).AddCallbacks(cb, nil).AddCallback(cb).AddBoth(nil)
			},
			func(d *deferred.Deferred) error { return d.Errback(errA) },
			errA,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called = false
			d := deferred.New(nil)
			tc.add(d)
			if err := tc.fire(d); err != nil {
				t.Fatal(err)
			}
			if called {
				t.Fatal("a step for the other path ran")
			}
			if err, ok := tc.want.(error); ok {
				wantError(t, d, err)
			} else {
				wantValue(t, d, tc.want)
			}
		})
	}
}

// TestChainLateCallbacks checks deferred.chain.late-callbacks.
func TestChainLateCallbacks(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    func() *deferred.Deferred
	}{
		{"Succeed", func() *deferred.Deferred { return deferred.Succeed(1) }},
		{"Callback", func() *deferred.Deferred { d := deferred.New(nil); d.Callback(1); return d }},
		{"Fail", func() *deferred.Deferred { return deferred.Fail(errA).AddErrback(func(error) any { return 1 }) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d()
			if !d.Called() {
				t.Fatal("Called() = false")
			}
			ran := false
			d.AddCallback(func(v any) any { ran = true; return v.(int) + 1 })
			if !ran {
				t.Fatal("callback added after firing did not run inside AddCallback")
			}
			wantValue(t, d, 2)
		})
	}
}

// TestChainPanic checks deferred.chain.panic.
func TestChainPanic(t *testing.T) {
	d := deferred.New(nil).AddCallback(func(any) any { panic("boom") })
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recover() = %v, want boom", r)
		}
	}()
	d.Callback(1)
	t.Fatal("panic in callback was swallowed")
}

// TestChainForward checks deferred.chain.forward.
func TestChainForward(t *testing.T) {
	t.Run("value", func(t *testing.T) {
		a, b := deferred.New(nil), deferred.New(nil)
		a.Chain(b)
		a.Callback(3)
		wantValue(t, b, 3)
		wantValue(t, a, nil)
	})
	t.Run("failure", func(t *testing.T) {
		a, b := deferred.New(nil), deferred.New(nil)
		a.AddCallback(func(any) any { return errA }).Chain(b)
		a.Callback(3)
		wantError(t, b, errA)
		wantValue(t, a, nil)
	})
	t.Run("target already called", func(t *testing.T) {
		a, b := deferred.Succeed(1), deferred.Succeed(2)
		a.Chain(b)
		wantError(t, a, deferred.ErrAlreadyCalled)
		wantValue(t, b, 2)
	})
	t.Run("self", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("Chain(d) to itself did not panic")
			}
		}()
		d := deferred.New(nil)
		d.Chain(d)
	})
}

// TestPauseReturnedDeferred checks deferred.pause.returned-deferred.
func TestPauseReturnedDeferred(t *testing.T) {
	t.Run("unfired inner", func(t *testing.T) {
		inner := deferred.New(nil)
		var trace []any
		d := deferred.New(nil).
			AddCallback(func(any) any { return inner }).
			AddCallback(func(v any) any { trace = append(trace, v); return v })
		d.Callback(1)
		if !d.Paused() || len(trace) != 0 {
			t.Fatalf("Paused() = %v, trace = %v; want paused with nothing run", d.Paused(), trace)
		}
		wantPending(t, d)
		d.AddCallback(func(v any) any { trace = append(trace, "late"); return v })
		if len(trace) != 0 {
			t.Fatal("callback added while paused ran")
		}
		inner.Callback("inner")
		if d.Paused() || !reflect.DeepEqual(trace, []any{"inner", "late"}) {
			t.Fatalf("Paused() = %v, trace = %v", d.Paused(), trace)
		}
		wantValue(t, d, "inner")
		wantValue(t, inner, nil) // the outer chain took the inner result
	})
	t.Run("inner failure from errback", func(t *testing.T) {
		inner := deferred.New(nil)
		d := deferred.Fail(errA).AddErrback(func(error) any { return inner })
		inner.Errback(errB)
		wantError(t, d, errB)
	})
	t.Run("already fired inner", func(t *testing.T) {
		d := deferred.Succeed(1).AddCallback(func(any) any { return deferred.Succeed(2) })
		if d.Paused() {
			t.Fatal("paused on an inner Deferred that had already fired")
		}
		wantValue(t, d, 2)
	})
	t.Run("inner paused itself", func(t *testing.T) {
		innermost := deferred.New(nil)
		inner := deferred.Succeed(0).AddCallback(func(any) any { return innermost })
		d := deferred.Succeed(1).AddCallback(func(any) any { return inner })
		if !d.Paused() || !inner.Paused() {
			t.Fatal("want both paused")
		}
		innermost.Callback(3)
		wantValue(t, d, 3)
	})
	t.Run("inner still running its chain", func(t *testing.T) {
		inner, outer := deferred.New(nil), deferred.New(nil)
		outer.AddCallback(func(any) any { return inner })
		inner.AddCallback(func(any) any {
			outer.Callback(nil) // outer now waits for inner, which is mid-chain
			return "inner done"
		})
		inner.Callback(1)
		wantValue(t, outer, "inner done")
	})
	t.Run("returns itself", func(t *testing.T) {
		d := deferred.New(nil)
		d.AddCallback(func(any) any { return d })
		d.Callback(1)
		if _, err := result(t, d); err == nil {
			t.Fatal("want a failure when a callback returns its own Deferred")
		}
	})
}

// TestPauseDeepChain checks deferred.pause.deep-chain. The goroutine stack
// limit is lowered so that recursion proportional to the chain length
// would crash the test binary.
func TestPauseDeepChain(t *testing.T) {
	const n = 100_000
	defer debug.SetMaxStack(debug.SetMaxStack(256 << 10))

	// nested returns n Deferreds where ds[i]'s callback returns ds[i+1].
	nested := func() []*deferred.Deferred {
		ds := make([]*deferred.Deferred, n)
		for i := range ds {
			ds[i] = deferred.New(nil)
		}
		for i := range n - 1 {
			next := ds[i+1]
			ds[i].AddCallback(func(any) any { return next })
		}
		return ds
	}

	t.Run("fire outermost first", func(t *testing.T) {
		ds := nested()
		for _, d := range ds[:n-1] {
			d.Callback(nil)
		}
		if !ds[0].Paused() {
			t.Fatal("outermost not paused")
		}
		ds[n-1].Callback("end")
		wantValue(t, ds[0], "end")
	})
	t.Run("fire innermost first", func(t *testing.T) {
		ds := nested()
		for i := n - 1; i >= 0; i-- {
			ds[i].Callback(i)
		}
		wantValue(t, ds[0], n-1)
	})
	t.Run("cancel outermost", func(t *testing.T) {
		ds := nested()
		for _, d := range ds[:n-1] {
			d.Callback(nil)
		}
		ds[0].Cancel()
		wantError(t, ds[0], deferred.ErrCancelled)
	})
	t.Run("Chain", func(t *testing.T) {
		ds := make([]*deferred.Deferred, n)
		for i := range ds {
			ds[i] = deferred.New(nil)
		}
		for i := range n - 1 {
			ds[i].Chain(ds[i+1])
		}
		ds[0].Callback("end")
		wantValue(t, ds[n-1], "end")
	})
}

// TestFireAlreadyCalled checks deferred.fire.already-called.
func TestFireAlreadyCalled(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func(*deferred.Deferred) error
	}{
		{"after Callback", func(d *deferred.Deferred) error { return d.Callback(1) }},
		{"after Errback", func(d *deferred.Deferred) error { return d.Errback(errA) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := deferred.New(nil)
			if err := tc.first(d); err != nil {
				t.Fatal(err)
			}
			v0, err0, _ := d.Result()
			if err := d.Callback(2); err != deferred.ErrAlreadyCalled {
				t.Fatalf("second Callback = %v, want ErrAlreadyCalled", err)
			}
			if err := d.Errback(errB); err != deferred.ErrAlreadyCalled {
				t.Fatalf("second Errback = %v, want ErrAlreadyCalled", err)
			}
			if v, err, _ := d.Result(); v != v0 || err != err0 {
				t.Fatalf("result changed from (%v, %v) to (%v, %v)", v0, err0, v, err)
			}
		})
	}
}

// TestFireInvalidResult checks deferred.fire.invalid-result.
func TestFireInvalidResult(t *testing.T) {
	for _, tc := range []struct {
		name string
		fire func(*deferred.Deferred) error
		want error
	}{
		{"Errback(nil)", func(d *deferred.Deferred) error { return d.Errback(nil) }, deferred.ErrNilError},
		{"Callback(error)", func(d *deferred.Deferred) error { return d.Callback(errA) }, deferred.ErrInvalidResult},
		{"Callback(*Deferred)", func(d *deferred.Deferred) error { return d.Callback(deferred.New(nil)) }, deferred.ErrInvalidResult},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := deferred.New(nil)
			if err := tc.fire(d); err != tc.want {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if d.Called() {
				t.Fatal("invalid result fired the Deferred")
			}
			if err := d.Callback(1); err != nil {
				t.Fatalf("valid Callback afterwards = %v", err)
			}
		})
	}
}

// TestCancelCanceller checks deferred.cancel.canceller.
func TestCancelCanceller(t *testing.T) {
	t.Run("canceller fires", func(t *testing.T) {
		calls := 0
		d := deferred.New(func(d *deferred.Deferred) { calls++; d.Errback(errA) })
		d.Cancel()
		if calls != 1 {
			t.Fatalf("canceller called %d times", calls)
		}
		wantError(t, d, errA)
		if err := d.Callback(1); err != deferred.ErrAlreadyCalled {
			t.Fatalf("Callback after self-firing canceller = %v, want ErrAlreadyCalled", err)
		}
	})
	t.Run("canceller does not fire", func(t *testing.T) {
		var got *deferred.Deferred
		d := deferred.New(func(d *deferred.Deferred) { got = d })
		d.Cancel()
		if got != d {
			t.Fatal("canceller not called with the Deferred")
		}
		wantError(t, d, deferred.ErrCancelled)
	})
}

// TestCancelDefaultError checks deferred.cancel.default-error.
func TestCancelDefaultError(t *testing.T) {
	var seen error
	d := deferred.New(nil).AddErrback(func(err error) any { seen = err; return err })
	d.Cancel()
	if !d.Called() || seen != deferred.ErrCancelled {
		t.Fatalf("Called() = %v, errback saw %v; want ErrCancelled", d.Called(), seen)
	}
	wantError(t, d, deferred.ErrCancelled)
}

// TestCancelLateResultIgnored checks deferred.cancel.late-result-ignored.
func TestCancelLateResultIgnored(t *testing.T) {
	for _, tc := range []struct {
		name      string
		canceller func(*deferred.Deferred)
		late      func(*deferred.Deferred) error
	}{
		{"no canceller, late Callback", nil, func(d *deferred.Deferred) error { return d.Callback(1) }},
		{"no canceller, late Errback", nil, func(d *deferred.Deferred) error { return d.Errback(errA) }},
		{"idle canceller, late Callback", func(*deferred.Deferred) {}, func(d *deferred.Deferred) error { return d.Callback(1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := deferred.New(tc.canceller)
			d.Cancel()
			if err := tc.late(d); err != nil {
				t.Fatalf("first late result = %v, want nil", err)
			}
			wantError(t, d, deferred.ErrCancelled)
			if err := tc.late(d); err != deferred.ErrAlreadyCalled {
				t.Fatalf("second late result = %v, want ErrAlreadyCalled", err)
			}
		})
	}
}

// TestCancelFired checks deferred.cancel.fired.
func TestCancelFired(t *testing.T) {
	t.Run("paused", func(t *testing.T) {
		innerCancelled := false
		inner := deferred.New(func(*deferred.Deferred) { innerCancelled = true })
		d := deferred.Succeed(1).AddCallback(func(any) any { return inner })
		d.Cancel()
		if !innerCancelled {
			t.Fatal("inner canceller not called")
		}
		wantError(t, d, deferred.ErrCancelled)
	})
	t.Run("not paused", func(t *testing.T) {
		d := deferred.New(func(*deferred.Deferred) { t.Fatal("canceller called after firing") })
		d.Callback(1)
		d.Cancel()
		wantValue(t, d, 1)
		if err := d.Callback(2); err != deferred.ErrAlreadyCalled {
			t.Fatalf("Callback after no-op Cancel = %v, want ErrAlreadyCalled", err)
		}
	})
}

// TestGatherSuccess checks deferred.gather.success.
func TestGatherSuccess(t *testing.T) {
	a, b := deferred.New(nil), deferred.New(nil)
	g := deferred.Gather(a, deferred.Succeed("s"), b)
	wantPending(t, g)
	b.Callback("b")
	wantPending(t, g)
	a.Callback("a")
	wantValue(t, g, []any{"a", "s", "b"})
	wantValue(t, a, "a") // inputs keep their values
}

// TestGatherFailure checks deferred.gather.failure.
func TestGatherFailure(t *testing.T) {
	a, b, c := deferred.New(nil), deferred.New(nil), deferred.New(nil)
	g := deferred.Gather(a, b, c)
	b.Errback(errA)
	_, err := result(t, g)
	var ge *deferred.GatherError
	if !errors.As(err, &ge) || ge.Index != 1 || ge.Err != errA || !errors.Is(err, errA) {
		t.Fatalf("Gather failed with %#v, want *GatherError{Index: 1, Err: errA}", err)
	}
	c.Errback(errB)
	a.Callback(1)
	if _, err2 := result(t, g); err2 != err {
		t.Fatalf("result changed after the first failure: %v", err2)
	}
	// Failures of the inputs are consumed.
	wantValue(t, b, nil)
	wantValue(t, c, nil)
}

// TestGatherEmpty checks deferred.gather.empty.
func TestGatherEmpty(t *testing.T) {
	wantValue(t, deferred.Gather(), []any{})
}

// TestGatherCancel checks deferred.gather.cancel.
func TestGatherCancel(t *testing.T) {
	var cancelled []int
	canceller := func(i int) func(*deferred.Deferred) {
		return func(*deferred.Deferred) { cancelled = append(cancelled, i) }
	}
	a := deferred.New(canceller(0))
	b := deferred.New(canceller(1))
	b.Callback("b")
	c := deferred.New(canceller(2))
	g := deferred.Gather(a, b, c)
	g.Cancel()
	if !reflect.DeepEqual(cancelled, []int{0, 2}) {
		t.Fatalf("cancelled inputs %v, want [0 2]", cancelled)
	}
	wantError(t, g, deferred.ErrCancelled)
	var ge *deferred.GatherError
	if _, err, _ := g.Result(); !errors.As(err, &ge) || ge.Index != 0 {
		t.Fatalf("Gather failed with %v, want *GatherError{Index: 0}", err)
	}
	wantValue(t, b, "b")
}

// captureHandler is a slog.Handler that records unhandled-failure reports.
type captureHandler struct {
	mu     sync.Mutex
	recs   []slog.Record
	notify chan struct{}
}

func newCapture(t *testing.T) *captureHandler {
	h := &captureHandler{notify: make(chan struct{}, 1)}
	deferred.SetLogger(slog.New(h))
	t.Cleanup(func() { deferred.SetLogger(slog.New(slog.DiscardHandler)) })
	return h
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *captureHandler) WithGroup(string) slog.Handler            { return h }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	select {
	case h.notify <- struct{}{}:
	default:
	}
	return nil
}

// reports returns the records whose "err" attribute is err.
func (h *captureHandler) reports(err error) []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Record
	for _, r := range h.recs {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" && a.Value.Any() == err {
				out = append(out, r)
			}
			return true
		})
	}
	return out
}

// collect runs garbage collections until done reports true, waiting for
// the handler or a short tick between rounds, and fails the test after a
// generous deadline.
func collect(t *testing.T, h *captureHandler, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for garbage collection")
		}
		runtime.GC()
		select {
		case <-h.notify:
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// dropFailure creates a Deferred whose failure err is never handled and
// drops it.
//
//go:noinline
func dropFailure(err error) {
	deferred.New(nil).AddCallback(func(v any) any { return v }).Errback(err)
}

// TestUnhandledLogged checks deferred.unhandled.logged.
func TestUnhandledLogged(t *testing.T) {
	h := newCapture(t)
	errs := []error{errors.New("unhandled via Errback"), errors.New("unhandled via callback")}
	dropFailure(errs[0])
	func() { deferred.Succeed(1).AddCallback(func(any) any { return errs[1] }) }()

	collect(t, h, func() bool { return len(h.reports(errs[0])) > 0 && len(h.reports(errs[1])) > 0 })
	for i := 0; i < 3; i++ { // further collections must not log again
		runtime.GC()
	}
	for _, err := range errs {
		recs := h.reports(err)
		if len(recs) != 1 {
			t.Fatalf("%v logged %d times, want once", err, len(recs))
		}
		if r := recs[0]; r.Level != slog.LevelError || r.Message != "unhandled error in Deferred" {
			t.Fatalf("logged at %v with message %q", r.Level, r.Message)
		}
	}
}

// TestUnhandledHandledNotLogged checks deferred.unhandled.handled-not-logged.
func TestUnhandledHandledNotLogged(t *testing.T) {
	h := newCapture(t)
	cases := []struct {
		name   string
		handle func(err error) *deferred.Deferred
	}{
		{"errback", func(err error) *deferred.Deferred {
			return deferred.Fail(err).AddErrback(func(error) any { return nil })
		}},
		{"errback added before firing", func(err error) *deferred.Deferred {
			d := deferred.New(nil).AddErrback(func(error) any { return nil })
			d.Errback(err)
			return d
		}},
		{"Result", func(err error) *deferred.Deferred {
			d := deferred.Fail(err)
			d.Result()
			d.AddCallback(func(v any) any { return v }) // passing through keeps it handled
			return d
		}},
		{"consumed by outer chain", func(err error) *deferred.Deferred {
			inner := deferred.New(nil)
			deferred.Succeed(1).
				AddCallback(func(any) any { return inner }).
				AddErrback(func(error) any { return nil })
			inner.Errback(err)
			return inner
		}},
		{"already failed, consumed by outer chain", func(err error) *deferred.Deferred {
			inner := deferred.Fail(err)
			deferred.Succeed(1).
				AddCallback(func(any) any { return inner }).
				AddErrback(func(error) any { return nil })
			return inner
		}},
		{"Chain", func(err error) *deferred.Deferred {
			other := deferred.New(nil).AddErrback(func(error) any { return nil })
			return deferred.Fail(err).Chain(other)
		}},
		{"Gather", func(err error) *deferred.Deferred {
			a, b := deferred.New(nil), deferred.New(nil)
			deferred.Gather(a, b).AddErrback(func(error) any { return nil })
			a.Errback(err)
			b.Errback(err)
			return a
		}},
		{"cancelled then handled", func(err error) *deferred.Deferred {
			d := deferred.New(func(d *deferred.Deferred) { d.Errback(err) })
			d.Cancel()
			return d.AddErrback(func(error) any { return nil })
		}},
	}

	errs := make([]error, len(cases))
	var mu sync.Mutex
	collected := 0
	func() {
		for i, tc := range cases {
			errs[i] = errors.New("handled: " + tc.name)
			d := tc.handle(errs[i])
			runtime.AddCleanup(d, func(struct{}) { mu.Lock(); collected++; mu.Unlock() }, struct{}{})
		}
	}()
	canary := errors.New("canary")
	dropFailure(canary)

	collect(t, h, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return collected == len(cases) && len(h.reports(canary)) > 0
	})
	// Give any report racing with the test's own cleanups time to arrive.
	for i := 0; i < 5; i++ {
		runtime.GC()
		select {
		case <-h.notify:
		case <-time.After(5 * time.Millisecond):
		}
	}
	for i, err := range errs {
		if n := len(h.reports(err)); n != 0 {
			t.Errorf("%s: handled failure logged %d times", cases[i].name, n)
		}
	}
}
