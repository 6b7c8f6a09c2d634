//go:build unix

package fdio

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/internal/loop"
)

// readBufSize is the size of the read buffer shared by all the connections
// of one loop: the most one read hands to DataReceived.
const readBufSize = 64 << 10

// Net implements gyre.TCP and gyre.Unix for one loop over a readiness Poller.
type Net struct {
	l *loop.Loop
	p Poller

	rbuf []byte // shared read buffer
	oob  []byte // shared control-message buffer for Unix sockets

	ports      map[*port]struct{}
	connectors map[*connector]struct{}
	dgram      *dgramSet   // datagram ports (dgram.go), nil until the first
	procs      *procSet    // child processes (process.go), nil until the first
	factories  map[any]int // ports and connectors using each FactoryStarter

	pending       []loss // connections whose loss is to be reported
	pendingQueued bool
	runPendingFn  func()

	reserve int // a descriptor held back to accept-and-close under EMFILE; -1 if none
	stopped bool
}

// New returns the stream facets of loop l over poller p, and arranges for
// them to close everything during shutdown.
func New(l *loop.Loop, p Poller) *Net {
	n := &Net{
		l:          l,
		p:          p,
		ports:      make(map[*port]struct{}),
		connectors: make(map[*connector]struct{}),
		factories:  make(map[any]int),
		reserve:    -1,
	}
	n.runPendingFn = n.runPending
	l.OnShutdown(n.shutdown)
	return n
}

// readBuf returns the shared read buffer, allocating it on first use.
func (n *Net) readBuf() []byte {
	if n.rbuf == nil {
		n.rbuf = make([]byte, readBufSize)
	}
	return n.rbuf
}

// loss is a connection's loss waiting to be reported.
type loss struct {
	c      *conn
	reason error
}

// later reports c's loss on a coming pass of the loop, never inside the
// call that caused it.
func (n *Net) later(c *conn, reason error) {
	n.pending = append(n.pending, loss{c, reason})
	if !n.pendingQueued {
		n.pendingQueued = true
		if err := n.l.CallFromThread(n.runPendingFn); err != nil {
			n.pendingQueued = false
		}
	}
}

func (n *Net) runPending() {
	n.pendingQueued = false
	for len(n.pending) > 0 {
		l := n.pending[0]
		n.pending[0] = loss{}
		n.pending = n.pending[1:]
		l.c.finish(l.reason)
	}
	n.pending = n.pending[:0]
}

// shutdown is the reactor's disconnect-all: ports stop listening, attempts
// are cancelled, connections close.
func (n *Net) shutdown() {
	n.stopped = true
	for p := range n.ports {
		p.StopListening()
	}
	n.shutdownDatagrams()
	n.shutdownProcesses()
	for c := range n.connectors {
		if c.state == stateResolving || c.state == stateConnecting || c.state == stateCancelled {
			c.fail(gyre.ErrUserCancelled)
		}
	}
	var open []*conn
	n.p.Each(func(h Handler) {
		if c, ok := h.(*conn); ok {
			open = append(open, c)
		}
	})
	for _, c := range open {
		c.closeWith(gyre.ErrConnectionDone)
	}
	n.runPending()
	if n.reserve >= 0 {
		unix.Close(n.reserve)
		n.reserve = -1
	}
}

// startFactory counts one more port or connector using f.
func (n *Net) startFactory(f any) {
	s, ok := f.(gyre.FactoryStarter)
	if !ok {
		return
	}
	n.factories[f]++
	if n.factories[f] == 1 {
		n.l.Call(s.StartFactory)
	}
}

// stopFactory counts one fewer.
func (n *Net) stopFactory(f any) {
	s, ok := f.(gyre.FactoryStarter)
	if !ok {
		return
	}
	n.factories[f]--
	if n.factories[f] <= 0 {
		delete(n.factories, f)
		n.l.Call(s.StopFactory)
	}
}

// ensureReserve holds one descriptor back, so that under EMFILE a listener
// can still accept a connection in order to close it.
func (n *Net) ensureReserve() {
	if n.reserve < 0 {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			n.reserve = fd
		}
	}
}

// lostErr wraps a system error as a lost connection.
func lostErr(op string, err error) error {
	if err == unix.ECONNREFUSED {
		return fmt.Errorf("%w: %w", gyre.ErrConnectionRefused, os.NewSyscallError(op, err))
	}
	return fmt.Errorf("%w: %w", gyre.ErrConnectionLost, os.NewSyscallError(op, err))
}

// connectErr maps the error of a connection attempt.
func connectErr(err error) error {
	var sentinel error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOENT):
		sentinel = gyre.ErrConnectionRefused
	case errors.Is(err, syscall.ETIMEDOUT):
		sentinel = gyre.ErrTimeout
	default:
		sentinel = gyre.ErrConnectionLost
	}
	return fmt.Errorf("%w: %w", sentinel, os.NewSyscallError("connect", err))
}
