package gyre

import "github.com/gyre-go/gyre/deferred"

// Threads connects a reactor to other goroutines.
type Threads interface {
	// CallFromThread queues f to run on the loop. It may be called from any
	// goroutine, wakes a waiting loop, and runs calls in the order queued.
	CallFromThread(f func()) error
	// CallInThread runs f on the reactor's worker pool, off the loop. It may
	// be called from any goroutine.
	CallInThread(f func()) error
	// DeferToThread runs f on the worker pool and returns a Deferred that
	// fires on the loop with f's result or error. Call it on the loop.
	DeferToThread(f func() (any, error)) *deferred.Deferred
	// SetThreadPoolSize sets how many workers the pool may run at once.
	SetThreadPoolSize(n int) error
}

// Reactor is every facet of a reactor together.
type Reactor interface {
	Core
	Clock
	Threads
}
