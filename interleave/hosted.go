package interleave

import (
	"sync"

	"github.com/gyre-go/gyre"
)

// Hosted makes r's Run and RunContext drive r through this package, with a
// minimal foreign loop of its own on the goroutine that calls Run: a queue of
// funcs that the waker appends to and that loop runs in order. Everything
// else about Run (its errors, Stop, Crash and running again after a crash,
// the context of RunContext) is unchanged; Iterate is not affected.
//
// It exists so that the whole conformance suite can run against an
// interleaved reactor (the "+interleave" columns of `gyre conformance`), and
// it shows in a few lines what a foreign loop has to do. It returns
// ErrUnsupported for a reactor not built by one of gyre's backends.
func Hosted(r gyre.Core) error {
	l, err := loopOf(r)
	if err != nil {
		return err
	}
	l.SetRunLoop(func() {
		var q funcQueue
		q.ready = make(chan struct{}, 1)
		il := start(l, q.post, true)
		for {
			select {
			case <-q.ready:
				q.runAll()
			case <-il.done:
				// The last turn left the loop and the helper has
				// exited; Run's epilogue does the rest.
				return
			}
		}
	})
	return nil
}

// funcQueue is the foreign loop of Hosted: any goroutine posts, the loop
// goroutine runs what was posted, in order.
type funcQueue struct {
	mu    sync.Mutex
	fs    []func()
	spare []func()
	ready chan struct{}
}

func (q *funcQueue) post(f func()) {
	q.mu.Lock()
	q.fs = append(q.fs, f)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *funcQueue) runAll() {
	q.mu.Lock()
	fs := q.fs
	q.fs = q.spare[:0]
	q.mu.Unlock()
	for i, f := range fs {
		fs[i] = nil
		f()
	}
	q.spare = fs[:0]
}
