//go:build unix

package poll

import (
	"errors"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre/internal/fdio"
)

// recorder is a handler that records the events it gets, and may run a
// function when called.
type recorder struct {
	name string
	log  *[]string
	evs  []fdio.Interest
	on   func()
}

func (r *recorder) Ready(ev fdio.Interest) {
	r.evs = append(r.evs, ev)
	if r.log != nil {
		*r.log = append(*r.log, r.name)
	}
	if r.on != nil {
		r.on()
	}
}

// take returns the events recorded so far, and forgets them.
func (r *recorder) take() []fdio.Interest {
	evs := r.evs
	r.evs = nil
	return evs
}

func newTestPoller(t *testing.T) *poller {
	t.Helper()
	p, err := newPoller()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// pipe returns a non-blocking pipe closed at the end of the test.
func pipe(t *testing.T) (r, w int) {
	t.Helper()
	r, w, err := selfPipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(r)
		unix.Close(w)
	})
	return r, w
}

// pass waits with timeout and dispatches.
func pass(t *testing.T, p *poller, timeout time.Duration) {
	t.Helper()
	if _, err := p.Wait(timeout); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	p.Dispatch()
}

func write(t *testing.T, fd int) {
	t.Helper()
	if _, err := unix.Write(fd, []byte("x")); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func expect(t *testing.T, what string, got []fdio.Interest, want ...fdio.Interest) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got events %v, want %v", what, got, want)
	}
}

func TestReadiness(t *testing.T) {
	p := newTestPoller(t)
	r, w := pipe(t)
	hr, hw := &recorder{}, &recorder{}
	if err := p.Add(r, hr, fdio.In); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(w, hw, fdio.Out); err != nil {
		t.Fatal(err)
	}

	pass(t, p, 0)
	expect(t, "empty pipe, read end", hr.take())
	expect(t, "empty pipe, write end", hw.take(), fdio.Out)

	write(t, w)
	pass(t, p, 0)
	expect(t, "pipe with data, read end", hr.take(), fdio.In)
	expect(t, "pipe with data, write end", hw.take(), fdio.Out)

	// Level-triggered: unread data is reported again.
	pass(t, p, 0)
	expect(t, "unread data", hr.take(), fdio.In)
	hw.take()

	// Modify: stop watching the write end; watch the read end for both.
	if err := p.Modify(w, 0); err != nil {
		t.Fatal(err)
	}
	if err := p.Modify(r, fdio.In|fdio.Out); err != nil {
		t.Fatal(err)
	}
	pass(t, p, 0)
	expect(t, "write end watched for nothing", hw.take())
	expect(t, "read end watched for In|Out", hr.take(), fdio.In)
	if err := p.Modify(r, 0); err != nil {
		t.Fatal(err)
	}
	if err := p.Modify(w, fdio.Out); err != nil {
		t.Fatal(err)
	}
	pass(t, p, 0)
	expect(t, "read end watched for nothing", hr.take())
	expect(t, "write end watched again", hw.take(), fdio.Out)

	// Remove: no more events.
	if err := p.Remove(w); err != nil {
		t.Fatal(err)
	}
	if err := p.Modify(r, fdio.In); err != nil {
		t.Fatal(err)
	}
	pass(t, p, 0)
	expect(t, "removed write end", hw.take())
	expect(t, "read end", hr.take(), fdio.In)
}

func TestHangUp(t *testing.T) {
	p := newTestPoller(t)
	r, w, err := selfPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(r)
	hr := &recorder{}
	if err := p.Add(r, hr, fdio.In); err != nil {
		t.Fatal(err)
	}
	unix.Close(w)
	pass(t, p, 10*time.Second)
	// Reported as In only: the handler asked for nothing else.
	expect(t, "hang-up", hr.take(), fdio.In)

	// Watched for nothing, a hang-up is not reported (and does not wake
	// the poller: Wait(20ms) must time out).
	if err := p.Modify(r, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pass(t, p, 20*time.Millisecond)
	expect(t, "hang-up of a descriptor watched for nothing", hr.take())
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("Wait(20ms) returned after %v", d)
	}
}

func TestRegistrationErrors(t *testing.T) {
	p := newTestPoller(t)
	r, _ := pipe(t)
	if err := p.Modify(r, fdio.In); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Modify of an unregistered descriptor: %v, want ENOENT", err)
	}
	if err := p.Remove(r); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Remove of an unregistered descriptor: %v, want ENOENT", err)
	}
	if err := p.Add(r, &recorder{}, fdio.In); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(r, &recorder{}, fdio.In); !errors.Is(err, unix.EEXIST) {
		t.Errorf("second Add: %v, want EEXIST", err)
	}
	if err := p.Add(p.rfd, &recorder{}, fdio.In); !errors.Is(err, unix.EEXIST) {
		t.Errorf("Add of the wake-up pipe: %v, want EEXIST", err)
	}
	if err := p.Add(-1, &recorder{}, fdio.In); !errors.Is(err, unix.EBADF) {
		t.Errorf("Add(-1): %v, want EBADF", err)
	}
}

// TestRemoveDuringDispatch registers a batch of readable pipes and removes
// descriptors from inside the handlers: a removed descriptor is not
// reported, even when its event is already in the batch.
func TestRemoveDuringDispatch(t *testing.T) {
	p := newTestPoller(t)
	const n = 8
	var order []string
	rs := make([]int, n)
	hs := make([]*recorder, n)
	for i := range n {
		r, w := pipe(t)
		write(t, w)
		rs[i] = r
		hs[i] = &recorder{name: string(rune('a' + i)), log: &order}
		if err := p.Add(r, hs[i], fdio.In); err != nil {
			t.Fatal(err)
		}
	}
	// The first handler to run removes itself and every odd-numbered
	// other; later ones run as usual.
	first := true
	for i := range n {
		hs[i].on = func() {
			if !first {
				return
			}
			first = false
			if err := p.Remove(rs[i]); err != nil {
				t.Errorf("Remove(own): %v", err)
			}
			for j := 1; j < n; j += 2 {
				if j != i {
					if err := p.Remove(rs[j]); err != nil {
						t.Errorf("Remove(%d): %v", j, err)
					}
				}
			}
		}
	}
	if _, err := p.Wait(0); err != nil {
		t.Fatal(err)
	}
	if len(p.ready) != n {
		t.Fatalf("Wait found %d ready, want %d", len(p.ready), n)
	}
	p.Dispatch()
	if len(order) == 0 {
		t.Fatal("no handler ran")
	}
	firstIdx := int(order[0][0] - 'a')
	want := 1 // the first handler
	for i := 0; i < n; i += 2 {
		if i != firstIdx {
			want++
		}
	}
	if len(order) != want {
		t.Errorf("handlers run: %v, want %d of them", order, want)
	}
	for _, name := range order[1:] {
		i := int(name[0] - 'a')
		if i%2 == 1 || i == firstIdx {
			t.Errorf("handler %s ran after its descriptor was removed (order %v)", name, order)
		}
	}
	for i, h := range hs {
		if len(h.evs) > 1 {
			t.Errorf("handler %d ran %d times", i, len(h.evs))
		}
	}
	// The rest are still registered and reported; the removed are not.
	for _, h := range hs {
		h.take()
		h.on = nil
	}
	pass(t, p, 0)
	for i, h := range hs {
		got := len(h.take())
		want := 1
		if i%2 == 1 || i == firstIdx {
			want = 0
		}
		if got != want {
			t.Errorf("next pass: handler %d ran %d times, want %d", i, got, want)
		}
	}
}

// TestReuseDuringDispatch: a handler removes and closes a descriptor whose
// event is in the batch, and registers another under the same number; the
// new registration must not get the old one's event.
func TestReuseDuringDispatch(t *testing.T) {
	p := newTestPoller(t)
	r1, w1 := pipe(t)
	r2, w2, err := selfPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(w2)
	write(t, w1)
	write(t, w2)
	fresh := &recorder{}
	var h1, h2 *recorder
	closed := false
	swap := func(victim int) {
		if closed {
			return
		}
		closed = true
		if err := p.Remove(victim); err != nil {
			t.Errorf("Remove: %v", err)
		}
		// Make victim's number name a descriptor with nothing to read.
		er, _ := pipe(t)
		if err := unix.Dup2(er, victim); err != nil {
			t.Fatalf("dup2: %v", err)
		}
		if err := p.Add(victim, fresh, fdio.In); err != nil {
			t.Errorf("Add: %v", err)
		}
	}
	h1 = &recorder{on: func() { swap(r2) }}
	h2 = &recorder{on: func() { swap(r1) }}
	if err := p.Add(r1, h1, fdio.In); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(r2, h2, fdio.In); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(r2) // by now, a dup of an empty pipe, or the original
	pass(t, p, 0)
	if got := len(h1.evs) + len(h2.evs); got != 1 {
		t.Errorf("%d of the two handlers ran, want 1", got)
	}
	expect(t, "new registration under a reused number", fresh.take())
}

func TestWake(t *testing.T) {
	p := newTestPoller(t)
	r, _ := pipe(t)
	h := &recorder{}
	if err := p.Add(r, h, fdio.In); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	woke := make(chan struct{})
	go func() {
		<-woke
		p.Wake()
	}()
	go func() {
		found, err := p.Wait(-1)
		if err == nil && !found {
			err = errors.New("Wait(-1) ended by a wake-up reported nothing found")
		}
		done <- err
	}()
	close(woke)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wake did not end Wait(-1)")
	}
	p.Dispatch()
	expect(t, "handler after a wake-up", h.take())

	// Many wake-ups (more than a pipe holds) never block, and one
	// Dispatch drains them all: the next wait times out.
	for range 200000 {
		p.Wake()
	}
	pass(t, p, 10*time.Second)
	start := time.Now()
	pass(t, p, 20*time.Millisecond)
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("Wait(20ms) after a drain returned after %v: the pipe was not drained", d)
	}

	// A wake-up before Wait(-1) also ends it.
	p.Wake()
	go func() {
		_, err := p.Wait(-1)
		done <- err
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("earlier Wake did not end Wait(-1)")
	}
	p.Dispatch()
}

func TestTimeout(t *testing.T) {
	p := newTestPoller(t)
	r, _ := pipe(t)
	if err := p.Add(r, &recorder{}, fdio.In); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{time.Microsecond, 15 * time.Millisecond} {
		start := time.Now()
		pass(t, p, d)
		if got := time.Since(start); got < d {
			t.Errorf("Wait(%v) returned after %v", d, got)
		}
	}
	for _, c := range []struct {
		d    time.Duration
		want int
	}{
		{-1, -1},
		{-time.Hour, -1},
		{0, 0},
		{1, 1},
		{time.Millisecond, 1},
		{time.Millisecond + 1, 2},
		{1<<63 - 1, 1<<31 - 1},
	} {
		if got := msec(c.d); got != c.want {
			t.Errorf("msec(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

// openFDs counts the process's open descriptors, or returns -1 where it
// cannot.
func openFDs(t *testing.T) int {
	t.Helper()
	if runtime.GOOS != "linux" {
		return -1
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func TestCloseReleasesDescriptors(t *testing.T) {
	before := openFDs(t)
	p, err := newPoller()
	if err != nil {
		t.Fatal(err)
	}
	r, w := pipe(t)
	if err := p.Add(r, &recorder{}, fdio.In); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(w, &recorder{}, fdio.Out); err != nil {
		t.Fatal(err)
	}
	pass(t, p, 0)
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	p.Wake() // after Close: a no-op, not a write to a reused number
	unix.Close(r)
	unix.Close(w)
	if before < 0 {
		t.Skip("open descriptors are counted only on Linux")
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open before, %d after Close", before, after)
	}
}

func TestReactorReleasesDescriptors(t *testing.T) {
	before := openFDs(t)
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CallWhenRunning(func() { r.Stop() }); err != nil {
		t.Fatal(err)
	}
	if err := r.Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if before < 0 {
		t.Skip("open descriptors are counted only on Linux")
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open before, %d after the reactor stopped", before, after)
	}
}
