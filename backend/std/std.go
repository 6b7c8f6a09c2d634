// Package std is gyre's portable backend, built on the Go runtime's own
// netpoller through the standard library, so it runs on every operating
// system Go supports. The loop waits on a channel; work done by other
// goroutines (later, blocking reads on net.Conn values) reaches it as queued
// calls, and a wake-up is a non-blocking send on a channel of capacity one.
package std

import (
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/internal/loop"
)

// Reactor is a gyre.Reactor built on the standard library.
type Reactor struct {
	*loop.Loop
	p *poller
}

var _ gyre.Reactor = (*Reactor)(nil)

// New returns a reactor that has not yet run. It holds no operating system
// resources of its own.
func New(opts ...gyre.Option) (*Reactor, error) {
	p := &poller{wake: make(chan struct{}, 1), timer: time.NewTimer(time.Hour)}
	p.timer.Stop()
	return &Reactor{Loop: loop.New(p, gyre.Apply(opts...)), p: p}, nil
}

type poller struct {
	wake  chan struct{}
	timer *time.Timer
}

// Wait implements loop.Poller.
func (p *poller) Wait(timeout time.Duration) error {
	switch {
	case timeout == 0:
		select {
		case <-p.wake:
		default:
		}
	case timeout < 0:
		<-p.wake
	default:
		p.timer.Reset(timeout)
		select {
		case <-p.wake:
		case <-p.timer.C:
		}
		p.timer.Stop()
	}
	return nil
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

// Close implements loop.Poller.
func (p *poller) Close() error {
	p.timer.Stop()
	return nil
}
