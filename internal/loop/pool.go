package loop

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/gyre-go/gyre"
)

const defaultPoolSize = 10

// pool is the worker pool behind CallInThread: at most max goroutines, started
// only when work arrives, all of them ended by stop.
type pool struct {
	log     *slog.Logger
	mu      sync.Mutex
	cond    sync.Cond
	jobs    []func()
	head    int
	max     int
	workers int
	idle    int
	stopped bool
	drained func() // called once the last worker has exited after stop
}

func newPool(size int, log *slog.Logger) *pool {
	p := &pool{max: size, log: log}
	p.cond.L = &p.mu
	return p
}

func (p *pool) submit(f func()) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return gyre.ErrPoolStopped
	}
	p.jobs = append(p.jobs, f)
	if p.idle > 0 {
		p.cond.Signal()
	} else if p.workers < p.max {
		p.workers++
		go p.work()
	}
	return nil
}

func (p *pool) resize(n int) error {
	if n < 1 {
		return gyre.ErrInvalidPoolSize
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.max = n
	// Start workers for queued jobs the new size allows; surplus workers
	// exit after their current job.
	for !p.stopped && p.workers < p.max && len(p.jobs)-p.head > p.idle+p.workers {
		p.workers++
		go p.work()
	}
	p.cond.Broadcast()
	return nil
}

// stop refuses new work; queued work still runs. drained (if not nil) is
// called once every worker has exited: from the last worker, or at once if
// none is running. A second stop only replaces a drained callback not yet
// called.
func (p *pool) stop(drained func()) {
	p.mu.Lock()
	p.stopped = true
	if drained != nil {
		p.drained = drained
	}
	done := p.workers == 0 && p.drained != nil
	if done {
		drained, p.drained = p.drained, nil
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	if done {
		drained()
	}
}

func (p *pool) work() {
	p.mu.Lock()
	for {
		for p.head == len(p.jobs) && !p.stopped && p.workers <= p.max {
			p.idle++
			p.cond.Wait()
			p.idle--
		}
		if p.head == len(p.jobs) || p.workers > p.max {
			break
		}
		f := p.jobs[p.head]
		p.jobs[p.head] = nil
		p.head++
		if p.head == len(p.jobs) {
			p.jobs, p.head = p.jobs[:0], 0
		}
		p.mu.Unlock()
		p.run(f)
		p.mu.Lock()
	}
	p.workers--
	var drained func()
	if p.workers == 0 && p.stopped {
		drained, p.drained = p.drained, nil
	}
	p.mu.Unlock()
	if drained != nil {
		drained()
	}
}

func (p *pool) run(f func()) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("gyre: panic in worker", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	f()
}

// callRecovering calls f and turns a panic into an error.
func callRecovering(f func() (any, error)) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gyre: panic in DeferToThread function: %v", r)
		}
	}()
	return f()
}
