package timerheap

import (
	"math/rand"
	"sort"
	"testing"
	"time"
)

// TestRandomAgainstSort schedules, cancels, resets and pops at random and
// checks the heap against a sorted reference.
func TestRandomAgainstSort(t *testing.T) {
	var now int64
	h := New(time.Unix(0, 0), func() int64 { return now })
	rng := rand.New(rand.NewSource(1))
	live := map[*Timer]bool{}
	order := map[*Timer]int{} // when each timer was last scheduled
	n := 0
	for step := 0; step < 20000; step++ {
		switch op := rng.Intn(10); {
		case op < 5:
			t := h.Schedule(time.Duration(rng.Intn(1000)), func() {})
			live[t] = true
			n++
			order[t] = n
		case op < 7 && len(live) > 0:
			for tm := range live {
				if err := tm.Cancel(); err != nil {
					t.Fatal(err)
				}
				delete(live, tm)
				break
			}
		case op < 8 && len(live) > 0:
			for tm := range live {
				if err := tm.Reset(time.Duration(rng.Intn(1000))); err != nil {
					t.Fatal(err)
				}
				n++
				order[tm] = n
				break
			}
		default:
			now += int64(rng.Intn(300))
			var want []*Timer
			for tm := range live {
				if tm.when <= now {
					want = append(want, tm)
				}
			}
			sort.Slice(want, func(i, j int) bool {
				return want[i].when < want[j].when || (want[i].when == want[j].when && order[want[i]] < order[want[j]])
			})
			for i, w := range want {
				got := h.PopDue(now, h.Seq())
				if got != w {
					t.Fatalf("step %d: pop %d: got %v, want %v", step, i, got, w)
				}
				delete(live, got)
				if got.Active() {
					t.Fatal("popped timer still active")
				}
			}
			if h.PopDue(now, h.Seq()) != nil {
				t.Fatal("popped a timer that is not due")
			}
		}
		if h.Len() != len(live) {
			t.Fatalf("step %d: Len %d, want %d", step, h.Len(), len(live))
		}
	}
}

func TestShrinkAfterCancel(t *testing.T) {
	h := New(time.Unix(0, 0), func() int64 { return 0 })
	ts := make([]*Timer, 100000)
	for i := range ts {
		ts[i] = h.Schedule(time.Duration(i), func() {})
	}
	for _, tm := range ts {
		tm.Cancel()
	}
	if c := cap(h.items); c > 512 {
		t.Errorf("heap array capacity %d after cancelling everything, want it given back", c)
	}
}

func TestSaturatingDeadline(t *testing.T) {
	h := New(time.Unix(0, 0), func() int64 { return 5 })
	tm := h.Schedule(time.Duration(1<<63-1), func() {})
	if tm.when != 1<<63-1 {
		t.Errorf("deadline overflowed: %d", tm.when)
	}
}
