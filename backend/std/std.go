// Package std is gyre's portable backend, built on the Go runtime's own
// netpoller through the standard library, so it runs on every operating
// system Go supports. The loop waits on a channel; work done by other
// goroutines (later, blocking reads on net.Conn values) reaches it as queued
// calls, and a wake-up is a non-blocking send on a channel of capacity one.
//
// # Streams
//
// The Reactor implements gyre.TCP and gyre.Unix over package net. Every
// protocol and factory callback runs on the loop goroutine; goroutines only
// do the blocking work and hand their results to the loop with
// CallFromThread, through method values bound once per connection, so that
// reading and writing allocate nothing per event once a connection is up.
//
//   - Each connection has one reader goroutine, which reads into two
//     buffers of 32 KiB (readBufSize) in turn and hands each read to the
//     loop. Before each read it takes one of two tokens, and the loop gives
//     a buffer's token back once the protocol has had its bytes, so the
//     reader is at most one read ahead of the protocol, and in a
//     request-response exchange it never waits for the loop. PauseProducing
//     keeps the tokens back: at most two reads wait in the transport,
//     the rest stays in the kernel, and nothing is lost. The second buffer
//     is allocated on its first use, so an idle connection has one.
//   - On Unix systems, a Write with nothing queued before it goes straight
//     to the (non-blocking) socket from the loop, through the connection's
//     syscall.RawConn, as much as the socket takes at once; so does SendFDs.
//     Elsewhere, and for whatever the socket does not take, the bytes are
//     copied into a pending buffer owned by the loop. A writer goroutine,
//     started by the first write that has to wait, takes the whole pending
//     buffer at once (the loop swaps it with the writer's empty one, so the
//     loop never blocks), writes it with blocking writes and reports back to
//     the loop when it is done; that is where the producers' water marks,
//     LoseConnection's flush and LoseWriteConnection's shutdown are handled.
//     Writing first on the loop keeps the water marks honest: bytes count
//     as buffered only once the kernel has refused them.
//   - Each listening port has an accept goroutine, each connection attempt a
//     dialing goroutine (name resolution included), cancelled by
//     StopConnecting, Disconnect or shutdown.
//
// When the reactor shuts down, its own During "shutdown" step closes every
// port, cancels every attempt and closes every connection (see
// disconnectAll), and the reactor waits for all of its goroutines to exit
// before Run returns.
package std

import (
	"io"
	"log/slog"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/internal/loop"
)

// Reactor is a gyre.Reactor built on the standard library. It also
// implements gyre.TCP and gyre.Unix.
type Reactor struct {
	*loop.Loop
	p *poller

	// Loop goroutine only.
	down       bool // shutdown has closed every port, attempt and connection
	seq        uint64
	ports      map[*port]struct{}
	connectors map[*connector]struct{} // attempts under way or failing
	conns      map[*conn]struct{}
	dports     map[*dgramPort]struct{}
	procs      map[*process]struct{} // children not yet ended
	factories  map[gyre.FactoryStarter]int

	// Every goroutine the reactor starts, so that it can wait for them.
	wg sync.WaitGroup
	// A descriptor held back for shedding connections under EMFILE.
	spare reserve
	// Sockets that goroutines have opened and not yet handed to the loop.
	mu       sync.Mutex
	inflight map[io.Closer]struct{}
}

var (
	_ gyre.Reactor = (*Reactor)(nil)
	_ gyre.TCP     = (*Reactor)(nil)
	_ gyre.Unix    = (*Reactor)(nil)

	_ gyre.UDP          = (*Reactor)(nil)
	_ gyre.Multicast    = (*Reactor)(nil)
	_ gyre.UnixDatagram = (*Reactor)(nil)
)

// New returns a reactor that has not yet run. It holds no operating system
// resources of its own.
func New(opts ...gyre.Option) (*Reactor, error) {
	p := &poller{wake: make(chan struct{}, 1), timer: time.NewTimer(time.Hour)}
	p.timer.Stop()
	cfg := gyre.Apply(opts...)
	// Everything reaches this loop as a queued call on a channel; while it
	// waits, the Go runtime spins by itself before it sleeps.
	cfg.SpinWait = -1
	r := &Reactor{
		Loop:       loop.New(p, cfg),
		p:          p,
		ports:      make(map[*port]struct{}),
		connectors: make(map[*connector]struct{}),
		conns:      make(map[*conn]struct{}),
		dports:     make(map[*dgramPort]struct{}),
		procs:      make(map[*process]struct{}),
		factories:  make(map[gyre.FactoryStarter]int),
		inflight:   make(map[io.Closer]struct{}),
	}
	p.release = r.release
	r.OnShutdown(r.disconnectAll)
	return r, nil
}

type poller struct {
	wake    chan struct{}
	timer   *time.Timer
	release func()
}

// Wait implements loop.Poller.
//
// After a wake-up that found the loop asleep, Wait yields once before it
// returns. The wake-up came from a goroutine that queued a call (a reader
// with bytes, say), and the Go scheduler runs the goroutine it wakes next:
// without the yield, the loop would run that one call and sleep again before
// the other goroutines the runtime's poller has made runnable had queued
// theirs, one wake-up and one sleep per call. Yielding lets them queue
// first (without waking the loop again: its wake-up is still pending), so
// one pass runs them all; with 100 connections echoing, about ten calls a
// pass instead of one.
func (p *poller) Wait(timeout time.Duration) (bool, error) {
	switch {
	case timeout == 0:
		select {
		case <-p.wake:
			return true, nil
		default:
			return false, nil
		}
	case timeout < 0:
		<-p.wake
		runtime.Gosched()
		return true, nil
	}
	p.timer.Reset(timeout)
	defer p.timer.Stop()
	select {
	case <-p.wake:
		runtime.Gosched()
		return true, nil
	case <-p.timer.C:
		return false, nil
	}
}

// Park implements loop.Parker; there is nothing to prepare.
func (p *poller) Park() {}

// Block implements loop.Parker. Everything the backend learns arrives as a
// queued call, whose wake-up is all Block has to wait for; taking the wake-up
// token here loses nothing, since the loop finds queued calls by itself.
func (p *poller) Block(timeout time.Duration) error {
	_, err := p.Wait(timeout)
	return err
}

// Dispatch implements loop.Poller. Everything the std backend learns from
// other goroutines arrives as queued calls, which the loop runs itself.
func (p *poller) Dispatch() {}

// Wake implements loop.Poller.
func (p *poller) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Close implements loop.Poller. It runs once the loop's queue is closed, so
// no goroutine of the reactor can hand it anything any more; it closes what
// is still open and waits for them all to exit.
func (p *poller) Close() error {
	p.timer.Stop()
	if p.release != nil {
		p.release()
	}
	return nil
}

// logger returns the loop's logger.
func (r *Reactor) logger() *slog.Logger { return r.Logger() }

// later runs f on the loop in a later callback. It is used from the loop
// itself, for notifications that must not happen inside the call that
// caused them. Once the queue is closed there is nothing left to notify.
func (r *Reactor) later(f func()) { _ = r.CallFromThread(f) }

// safely calls f, logging a panic instead of letting it unwind.
func (r *Reactor) safely(f func()) {
	defer r.recoverLog()
	f()
}

func (r *Reactor) recoverLog() {
	if v := recover(); v != nil {
		r.logPanic(v)
	}
}

func (r *Reactor) logPanic(v any) {
	r.logger().Error("gyre: panic in callback", "panic", v, "stack", string(debug.Stack()))
}

func (r *Reactor) nextSeq() uint64 {
	r.seq++
	return r.seq
}

// track records a socket a goroutine has opened for the loop, so that it is
// closed even if the loop never takes it.
func (r *Reactor) track(c io.Closer) {
	r.mu.Lock()
	r.inflight[c] = struct{}{}
	r.mu.Unlock()
}

func (r *Reactor) untrack(c io.Closer) {
	r.mu.Lock()
	delete(r.inflight, c)
	r.mu.Unlock()
}

// startFactory counts one more port or connector using f, calling
// StartFactory for the first.
func (r *Reactor) startFactory(f gyre.Factory) {
	fs, ok := f.(gyre.FactoryStarter)
	if !ok {
		return
	}
	if !reflect.TypeOf(fs).Comparable() {
		r.safely(fs.StartFactory)
		return
	}
	r.factories[fs]++
	if r.factories[fs] == 1 {
		r.safely(fs.StartFactory)
	}
}

// stopFactory counts one port or connector less using f, calling
// StopFactory after the last.
func (r *Reactor) stopFactory(f gyre.Factory) {
	fs, ok := f.(gyre.FactoryStarter)
	if !ok {
		return
	}
	if !reflect.TypeOf(fs).Comparable() {
		r.safely(fs.StopFactory)
		return
	}
	n := r.factories[fs] - 1
	if n > 0 {
		r.factories[fs] = n
		return
	}
	delete(r.factories, fs)
	r.safely(fs.StopFactory)
}

// disconnectAll runs in the reactor's own During "shutdown" step: every port
// stops listening, every connection attempt fails with ErrUserCancelled and
// every connection is closed at once with ErrConnectionDone. Every callback
// this causes has run when it returns.
func (r *Reactor) disconnectAll() {
	defer r.spare.release()
	if r.down {
		return
	}
	r.down = true
	ports := sortedBySeq(r.ports, func(p *port) uint64 { return p.seq })
	for _, p := range ports {
		p.shutdown()
	}
	dports := sortedBySeq(r.dports, func(p *dgramPort) uint64 { return p.seq })
	for _, p := range dports {
		p.shutdown()
	}
	cns := sortedBySeq(r.connectors, func(c *connector) uint64 { return c.seq })
	for _, c := range cns {
		c.shutdown()
	}
	conns := sortedBySeq(r.conns, func(c *conn) uint64 { return c.seq })
	for _, c := range conns {
		c.shutdown()
	}
	r.shutdownProcs()
}

// release runs when the reactor has stopped, from the poller's Close. After a
// normal shutdown disconnectAll has closed everything already; after a crash
// during shutdown it has not, and the rest is closed without callbacks. Then
// it waits for every goroutine of the reactor to exit.
func (r *Reactor) release() {
	defer r.spare.release()
	r.down = true
	for p := range r.ports {
		p.closeListener()
	}
	for p := range r.dports {
		p.closeSocket()
	}
	for c := range r.connectors {
		c.abandon()
	}
	for c := range r.conns {
		c.closeSocket()
	}
	r.releaseProcs()
	r.mu.Lock()
	for c := range r.inflight {
		_ = c.Close()
	}
	clear(r.inflight)
	r.mu.Unlock()
	r.wg.Wait()
}

func sortedBySeq[T comparable](m map[T]struct{}, seq func(T) uint64) []T {
	out := make([]T, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b T) int {
		sa, sb := seq(a), seq(b)
		switch {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return 0
	})
	return out
}
