package interleave_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
	"github.com/gyre-go/gyre/interleave"
	"github.com/gyre-go/gyre/reactor"
)

// stressCycles is how many start/stop cycles TestStress runs; the
// environment variable GYRE_STRESS_CYCLES overrides it.
const stressCycles = 1000

// TestStress starts and stops interleaved reactors a thousand times, on every
// backend, in both shutdown orders, with wakers that deliver late, twice or
// not at all, and with connections, timers and calls from other goroutines in
// flight. It checks that no cycle hangs, that every call accepted by
// CallFromThread runs exactly once, that every connection made is reported
// lost, and that no goroutine or descriptor is left behind.
func TestStress(t *testing.T) {
	cycles := stressCycles
	if s := os.Getenv("GYRE_STRESS_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("GYRE_STRESS_CYCLES=%q: %v", s, err)
		}
		cycles = n
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (set GYRE_STRESS_SEED to repeat)", seed)
	if s := os.Getenv("GYRE_STRESS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 1))

	// A plain echo server for the connections gyre makes.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var echoes sync.WaitGroup
	defer func() {
		ln.Close()
		echoes.Wait()
	}()
	echoes.Add(1)
	go func() {
		defer echoes.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			echoes.Add(1)
			go func() {
				defer echoes.Done()
				defer conn.Close()
				buf := make([]byte, 512)
				for {
					n, err := conn.Read(buf)
					if err != nil {
						return
					}
					if _, err := conn.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()

	baseG, baseFD := runtime.NumGoroutine(), fdCount()
	backends := reactor.Backends()
	orders := [2]int{}
	start := time.Now()
	for i := 0; i < cycles; i++ {
		sc := stressCycle{
			backend:      backends[i%len(backends)],
			foreignFirst: rng.IntN(2) == 1,
			waker:        rng.IntN(4),
			startInside:  rng.IntN(2) == 1,
			conns:        rng.IntN(3),
			timers:       rng.IntN(8),
			calls:        rng.IntN(8),
			endAfter:     time.Duration(rng.IntN(3000)) * time.Microsecond,
			addr:         ln.Addr().String(),
			rng:          rand.New(rand.NewPCG(rng.Uint64(), 2)),
		}
		if sc.foreignFirst {
			orders[1]++
		} else {
			orders[0]++
		}
		if err := sc.run(); err != nil {
			t.Fatalf("cycle %d (%+v): %v", i, sc, err)
		}
		if i%100 == 99 || i == cycles-1 {
			if err := settle(baseG, baseFD); err != nil {
				t.Fatalf("after cycle %d: %v", i, err)
			}
		}
	}
	t.Logf("%d cycles (gyre first %d, foreign loop first %d) in %v", cycles, orders[0], orders[1], time.Since(start))
}

type stressCycle struct {
	backend      string
	foreignFirst bool          // the foreign loop ends first, then Finish
	waker        int           // 0 direct, 1 late, 2 duplicated, 3 drops some
	startInside  bool          // Start from inside the running foreign loop
	conns        int           // connections to the echo server
	timers       int           // timers in flight
	calls        int           // CallFromThread calls from other goroutines
	endAfter     time.Duration // when Stop (or the foreign loop's end) comes
	addr         string
	rng          *rand.Rand
}

func (sc stressCycle) String() string {
	return fmt.Sprintf("%s foreignFirst=%v waker=%d inside=%v conns=%d timers=%d calls=%d end=%v",
		sc.backend, sc.foreignFirst, sc.waker, sc.startInside, sc.conns, sc.timers, sc.calls, sc.endAfter)
}

// foreignLoop runs posted funcs on one goroutine until quit.
type foreignLoop struct {
	mu    sync.Mutex
	fs    []func()
	ready chan struct{}
	quit  chan struct{}
	late  sync.WaitGroup
	n     atomic.Int64
}

func (f *foreignLoop) post(fn func()) {
	f.mu.Lock()
	f.fs = append(f.fs, fn)
	f.mu.Unlock()
	select {
	case f.ready <- struct{}{}:
	default:
	}
}

func (f *foreignLoop) run() {
	for {
		select {
		case <-f.quit:
			return
		case <-f.ready:
		}
		f.mu.Lock()
		fs := f.fs
		f.fs = nil
		f.mu.Unlock()
		for _, fn := range fs {
			select {
			case <-f.quit:
				return // the loop has ended: the rest is never run
			default:
			}
			fn()
		}
	}
}

func (sc stressCycle) run() error {
	r, err := reactor.NewBackend(sc.backend, gyre.WithoutSignalHandlers())
	if err != nil {
		return err
	}
	f := &foreignLoop{ready: make(chan struct{}, 1), quit: make(chan struct{})}
	var quitOnce sync.Once
	endLoop := func() { quitOnce.Do(func() { close(f.quit) }) }
	waker := func(fn func()) {
		switch k := f.n.Add(1); sc.waker {
		case 1:
			f.late.Add(1)
			go func() {
				defer f.late.Done()
				time.Sleep(time.Duration(k%3) * 100 * time.Microsecond)
				f.post(fn)
			}()
		case 2:
			f.post(fn)
			f.post(fn)
		case 3:
			if k%3 == 0 {
				return
			}
			f.post(fn)
		default:
			f.post(fn)
		}
	}

	var accepted, ran atomic.Int64 // CallFromThread calls
	made, lost := 0, 0             // connections (loop only)
	var callers sync.WaitGroup
	stopAt := func() {
		if sc.foreignFirst {
			endLoop()
		} else {
			_ = r.Stop()
		}
	}
	_, err = r.CallWhenRunning(func() {
		for i := 0; i < sc.timers; i++ {
			_, _ = r.CallLater(time.Duration(sc.rng.IntN(2000))*time.Microsecond, func() {})
		}
		_, _ = r.CallLater(sc.endAfter, stopAt)
		for i := 0; i < sc.conns; i++ {
			_, err := r.(gyre.TCP).ConnectTCP(sc.addr, &gyre.ClientCallbacks{
				Build: func(net.Addr) gyre.Protocol {
					return &stressProto{made: &made, lost: &lost}
				},
			})
			if err != nil {
				panic(err)
			}
		}
		callers.Add(1)
		go func() {
			defer callers.Done()
			for i := 0; i < sc.calls; i++ {
				if r.CallFromThread(func() { ran.Add(1) }) == nil {
					accepted.Add(1)
				}
			}
		}()
	})
	if err != nil {
		return err
	}
	// A Before trigger that takes a few turns, and an After trigger that
	// ends the foreign loop (gyre first).
	_, _ = r.AddSystemEventTrigger(gyre.Before, gyre.Shutdown, func() *deferred.Deferred {
		d := deferred.New(nil)
		_, _ = r.CallLater(time.Duration(sc.rng.IntN(500))*time.Microsecond, func() { d.Callback(nil) })
		return d
	})
	_, _ = r.AddSystemEventTrigger(gyre.After, gyre.Shutdown, func() *deferred.Deferred {
		if !sc.foreignFirst {
			endLoop()
		}
		return nil
	})

	var il *interleave.Interleaver
	var startErr error
	loopDone := make(chan struct{})
	if !sc.startInside {
		il, startErr = interleave.Start(r, waker)
		if startErr != nil {
			return startErr
		}
	}
	go func() {
		defer close(loopDone)
		if sc.startInside {
			// Start on the foreign loop's goroutine, once it runs.
			f.post(func() { il, startErr = interleave.Start(r, waker) })
		}
		f.run()
		if sc.foreignFirst {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := il.Finish(ctx); err != nil {
				startErr = fmt.Errorf("Finish: %w", err)
			}
		}
	}()
	select {
	case <-loopDone:
	case <-time.After(20 * time.Second):
		return fmt.Errorf("the foreign loop did not end (%d wake-ups)", f.n.Load())
	}
	if startErr != nil {
		return startErr
	}
	select {
	case <-il.Done():
	case <-time.After(10 * time.Second):
		return fmt.Errorf("Done not closed")
	}
	if err := il.Err(); err != nil {
		return fmt.Errorf("Err: %w", err)
	}
	callers.Wait()
	f.late.Wait()
	if a, n := accepted.Load(), ran.Load(); a != n {
		return fmt.Errorf("%d calls accepted by CallFromThread, %d ran", a, n)
	}
	if made != lost {
		return fmt.Errorf("%d connections made, %d reported lost", made, lost)
	}
	if err := r.Run(); err != gyre.ErrNotRestartable {
		return fmt.Errorf("Run after the shutdown: %v", err)
	}
	return nil
}

type stressProto struct {
	t          gyre.Transport
	made, lost *int
}

func (p *stressProto) ConnectionMade(t gyre.Transport) {
	p.t = t
	*p.made++
	_ = t.Write([]byte("hello"))
}
func (p *stressProto) DataReceived(b []byte) { _ = p.t.Write(b[:1]) }
func (p *stressProto) ConnectionLost(error)  { *p.lost++ }

// settle waits for the goroutine and descriptor counts to come back to the
// baseline.
func settle(baseG, baseFD int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, fd := runtime.NumGoroutine(), fdCount()
		if g <= baseG && fd <= baseFD {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			return fmt.Errorf("%d goroutines (baseline %d), %d descriptors (baseline %d)\n%s",
				g, baseG, fd, baseFD, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fdCount() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}
