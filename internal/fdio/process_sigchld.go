//go:build unix

package fdio

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Reaping without pidfds: one watcher for the whole program receives
// SIGCHLD through os/signal while any loop has a child to reap that way, and
// queues a pass on each such loop, which polls its own children with
// wait4(pid, WNOHANG). The watcher stops when the last of those children
// has been reaped.

var chld struct {
	mu   sync.Mutex
	nets map[*Net]int // children waiting to be reaped, per loop
	ch   chan os.Signal
	stop chan struct{}
}

// chldAcquire notes one more child of n to reap on SIGCHLD, starting the
// watcher if it is not running.
func chldAcquire(n *Net) {
	chld.mu.Lock()
	defer chld.mu.Unlock()
	if chld.nets == nil {
		chld.nets = make(map[*Net]int)
	}
	chld.nets[n]++
	if chld.ch == nil {
		chld.ch = make(chan os.Signal, 1)
		chld.stop = make(chan struct{})
		signal.Notify(chld.ch, syscall.SIGCHLD)
		go chldWatch(chld.ch, chld.stop)
	}
}

// chldRelease notes one fewer, stopping the watcher after the last.
func chldRelease(n *Net) {
	chld.mu.Lock()
	defer chld.mu.Unlock()
	if chld.nets[n]--; chld.nets[n] <= 0 {
		delete(chld.nets, n)
	}
	if len(chld.nets) == 0 && chld.ch != nil {
		signal.Stop(chld.ch)
		close(chld.stop)
		chld.ch, chld.stop = nil, nil
	}
}

func chldWatch(ch <-chan os.Signal, stop <-chan struct{}) {
	for {
		select {
		case <-ch:
			chld.mu.Lock()
			for n := range chld.nets {
				n.queueReapAll()
			}
			chld.mu.Unlock()
		case <-stop:
			return
		}
	}
}

// queueReapAll asks n's loop to poll its children; it may be called from
// any goroutine, and calls made before the pass runs are merged.
func (n *Net) queueReapAll() {
	s := n.procs
	if s.reapQueued.CompareAndSwap(false, true) {
		if err := n.l.CallFromThread(s.reapAllFn); err != nil {
			s.reapQueued.Store(false)
		}
	}
}
