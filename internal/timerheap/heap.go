// Package timerheap is the timer queue shared by the reactor loop and the fake
// clock: a 4-ary min-heap of scheduled calls ordered by deadline and then by
// scheduling sequence, so calls due at the same instant run first in, first
// out. Cancelled calls leave the heap at once, so a workload that schedules
// and cancels many calls does not grow.
//
// A Heap is not safe for concurrent use: it belongs to one loop goroutine.
package timerheap

import (
	"fmt"
	"math"
	"time"

	"github.com/gyre-go/gyre"
)

const (
	statePending uint8 = iota
	stateCalled
	stateCancelled
)

// Timer is one scheduled call. It implements gyre.DelayedCall.
type Timer struct {
	when  int64 // deadline, nanoseconds on the heap's timeline
	index int32 // position in the heap, -1 when not in it
	state uint8
	f     func()
	h     *Heap
}

// entry is one heap slot. The deadline and sequence are kept beside the
// pointer, so that sifting compares without following it.
type entry struct {
	when int64
	seq  uint64
	t    *Timer
}

// slabSize is how many timers are allocated at once. Allocating in blocks
// halves the cost of CallLater; the price is that a handle kept alive keeps
// its block (slabSize*32 bytes) alive.
const slabSize = 64

// Heap holds the pending timers of one clock.
type Heap struct {
	items []entry
	seq   uint64
	slab  []Timer      // timers not yet handed out, allocated in blocks
	base  time.Time    // instant of timeline zero
	now   func() int64 // current position on the timeline

	// OnEarliest, if set, is called when a timer scheduled or moved
	// becomes the earliest one: a loop waiting elsewhere (see package
	// interleave) may need to wait less.
	OnEarliest func()
}

// New returns an empty heap whose timeline starts at base and whose current
// position is read from now (nanoseconds since base).
func New(base time.Time, now func() int64) *Heap {
	return &Heap{base: base, now: now}
}

// Len returns the number of pending timers.
func (h *Heap) Len() int { return len(h.items) }

// Seq returns the sequence number the next scheduled timer will get. A pass
// that runs due timers records it first, so that calls scheduled during the
// pass wait for a later one.
func (h *Heap) Seq() uint64 { return h.seq }

// Time converts a timeline position to a time.Time.
func (h *Heap) Time(t int64) time.Time { return h.base.Add(time.Duration(t)) }

// Schedule adds a call to f after d. d must not be negative.
func (h *Heap) Schedule(d time.Duration, f func()) *Timer {
	if len(h.slab) == 0 {
		h.slab = make([]Timer, slabSize)
	}
	t := &h.slab[0]
	h.slab = h.slab[1:]
	*t = Timer{f: f, h: h, index: -1, when: addSat(h.now(), d)}
	h.push(t)
	return t
}

// Next returns the deadline of the earliest timer, and false if there is none.
func (h *Heap) Next() (int64, bool) {
	if len(h.items) == 0 {
		return 0, false
	}
	return h.items[0].when, true
}

// PopDue removes and returns the earliest timer if it is due at now and was
// scheduled before sequence number before; otherwise it returns nil. The
// timer is marked called.
func (h *Heap) PopDue(now int64, before uint64) *Timer {
	if len(h.items) == 0 {
		return nil
	}
	e := h.items[0]
	if e.when > now || e.seq >= before {
		return nil
	}
	t := e.t
	h.remove(0)
	t.state = stateCalled
	return t
}

// Func returns the function the timer calls.
func (t *Timer) Func() func() { return t.f }

// Release drops the timer's reference to its function once it has run, so a
// handle kept by the user does not pin the closure.
func (t *Timer) Release() { t.f = nil }

// Pending returns the timers that are waiting, in heap order.
func (h *Heap) Pending() []gyre.DelayedCall {
	out := make([]gyre.DelayedCall, len(h.items))
	for i, e := range h.items {
		out[i] = e.t
	}
	return out
}

// Cancel implements gyre.DelayedCall.
func (t *Timer) Cancel() error {
	if err := t.check(); err != nil {
		return err
	}
	t.h.remove(int(t.index))
	t.state = stateCancelled
	t.f = nil
	return nil
}

// Reset implements gyre.DelayedCall.
func (t *Timer) Reset(d time.Duration) error {
	if err := t.check(); err != nil {
		return err
	}
	if d < 0 {
		return gyre.ErrNegativeDelay
	}
	t.move(addSat(t.h.now(), d))
	return nil
}

// Delay implements gyre.DelayedCall.
func (t *Timer) Delay(d time.Duration) error {
	if err := t.check(); err != nil {
		return err
	}
	if d < 0 {
		return gyre.ErrNegativeDelay
	}
	t.move(addSat(t.when, d))
	return nil
}

// Active implements gyre.DelayedCall.
func (t *Timer) Active() bool { return t.state == statePending }

// Time implements gyre.DelayedCall.
func (t *Timer) Time() time.Time { return t.h.Time(t.when) }

// String describes the call for logs; it never fails.
func (t *Timer) String() string {
	state := "pending"
	switch t.state {
	case stateCalled:
		state = "called"
	case stateCancelled:
		state = "cancelled"
	}
	return fmt.Sprintf("DelayedCall(%s, due %v)", state, time.Duration(t.when-t.h.now()))
}

func (t *Timer) check() error {
	switch t.state {
	case stateCalled:
		return gyre.ErrAlreadyCalled
	case stateCancelled:
		return gyre.ErrAlreadyCancelled
	}
	return nil
}

// move gives the timer a new deadline. It counts as scheduled anew, so it
// takes a fresh sequence number: among equal deadlines it runs last.
func (t *Timer) move(when int64) {
	h := t.h
	h.remove(int(t.index))
	t.when = when
	h.push(t)
}

func addSat(a int64, d time.Duration) int64 {
	if int64(d) > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + int64(d)
}

func less(a, b *entry) bool {
	return a.when < b.when || (a.when == b.when && a.seq < b.seq)
}

func (h *Heap) push(t *Timer) {
	seq := h.seq
	h.seq++
	if len(h.items) == cap(h.items) {
		// Double by hand: append grows large slices by only a quarter,
		// and each growth copies the whole array.
		items := make([]entry, len(h.items), max(64, 2*cap(h.items)))
		copy(items, h.items)
		h.items = items
	}
	h.items = append(h.items, entry{when: t.when, seq: seq, t: t})
	h.up(len(h.items) - 1)
	if t.index == 0 && h.OnEarliest != nil {
		h.OnEarliest()
	}
}

// remove takes the timer at index i out of the heap.
func (h *Heap) remove(i int) {
	last := len(h.items) - 1
	t := h.items[i].t
	if i != last {
		h.items[i] = h.items[last]
		h.items[i].t.index = int32(i)
	}
	h.items[last] = entry{}
	h.items = h.items[:last]
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
	t.index = -1
	h.shrink()
}

// shrink gives memory back after a burst: when the heap is using less than a
// quarter of its array, the array is halved.
func (h *Heap) shrink() {
	if c := cap(h.items); c > 256 && len(h.items) < c/4 {
		items := make([]entry, len(h.items), c/2)
		copy(items, h.items)
		h.items = items
	}
}

func (h *Heap) up(i int) {
	e := h.items[i]
	for i > 0 {
		p := (i - 1) / 4
		if !less(&e, &h.items[p]) {
			break
		}
		h.items[i] = h.items[p]
		h.items[i].t.index = int32(i)
		i = p
	}
	h.items[i] = e
	e.t.index = int32(i)
}

// down sifts the element at i toward the leaves and reports whether it moved.
func (h *Heap) down(i int) bool {
	n := len(h.items)
	e := h.items[i]
	start := i
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for j := c + 1; j < c+4 && j < n; j++ {
			if less(&h.items[j], &h.items[m]) {
				m = j
			}
		}
		if !less(&h.items[m], &e) {
			break
		}
		h.items[i] = h.items[m]
		h.items[i].t.index = int32(i)
		i = m
	}
	h.items[i] = e
	e.t.index = int32(i)
	return i != start
}
