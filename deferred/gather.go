package deferred

import "fmt"

// GatherError is the failure of a Deferred returned by [Gather] when one of
// its inputs fails.
type GatherError struct {
	Index int   // position of the failed input in the arguments to Gather
	Err   error // the failure of that input
}

// Error implements the error interface.
func (e *GatherError) Error() string {
	return fmt.Sprintf("deferred: gathered Deferred %d failed: %v", e.Index, e.Err)
}

// Unwrap returns e.Err, so that errors.Is and errors.As see the failure of
// the input.
func (e *GatherError) Unwrap() error { return e.Err }

// Gather returns a Deferred that waits for all of ds.
//
// If every input succeeds, the result is a []any holding their values in
// argument order. As soon as one input fails, the result is a *GatherError
// with the index and failure of that input, without waiting for the others.
// Gather consumes the failures of all its inputs, so none of them is
// reported as unhandled; after a failure, that input's own result becomes
// nil. Gather with no arguments returns a Deferred that has already fired
// with an empty []any.
//
// Cancelling the returned Deferred calls Cancel on every input, which
// cancels the inputs that have no result yet and leaves the others alone;
// the first input to fail then determines the *GatherError, which usually
// wraps [ErrCancelled].
func Gather(ds ...*Deferred) *Deferred {
	ds = append([]*Deferred(nil), ds...)
	results := make([]any, len(ds))
	if len(ds) == 0 {
		return Succeed(results)
	}
	out := New(func(*Deferred) {
		for _, d := range ds {
			d.Cancel()
		}
	})
	remaining := len(ds)
	for i, d := range ds {
		d.AddCallbacks(func(v any) any {
			results[i] = v
			if remaining--; remaining == 0 && !out.called {
				out.Callback(results)
			}
			return v
		}, func(err error) any {
			if !out.called {
				out.Errback(&GatherError{Index: i, Err: err})
			}
			return nil
		})
	}
	return out
}
