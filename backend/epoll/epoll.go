//go:build linux

// Package epoll is gyre's Linux backend: a reactor that waits in epoll_wait
// and is woken from other goroutines through an eventfd. Wake-ups coalesce:
// however many calls are queued from other goroutines between two passes of
// the loop, the eventfd is written at most once.
//
// Busy descriptors (fdio.BusyPoller: the datagram ports) leave the epoll set
// while the loop polls without sleeping, and are watched with poll(2)
// instead; they go back into the set before the loop sleeps. A descriptor in
// an epoll set stays on its socket's wait queue, so every datagram that
// arrives calls into epoll on the sender's CPU, busy loop or not; poll(2)
// with a zero timeout joins no wait queue. In a UDP echo benchmark with the
// load generator on the other CPU this was worth 3-11% of throughput.
package epoll

import (
	"cmp"
	"math"
	"os"
	"slices"
	"sync"
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

	_ gyre.UDP          = (*Reactor)(nil)
	_ gyre.Multicast    = (*Reactor)(nil)
	_ gyre.UnixDatagram = (*Reactor)(nil)
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
	epfd   int
	wakefd int
	events []unix.EpollEvent
	n      int     // events found by the last Wait
	fds    int     // descriptors registered besides the eventfd
	regs   [][]reg // pages of regPage registrations, by descriptor number
	gen    int32
	mu     sync.RWMutex // Wake against Close
	closed bool
	parked bool // Park was called: the next Wait collects even an idle wake-up

	busy   []int         // descriptors marked busy (MarkBusy)
	pfds   []unix.PollFd // the poll(2) set of a Wait(0): busy ones set aside, then epfd
	ready  []int         // busy descriptors set aside that the last Wait found ready
	parkFd []unix.PollFd // what Block waits for: epfd, then busy ones set aside (made by Park)
}

// regPage is how many registrations one page of the table holds. The table
// grows a page at a time, so growing it never copies it.
const regPage = 512

// reg is the registration of one descriptor, by descriptor number.
type reg struct {
	h        fdio.Handler
	interest fdio.Interest
	gen      int32 // carried in each event, so that an event for a closed
	// descriptor is not delivered to a new one that got the same number
	// within one batch
	busy  bool // marked busy: set aside while the loop polls without sleeping
	fired bool // busy, and its last event came from the epoll set
	aside bool // set aside: out of the epoll set, watched with poll(2)
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
func (p *poller) Wait(timeout time.Duration) (bool, error) {
	p.n = 0
	if timeout == 0 && p.fds == 0 && !p.parked {
		// Only the eventfd is registered, and a wake-up has nothing to
		// deliver that the queue does not already hold: skip the call.
		// (After a Block it must be collected, or the next Block would
		// find it still pending.)
		return false, nil
	}
	p.parked = false
	p.ready = p.ready[:0]
	if len(p.busy) > 0 {
		if timeout == 0 {
			return p.pollAside()
		}
		if err := p.restore(); err != nil {
			return false, err
		}
	}
	return p.epollWait(timeout)
}

func (p *poller) epollWait(timeout time.Duration) (bool, error) {
	n, err := unix.EpollWait(p.epfd, p.events, msec(timeout))
	if err != nil {
		if err == unix.EINTR {
			return false, nil
		}
		return false, os.NewSyscallError("epoll_wait", err)
	}
	p.n = n
	return n > 0, nil
}

// pollAside is Wait(0) when descriptors are marked busy. It sets aside the
// busy descriptors that the epoll set has just reported ready (an idle one
// stays in the set, costing nothing), then polls those set aside and the
// epoll descriptor in one poll(2) call, and collects the epoll set's events
// only if it has any.
func (p *poller) pollAside() (bool, error) {
	p.pfds = p.pfds[:0]
	for _, fd := range p.busy {
		r := p.reg(fd)
		if r.fired && !r.aside && r.interest == fdio.In {
			if err := p.ctl(unix.EPOLL_CTL_DEL, fd, r); err == nil {
				r.aside = true
			} // else it stays in the set, which is merely slower
		}
		r.fired = false
		if r.aside {
			p.pfds = append(p.pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
	}
	if len(p.pfds) == 0 {
		return p.epollWait(0)
	}
	p.pfds = append(p.pfds, unix.PollFd{Fd: int32(p.epfd), Events: unix.POLLIN})
	if _, err := unix.Poll(p.pfds, 0); err != nil {
		if err == unix.EINTR {
			return false, nil
		}
		return false, os.NewSyscallError("poll", err)
	}
	last := len(p.pfds) - 1
	for _, pfd := range p.pfds[:last] {
		if pfd.Revents&^unix.POLLNVAL != 0 {
			p.ready = append(p.ready, int(pfd.Fd))
		}
	}
	if p.pfds[last].Revents&unix.POLLIN == 0 {
		return len(p.ready) > 0, nil
	}
	found, err := p.epollWait(0)
	return found || len(p.ready) > 0, err
}

// restore puts the busy descriptors set aside back into the epoll set, before
// the loop sleeps. One that cannot be put back stays aside, and the error is
// returned; the next Wait tries again.
func (p *poller) restore() error {
	var first error
	for _, fd := range p.busy {
		if r := p.reg(fd); r.aside {
			if err := p.ctl(unix.EPOLL_CTL_ADD, fd, r); err != nil {
				first = cmp.Or(first, err)
				continue
			}
			r.aside = false
		}
	}
	return first
}

// MarkBusy implements fdio.BusyPoller.
func (p *poller) MarkBusy(fd int) {
	if r := p.reg(fd); r != nil && r.h != nil && !r.busy {
		r.busy = true
		p.busy = append(p.busy, fd)
	}
}

// unmarkBusy forgets that fd is busy, and that it was set aside.
func (p *poller) unmarkBusy(fd int, r *reg) {
	if r.busy {
		p.busy = slices.DeleteFunc(p.busy, func(b int) bool { return b == fd })
	}
	r.busy, r.fired, r.aside = false, false, false
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

// Park implements loop.Parker. Busy descriptors set aside are waited for by
// Block beside the epoll descriptor.
func (p *poller) Park() {
	p.parked = true
	p.parkFd = append(p.parkFd[:0], unix.PollFd{Fd: int32(p.epfd), Events: unix.POLLIN})
	for _, fd := range p.busy {
		if p.reg(fd).aside {
			p.parkFd = append(p.parkFd, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
	}
}

// Block implements loop.Parker: the epoll descriptor is readable while any
// registered descriptor (the eventfd included) has an event to collect, so
// waiting for it consumes nothing, and registrations changed meanwhile count
// at once. Busy descriptors set aside when Park ran are polled beside it: one
// removed and closed meanwhile at worst ends the Block early, and one put
// back in the set meanwhile is seen through the epoll descriptor.
func (p *poller) Block(timeout time.Duration) error {
	_, err := unix.Poll(p.parkFd, msec(timeout))
	if err != nil && err != unix.EINTR {
		return os.NewSyscallError("poll", err)
	}
	return nil
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
		// A handler run earlier in this batch may have removed fd, or
		// changed what it waits for.
		r := p.reg(fd)
		if r == nil || r.h == nil || r.gen != e.Pad {
			continue
		}
		var ev fdio.Interest
		if e.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			ev |= fdio.In
		}
		if e.Events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			ev |= fdio.Out
		}
		if ev &= r.interest; ev != 0 {
			r.fired = r.busy
			r.h.Ready(ev)
		}
	}
	p.n = 0
	// Busy descriptors set aside that poll(2) found ready. A handler run
	// before may have removed one or changed what it waits for; one removed
	// and replaced by a new descriptor with the same number is not aside.
	for _, fd := range p.ready {
		if r := p.reg(fd); r != nil && r.h != nil && r.aside {
			r.h.Ready(fdio.In)
		}
	}
	p.ready = p.ready[:0]
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

func (p *poller) ctl(op, fd int, r *reg) error {
	ev := unix.EpollEvent{Events: epollEvents(r.interest), Fd: int32(fd), Pad: r.gen}
	if err := unix.EpollCtl(p.epfd, op, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// reg returns fd's registration slot, or nil if the table has none yet.
func (p *poller) reg(fd int) *reg {
	if fd < 0 || fd/regPage >= len(p.regs) {
		return nil
	}
	return &p.regs[fd/regPage][fd%regPage]
}

// Add implements fdio.Poller.
func (p *poller) Add(fd int, h fdio.Handler, in fdio.Interest) error {
	for fd/regPage >= len(p.regs) {
		p.regs = append(p.regs, make([]reg, regPage))
	}
	p.gen++
	r := reg{h: h, interest: in, gen: p.gen}
	if in != 0 {
		if err := p.ctl(unix.EPOLL_CTL_ADD, fd, &r); err != nil {
			return err
		}
	}
	*p.reg(fd) = r
	p.fds++
	return nil
}

// Modify implements fdio.Poller. A descriptor that waits for nothing leaves
// the epoll set, since epoll would still report its hang-up or error on
// every pass and spin the loop.
func (p *poller) Modify(fd int, in fdio.Interest) error {
	r := p.reg(fd)
	if r == nil || r.h == nil {
		return os.NewSyscallError("epoll_ctl", unix.ENOENT)
	}
	old := r.interest
	r.interest = in
	if r.aside {
		// Out of the epoll set: only In keeps it aside.
		if in == fdio.In {
			return nil
		}
		r.aside = false
		old = 0
	}
	switch {
	case old == in:
		return nil
	case old == 0:
		return p.ctl(unix.EPOLL_CTL_ADD, fd, r)
	case in == 0:
		return p.ctl(unix.EPOLL_CTL_DEL, fd, r)
	}
	return p.ctl(unix.EPOLL_CTL_MOD, fd, r)
}

// Remove implements fdio.Poller.
func (p *poller) Remove(fd int) error {
	slot := p.reg(fd)
	if slot == nil || slot.h == nil {
		return nil
	}
	r := *slot
	p.unmarkBusy(fd, slot)
	*slot = reg{}
	p.fds--
	if r.interest != 0 && !r.aside {
		return p.ctl(unix.EPOLL_CTL_DEL, fd, &r)
	}
	return nil
}

// Each implements fdio.Poller.
func (p *poller) Each(f func(h fdio.Handler)) {
	var hs []fdio.Handler
	for _, page := range p.regs {
		for i := range page {
			if h := page[i].h; h != nil {
				hs = append(hs, h)
			}
		}
	}
	for _, h := range hs {
		f(h)
	}
}

var one = [8]byte{1, 0, 0, 0, 0, 0, 0, 0}

// Wake implements loop.Poller.
func (p *poller) Wake() {
	p.mu.RLock()
	if !p.closed {
		// EAGAIN means the counter is saturated: the loop is awake anyway.
		unix.Write(p.wakefd, one[:])
	}
	p.mu.RUnlock()
}

// Close implements loop.Poller.
func (p *poller) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
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
