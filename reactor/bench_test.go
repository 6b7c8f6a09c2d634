package reactor_test

// Benchmarks of the reactor core, each placed beside its natural peer from the
// standard library so that one `go test -bench` run compares the two:
//
//	BenchmarkCallLater        vs BenchmarkAfterFunc
//	BenchmarkCallLaterCancel  vs BenchmarkAfterFuncStop
//	BenchmarkCallFromThread   vs BenchmarkChanFunc
//	BenchmarkIterate          (no peer: the cost of an empty pass)
//
// The timer benchmarks keep b.N timers pending at once, so run them with a
// fixed count rather than a duration, for example
//
//	go test -run XXX -bench . -benchtime 1000000x ./reactor/
//
// otherwise the framework may ramp b.N up to tens of millions of live
// time.AfterFunc timers. See bench/README.md.

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/reactor"
)

// benchBackends are the backends measured, in the order they are reported.
var benchBackends = []string{"epoll", "poll", "std"}

// delays returns n pseudo-random delays in [0, 1s), the same on every call.
func delays(n int) []time.Duration {
	rng := rand.New(rand.NewPCG(1, 2))
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = time.Duration(rng.Int64N(int64(time.Second)))
	}
	return ds
}

func newReactor(b *testing.B, name string) gyre.Reactor {
	b.Helper()
	r, err := reactor.NewBackend(name)
	if err != nil {
		b.Fatalf("NewBackend(%q): %v", name, err)
	}
	return r
}

// closeIdle releases a reactor that was never run.
func closeIdle(b *testing.B, r gyre.Reactor) {
	b.Helper()
	if err := r.FireSystemEvent(gyre.Shutdown); err != nil {
		b.Fatalf("shutdown: %v", err)
	}
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// reportLive reports the live heap per pending timer, measured against the
// heap before the timers were made. It is meaningful only for a large b.N.
func reportLive(b *testing.B, before uint64) {
	if after := liveHeap(); after > before {
		b.ReportMetric(float64(after-before)/float64(b.N), "live-B/timer")
	} else {
		b.ReportMetric(0, "live-B/timer")
	}
}

func noop() {}

// BenchmarkCallLater schedules b.N calls with random delays under a second on
// a reactor that is not running, so none fires while it is measured.
func BenchmarkCallLater(b *testing.B) {
	for _, name := range benchBackends {
		b.Run(name, func(b *testing.B) {
			ds := delays(b.N)
			calls := make([]gyre.DelayedCall, b.N)
			r := newReactor(b, name)
			before := liveHeap()
			b.ReportAllocs()
			b.ResetTimer()
			for i, d := range ds {
				dc, err := r.CallLater(d, noop)
				if err != nil {
					b.Fatal(err)
				}
				calls[i] = dc
			}
			b.StopTimer()
			reportLive(b, before)
			for _, dc := range calls {
				if err := dc.Cancel(); err != nil {
					b.Fatal(err)
				}
			}
			closeIdle(b, r)
		})
	}
}

// BenchmarkAfterFunc is BenchmarkCallLater's peer: time.AfterFunc with the
// same delays. Timers that come due while it runs fire (each on a goroutine of
// its own), as they would in a program; the rest are stopped afterwards.
func BenchmarkAfterFunc(b *testing.B) {
	ds := delays(b.N)
	timers := make([]*time.Timer, b.N)
	before := liveHeap()
	b.ReportAllocs()
	b.ResetTimer()
	for i, d := range ds {
		timers[i] = time.AfterFunc(d, noop)
	}
	b.StopTimer()
	reportLive(b, before)
	for _, t := range timers {
		t.Stop()
	}
}

// BenchmarkCallLaterCancel schedules a call and cancels it at once, b.N times.
func BenchmarkCallLaterCancel(b *testing.B) {
	for _, name := range benchBackends {
		b.Run(name, func(b *testing.B) {
			ds := delays(b.N)
			r := newReactor(b, name)
			b.ReportAllocs()
			b.ResetTimer()
			for _, d := range ds {
				dc, err := r.CallLater(d, noop)
				if err != nil {
					b.Fatal(err)
				}
				if err := dc.Cancel(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if n := len(r.DelayedCalls()); n != 0 {
				b.Fatalf("%d calls still pending", n)
			}
			closeIdle(b, r)
		})
	}
}

// BenchmarkAfterFuncStop is BenchmarkCallLaterCancel's peer: time.AfterFunc
// followed at once by Stop.
func BenchmarkAfterFuncStop(b *testing.B) {
	ds := delays(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for _, d := range ds {
		// A delay of a few nanoseconds may fire before Stop: not an error.
		time.AfterFunc(d, noop).Stop()
	}
}

var producerCounts = []int{1, 4}

// share splits n calls among p producers.
func share(n, p, i int) int {
	s := n / p
	if i == 0 {
		s += n % p
	}
	return s
}

// BenchmarkCallFromThread has p goroutines queue b.N calls in all into a
// running reactor, and measures until the loop has run the last of them.
func BenchmarkCallFromThread(b *testing.B) {
	for _, p := range producerCounts {
		for _, name := range benchBackends {
			b.Run(fmt.Sprintf("producers=%d/%s", p, name), func(b *testing.B) {
				r := newReactor(b, name)
				started := make(chan struct{})
				if _, err := r.CallWhenRunning(func() { close(started) }); err != nil {
					b.Fatal(err)
				}
				ran := 0
				done := make(chan struct{})
				call := func() { // runs on the loop
					ran++
					if ran == b.N {
						close(done)
						_ = r.Stop()
					}
				}
				exited := make(chan error, 1)
				go func() { exited <- r.Run() }()
				<-started

				b.ReportAllocs()
				b.ResetTimer()
				var wg sync.WaitGroup
				for i := range p {
					wg.Add(1)
					go func(n int) {
						defer wg.Done()
						for range n {
							if err := r.CallFromThread(call); err != nil {
								b.Error(err)
								return
							}
						}
					}(share(b.N, p, i))
				}
				<-done
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mcalls/s")
				wg.Wait()
				if err := <-exited; err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkChanFunc is BenchmarkCallFromThread's peer: the same producers
// send the same closure on a channel of capacity 1024 that one goroutine
// drains and calls.
func BenchmarkChanFunc(b *testing.B) {
	for _, p := range producerCounts {
		b.Run(fmt.Sprintf("producers=%d/chan", p), func(b *testing.B) {
			ch := make(chan func(), 1024)
			ran := 0
			done := make(chan struct{})
			call := func() { // runs on the consumer
				ran++
				if ran == b.N {
					close(done)
				}
			}
			go func() {
				for f := range ch {
					f()
				}
			}()

			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for i := range p {
				wg.Add(1)
				go func(n int) {
					defer wg.Done()
					for range n {
						ch <- call
					}
				}(share(b.N, p, i))
			}
			<-done
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mcalls/s")
			wg.Wait()
			close(ch)
		})
	}
}

// BenchmarkIterate measures empty passes of the loop: Iterate(0) on a reactor
// with nothing queued, scheduled or registered.
func BenchmarkIterate(b *testing.B) {
	for _, name := range benchBackends {
		b.Run(name, func(b *testing.B) {
			r := newReactor(b, name)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := r.Iterate(0); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Miter/s")
			closeIdle(b, r)
		})
	}
}
