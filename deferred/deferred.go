// Package deferred provides Deferred, a placeholder for a result that is not
// available yet, together with a chain of callbacks that process the result
// once it arrives.
//
// Code that starts an asynchronous operation returns a *Deferred at once. The
// caller attaches callbacks (for the success path) and errbacks (for the
// failure path); when the operation completes, its owner calls
// [Deferred.Callback] or [Deferred.Errback] and the chain runs, each step
// receiving the result of the previous one. A step may return a *Deferred of
// its own, in which case the chain pauses until that Deferred fires.
//
//	d := deferred.New(nil)
//	d.AddCallback(func(v any) any {
//		return v.(int) * 2
//	}).AddErrback(func(err error) any {
//		log.Print(err)
//		return nil
//	})
//	d.Callback(21) // the callback runs now and the result becomes 42
//
// A Deferred is not safe for concurrent use. It is meant to be created, fired
// and observed on a single event-loop goroutine; callbacks run synchronously
// on the goroutine that fires the Deferred or adds the callback.
//
// Panics raised by callbacks are not recovered by this package. They unwind
// through [Deferred.Callback], [Deferred.Errback] or [Deferred.AddCallbacks]
// to the caller, normally the event loop, which is responsible for recovering
// them. A Deferred whose chain was interrupted by a panic must not be used
// again.
//
// A failure that reaches the end of a chain without being consumed by an
// errback, and that is never read with [Deferred.Result], is almost always a
// bug. When such a Deferred is garbage-collected, the failure is logged; see
// [SetLogger].
package deferred

import "errors"

var (
	// ErrAlreadyCalled is returned by Callback and Errback when the Deferred
	// has already been given a result.
	ErrAlreadyCalled = errors.New("deferred: result already set")

	// ErrCancelled is the failure of a Deferred that was cancelled before it
	// fired and whose canceller did not give it a result.
	ErrCancelled = errors.New("deferred: cancelled")

	// ErrNilError is returned by Errback when it is called with a nil error.
	ErrNilError = errors.New("deferred: Errback called with nil error")

	// ErrInvalidResult is returned by Callback when the value is an error or
	// a *Deferred; failures must be delivered with Errback. It is also the
	// failure of a chain whose callback returned a nil *Deferred.
	ErrInvalidResult = errors.New("deferred: invalid result for Callback")
)

// errSelfWait is the failure of a chain whose callback returned the
// Deferred it belongs to, which could never fire.
var errSelfWait = errors.New("deferred: callback returned its own Deferred")

// A Deferred holds a result that becomes available later and a chain of
// callbacks that process it.
//
// The result is either a value (the success path) or a non-nil error (the
// failure path). Each step of the chain has a callback for values and an
// errback for errors; only the one matching the current result runs, and
// its return value becomes the new result. A step that returns a non-nil
// error moves the chain to the failure path; a step that returns anything
// else (including nil) moves it to the success path. A step that returns a
// *Deferred pauses the chain until that Deferred fires, and its final result
// then becomes the current result.
//
// Create a Deferred with [New], [Succeed] or [Fail]. A Deferred must not be
// copied after first use.
type Deferred struct {
	steps     []step
	pos       int // index of the next step to run
	result    any
	canceller func(*Deferred)
	inner     *Deferred // the Deferred this one waits for while paused
	fs        *failState

	called   bool // Callback or Errback has been accepted
	paused   bool // waiting for inner
	running  bool // a run loop is processing this Deferred's steps
	handled  bool // the current failure was read with Result
	suppress bool // ignore one late Callback or Errback after Cancel
}

// A step is one link of a callback chain. Exactly one of the following
// applies: waiter is set (hand the result to a paused outer Deferred),
// chain is set (fire another Deferred with the result), or cb and eb are
// the user's callback and errback, either of which may be nil.
type step struct {
	cb     func(any) any
	eb     func(error) any
	waiter *Deferred
	chain  *Deferred
}

// New returns a Deferred that has not fired yet.
//
// The canceller, if not nil, is called by [Deferred.Cancel] when the
// Deferred is cancelled before it fires. It should stop the underlying
// operation and may fire the Deferred itself; if it does not, Cancel fails
// the Deferred with [ErrCancelled].
func New(canceller func(d *Deferred)) *Deferred {
	return &Deferred{canceller: canceller}
}

// Succeed returns a Deferred that has already fired with the value v.
// The same restrictions on v apply as for [Deferred.Callback]; if v is
// invalid, Succeed panics.
func Succeed(v any) *Deferred {
	d := New(nil)
	if err := d.Callback(v); err != nil {
		panic(err)
	}
	return d
}

// Fail returns a Deferred that has already failed with err.
// It panics if err is nil.
func Fail(err error) *Deferred {
	d := New(nil)
	if e := d.Errback(err); e != nil {
		panic(e)
	}
	return d
}

// Callback fires d with the value v and runs the callback chain.
//
// It returns [ErrInvalidResult] without firing d if v is an error or a
// *Deferred, and [ErrAlreadyCalled] if d has already fired. After d has been
// cancelled with [ErrCancelled], the first later Callback or Errback is
// ignored and returns nil, so that the source of the result need not know
// about the cancellation.
func (d *Deferred) Callback(v any) error {
	switch v.(type) {
	case error, *Deferred:
		return ErrInvalidResult
	}
	return d.fire(v)
}

// Errback fires d with the failure err and runs the callback chain.
//
// It returns [ErrNilError] if err is nil. Otherwise it behaves like
// [Deferred.Callback].
func (d *Deferred) Errback(err error) error {
	if err == nil {
		return ErrNilError
	}
	return d.fire(err)
}

func (d *Deferred) fire(r any) error {
	if d.called {
		if d.suppress {
			d.suppress = false
			return nil
		}
		return ErrAlreadyCalled
	}
	d.called = true
	d.canceller = nil
	d.set(r)
	d.run()
	return nil
}

// AddCallbacks appends a step to the chain and returns d. The callback cb
// runs if the result at that point is a value, the errback eb if it is an
// error; a nil cb or eb passes the value or error through unchanged.
//
// If d has already fired and is not paused, the step runs before
// AddCallbacks returns.
func (d *Deferred) AddCallbacks(cb func(any) any, eb func(error) any) *Deferred {
	if cb == nil && eb == nil {
		return d
	}
	d.steps = append(d.steps, step{cb: cb, eb: eb})
	d.run()
	return d
}

// AddCallback appends a step that calls cb on success and passes failures
// through. It is shorthand for d.AddCallbacks(cb, nil).
func (d *Deferred) AddCallback(cb func(any) any) *Deferred {
	return d.AddCallbacks(cb, nil)
}

// AddErrback appends a step that calls eb on failure and passes values
// through. It is shorthand for d.AddCallbacks(nil, eb).
func (d *Deferred) AddErrback(eb func(error) any) *Deferred {
	return d.AddCallbacks(nil, eb)
}

// AddBoth appends a step that calls f with the current result whether it is
// a value or a failure. On the failure path, f receives the error as its
// argument, so f can tell the two apart with a type assertion.
func (d *Deferred) AddBoth(f func(any) any) *Deferred {
	if f == nil {
		return d
	}
	return d.AddCallbacks(f, func(err error) any { return f(err) })
}

// Chain appends a step that fires other with the result at that point of
// d's chain: a value is passed to other.Callback and a failure to
// other.Errback. The result of d then becomes nil, so a failure handed to
// other counts as handled in d. If other has already fired, d's result
// becomes [ErrAlreadyCalled] instead. Chain returns d; it panics if other
// is d.
func (d *Deferred) Chain(other *Deferred) *Deferred {
	if other == d {
		panic("deferred: Chain of a Deferred to itself")
	}
	d.steps = append(d.steps, step{chain: other})
	d.run()
	return d
}

// Cancel asks for the operation behind d to be abandoned.
//
// If d has not fired, Cancel calls its canceller (if any); if d has still
// not fired afterwards, Cancel fails it with [ErrCancelled] and arranges for
// the next Callback or Errback on d to be ignored. If d is paused waiting
// for a Deferred returned by one of its callbacks, Cancel cancels that
// Deferred instead. If d has fired and is not paused, Cancel does nothing.
func (d *Deferred) Cancel() {
	for d.called && d.paused {
		d = d.inner
	}
	if d.called {
		return
	}
	if c := d.canceller; c != nil {
		d.canceller = nil // a canceller that calls Cancel must not loop
		c(d)
		if d.called {
			return
		}
	}
	d.suppress = true
	d.fire(ErrCancelled)
}

// Called reports whether d has been given a result, by Callback, Errback,
// Cancel, Succeed or Fail.
func (d *Deferred) Called() bool { return d.called }

// Paused reports whether d's chain is waiting for a Deferred that one of
// its callbacks returned.
func (d *Deferred) Paused() bool { return d.paused }

// Result returns the result at the end of d's chain so far. If the chain is
// on the success path, v is the value and err is nil; if it is on the
// failure path, err is the error. ok is false, and v and err are nil, if d
// has not fired, is paused, or is running its callbacks.
//
// Reading a failure with Result counts as handling it: it will not be
// reported as unhandled when d is garbage-collected.
func (d *Deferred) Result() (v any, err error, ok bool) {
	if !d.called || d.paused || d.running {
		return nil, nil, false
	}
	if err, isErr := d.result.(error); isErr {
		d.handled = true
		d.settle()
		return nil, err, true
	}
	return d.result, nil, true
}

// set replaces the current result.
func (d *Deferred) set(r any) {
	d.result = r
	d.handled = false
}

// run processes the pending steps of d and of every Deferred its steps hand
// a result to. Hand-offs are kept on an explicit stack rather than made by
// recursive calls, so arbitrarily long chains of Deferreds use bounded
// goroutine stack.
func (d *Deferred) run() {
	if !d.called || d.paused || d.running {
		// Not ready, or a run loop further up the stack will see the
		// new steps.
		return
	}
	d.running = true
	var buf [8]*Deferred
	work := append(buf[:0], d)
	for len(work) > 0 {
		cur := work[len(work)-1]
		work = work[:len(work)-1]
		if next := cur.advance(); next != nil {
			// Finish next first, then come back to the rest of cur.
			work = append(work, cur, next)
			continue
		}
		cur.running = false
		cur.settle()
	}
}

// advance runs d's steps until the chain ends, pauses, or must hand a
// result to another Deferred. In the last case it returns that Deferred,
// which is marked running and must be processed before d continues.
func (d *Deferred) advance() *Deferred {
	for d.pos < len(d.steps) && !d.paused {
		s := d.steps[d.pos]
		d.steps[d.pos] = step{} // release the closures
		d.pos++

		if w := s.waiter; w != nil {
			w.set(d.result)
			d.set(nil)
			w.paused, w.inner, w.running = false, nil, true
			return w
		}
		if o := s.chain; o != nil {
			if !o.called {
				o.called, o.canceller, o.running = true, nil, true
				o.set(d.result)
				d.set(nil)
				return o
			}
			if o.suppress {
				o.suppress = false
				d.set(nil)
			} else {
				d.set(ErrAlreadyCalled)
			}
			continue
		}

		var r any
		if err, isErr := d.result.(error); isErr {
			if s.eb == nil {
				continue
			}
			r = s.eb(err)
		} else {
			if s.cb == nil {
				continue
			}
			r = s.cb(d.result)
		}
		d.set(r)
		if in, ok := r.(*Deferred); ok {
			d.wait(in)
		}
	}
	if d.pos == len(d.steps) {
		d.steps, d.pos = d.steps[:0], 0
	}
	return nil
}

// wait makes the Deferred in, returned by one of d's callbacks, supply d's
// next result: at once if in has finished, otherwise by pausing d until in
// reaches the step that resumes d.
func (d *Deferred) wait(in *Deferred) {
	switch {
	case in == nil:
		d.set(ErrInvalidResult)
	case in == d:
		d.set(errSelfWait)
	case in.called && !in.paused && !in.running:
		d.set(in.result)
		in.set(nil) // d now owns the result, failure included
		in.settle()
	default:
		d.set(nil)
		d.paused, d.inner = true, in
		in.steps = append(in.steps, step{waiter: d})
	}
}
