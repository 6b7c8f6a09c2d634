//go:build linux

// Package epoll is gyre's Linux backend: a reactor that waits in epoll_wait
// and is woken from other goroutines through an eventfd. Wake-ups coalesce:
// however many calls are queued from other goroutines between two passes of
// the loop, the eventfd is written at most once.
package epoll

import (
	"math"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/internal/fdio"
	"github.com/gyre-go/gyre/internal/loop"
)

// Reactor is a gyre.Reactor backed by epoll. Its TCP and Unix facets are
// package fdio's, shared with the poll backend.
type Reactor struct {
	*loop.Loop
	*fdio.Net
	p *poller
}

var (
	_ gyre.Reactor = (*Reactor)(nil)
	_ gyre.TCP     = (*Reactor)(nil)
	_ gyre.Unix    = (*Reactor)(nil)
)

// New returns a reactor that has not yet run. It holds an epoll descriptor and
// an eventfd until it has stopped.
func New(opts ...gyre.Option) (*Reactor, error) {
	p, err := newPoller()
	if err != nil {
		return nil, err
	}
	l := loop.New(p, gyre.Apply(opts...))
	return &Reactor{Loop: l, Net: fdio.New(l, p), p: p}, nil
}

type poller struct {
	epfd     int
	wakefd   int
	events   []unix.EpollEvent
	n        int            // events found by the last Wait
	fds      int            // descriptors registered besides the eventfd
	handlers []fdio.Handler // by descriptor number
}

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return &poller{epfd: epfd, wakefd: wakefd, events: make([]unix.EpollEvent, 128)}, nil
}

// Wait implements loop.Poller.
func (p *poller) Wait(timeout time.Duration) error {
	p.n = 0
	if timeout == 0 && p.fds == 0 {
		// Only the eventfd is registered, and a wake-up has nothing to
		// deliver that the queue does not already hold: skip the call.
		return nil
	}
	n, err := unix.EpollWait(p.epfd, p.events, msec(timeout))
	if err != nil {
		if err == unix.EINTR {
			return nil
		}
		return os.NewSyscallError("epoll_wait", err)
	}
	p.n = n
	return nil
}

// msec converts a timeout to epoll's milliseconds, rounding up so that a timer
// is never woken for early and then spun on.
func msec(d time.Duration) int {
	if d < 0 {
		return -1
	}
	if d >= math.MaxInt32*time.Millisecond {
		return math.MaxInt32
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// Dispatch implements loop.Poller.
func (p *poller) Dispatch() {
	for i := 0; i < p.n; i++ {
		e := &p.events[i]
		fd := int(e.Fd)
		if fd == p.wakefd {
			var buf [8]byte
			unix.Read(p.wakefd, buf[:])
			continue
		}
		// A handler run earlier in this batch may have removed fd.
		if fd >= len(p.handlers) || p.handlers[fd] == nil {
			continue
		}
		var ev fdio.Interest
		if e.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			ev |= fdio.In
		}
		if e.Events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			ev |= fdio.Out
		}
		p.handlers[fd].Ready(ev)
	}
	p.n = 0
}

func epollEvents(in fdio.Interest) uint32 {
	var ev uint32
	if in&fdio.In != 0 {
		ev |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if in&fdio.Out != 0 {
		ev |= unix.EPOLLOUT
	}
	return ev
}

// Add implements fdio.Poller.
func (p *poller) Add(fd int, h fdio.Handler, in fdio.Interest) error {
	ev := unix.EpollEvent{Events: epollEvents(in), Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	if fd >= len(p.handlers) {
		p.handlers = append(p.handlers, make([]fdio.Handler, fd+1-len(p.handlers))...)
	}
	p.handlers[fd] = h
	p.fds++
	return nil
}

// Modify implements fdio.Poller.
func (p *poller) Modify(fd int, in fdio.Interest) error {
	ev := unix.EpollEvent{Events: epollEvents(in), Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// Remove implements fdio.Poller.
func (p *poller) Remove(fd int) error {
	if fd < len(p.handlers) && p.handlers[fd] != nil {
		p.handlers[fd] = nil
		p.fds--
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

var one = [8]byte{1, 0, 0, 0, 0, 0, 0, 0}

// Wake implements loop.Poller.
func (p *poller) Wake() {
	// EAGAIN means the counter is saturated: the loop is awake anyway.
	unix.Write(p.wakefd, one[:])
}

// Close implements loop.Poller.
func (p *poller) Close() error {
	err1 := unix.Close(p.wakefd)
	err2 := unix.Close(p.epfd)
	if err1 != nil {
		return os.NewSyscallError("close", err1)
	}
	if err2 != nil {
		return os.NewSyscallError("close", err2)
	}
	return nil
}
