//go:build unix

// Package poll is gyre's portable Unix backend: a reactor that waits in
// poll(2), so it runs wherever there is a POSIX poll, and is woken from other
// goroutines through a non-blocking self-pipe. On Linux the epoll backend is
// the default; poll is the default on the other Unix systems.
//
// The descriptors watched are kept in one dense array handed to poll as it
// is: adding appends, removing moves the last entry into the hole, and the
// self-pipe's read end stays first. Wake-ups coalesce as in every backend:
// however many calls are queued from other goroutines between two passes of
// the loop, the pipe is written at most once, and a full pipe is taken to
// mean that the loop is awake already.
package poll

import (
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/internal/fdio"
	"github.com/gyre-go/gyre/internal/loop"
)

// Reactor is a gyre.Reactor backed by poll(2). Its TCP and Unix facets are
// package fdio's, shared with the epoll backend.
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

// New returns a reactor that has not yet run. It holds the two ends of a pipe
// until it has stopped.
func New(opts ...gyre.Option) (*Reactor, error) {
	p, err := newPoller()
	if err != nil {
		return nil, err
	}
	l := loop.New(p, gyre.Apply(opts...))
	return &Reactor{Loop: l, Net: fdio.New(l, p), p: p}, nil
}

// entry is a registered descriptor; entries[i] describes fds[i].
type entry struct {
	fd  int
	h   fdio.Handler
	in  fdio.Interest
	gen uint64 // tells this registration from a later one of the same number
}

// ready is one descriptor that the last Wait found ready.
type ready struct {
	fd  int
	gen uint64
	ev  fdio.Interest
}

type poller struct {
	rfd, wfd int // the self-pipe

	// fds is what poll(2) gets; fds[0] is the pipe's read end. A descriptor
	// watched for nothing keeps its place with Fd -1, which poll ignores,
	// so that a hang-up it cannot act on does not make the loop spin.
	fds      []unix.PollFd
	entries  []entry // entries[0] is unused (the pipe)
	index    []int32 // by descriptor number: its position in fds, 0 if none
	watching int     // registered descriptors with a non-empty interest
	gen      uint64

	ready []ready // found by the last Wait, run by Dispatch
	woken bool    // the pipe was readable

	// wmu keeps Wake, which any goroutine may call, from writing to the
	// pipe once Close has let its number go.
	wmu    sync.RWMutex
	closed bool

	// Driving from a foreign loop: Block polls a copy of fds, taken by
	// Park; while parked, every change of the set wakes it, so that it
	// polls the new set.
	parked  bool
	blocked []unix.PollFd
}

func newPoller() (*poller, error) {
	rfd, wfd, err := selfPipe()
	if err != nil {
		return nil, err
	}
	p := &poller{
		rfd:     rfd,
		wfd:     wfd,
		fds:     make([]unix.PollFd, 1, 64),
		entries: make([]entry, 1, 64),
	}
	p.fds[0] = unix.PollFd{Fd: int32(rfd), Events: unix.POLLIN}
	return p, nil
}

// Wait implements loop.Poller.
func (p *poller) Wait(timeout time.Duration) (bool, error) {
	p.ready = p.ready[:0]
	p.woken = false
	if timeout == 0 && p.watching == 0 && !p.parked {
		// Only the pipe is watched, and a wake-up has nothing to deliver
		// that the queue does not already hold: skip the call. (After a
		// Block it must be collected, or the next Block would find it
		// still pending.)
		return false, nil
	}
	p.parked = false
	n, err := unix.Poll(p.fds, msec(timeout))
	if err != nil {
		if err == unix.EINTR || err == unix.EAGAIN {
			return false, nil
		}
		return false, os.NewSyscallError("poll", err)
	}
	// Take a snapshot: handlers run by Dispatch may add and remove
	// descriptors, which reorders fds.
	for i := 0; n > 0 && i < len(p.fds); i++ {
		rev := p.fds[i].Revents
		if rev == 0 {
			continue
		}
		n--
		if i == 0 {
			p.woken = true
			continue
		}
		var ev fdio.Interest
		if rev&(unix.POLLIN|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
			ev |= fdio.In
		}
		if rev&(unix.POLLOUT|unix.POLLHUP|unix.POLLERR) != 0 {
			ev |= fdio.Out
		}
		e := &p.entries[i]
		p.ready = append(p.ready, ready{fd: e.fd, gen: e.gen, ev: ev})
	}
	return p.woken || len(p.ready) > 0, nil
}

// msec converts a timeout to poll's milliseconds, rounding up so that a timer
// is never woken for early and then spun on.
// Park implements loop.Parker.
func (p *poller) Park() {
	p.blocked = append(p.blocked[:0], p.fds...)
	p.parked = true
}

// Block implements loop.Parker.
func (p *poller) Block(timeout time.Duration) error {
	_, err := unix.Poll(p.blocked, msec(timeout))
	if err != nil && err != unix.EINTR && err != unix.EAGAIN {
		return os.NewSyscallError("poll", err)
	}
	return nil
}

// changed wakes a Block that polls an outdated copy of the set.
func (p *poller) changed() {
	if p.parked {
		p.Wake()
	}
}

func msec(d time.Duration) int {
	if d < 0 {
		return -1
	}
	if d >= math.MaxInt32*time.Millisecond {
		return math.MaxInt32
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// Dispatch implements loop.Poller. A descriptor is reported only if it is
// still registered (the same registration that poll saw), and only with the
// events it is still watched for: a handler run earlier in the batch may
// have removed it, or paused it.
func (p *poller) Dispatch() {
	if p.woken {
		p.woken = false
		p.drain()
	}
	rs := p.ready
	for k := range rs {
		r := rs[k]
		i := p.lookup(r.fd)
		if i == 0 || p.entries[i].gen != r.gen {
			continue
		}
		ev := r.ev & p.entries[i].in
		if ev == 0 {
			continue
		}
		// Ready may add or remove descriptors: don't hold on to entries.
		p.entries[i].h.Ready(ev)
	}
	p.ready = rs[:0]
}

// drain empties the self-pipe.
func (p *poller) drain() {
	var buf [128]byte
	for {
		n, err := unix.Read(p.rfd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n < len(buf) {
			return
		}
	}
}

// lookup returns fd's position in fds, or 0 if it is not registered.
func (p *poller) lookup(fd int) int {
	if fd < 0 || fd >= len(p.index) {
		return 0
	}
	return int(p.index[fd])
}

func pollFd(fd int, in fdio.Interest) unix.PollFd {
	pfd := unix.PollFd{Fd: int32(fd)}
	if in&fdio.In != 0 {
		pfd.Events |= unix.POLLIN
	}
	if in&fdio.Out != 0 {
		pfd.Events |= unix.POLLOUT
	}
	if pfd.Events == 0 {
		pfd.Fd = -1
	}
	return pfd
}

func (p *poller) count(in fdio.Interest, delta int) {
	if in&(fdio.In|fdio.Out) != 0 {
		p.watching += delta
	}
}

// Add implements fdio.Poller.
func (p *poller) Add(fd int, h fdio.Handler, in fdio.Interest) error {
	if fd < 0 || fd > math.MaxInt32 {
		return fmt.Errorf("poll: add descriptor %d: %w", fd, unix.EBADF)
	}
	if p.closed {
		return fmt.Errorf("poll: add descriptor %d: poller closed: %w", fd, unix.EBADF)
	}
	if p.lookup(fd) != 0 || fd == p.rfd {
		return fmt.Errorf("poll: add descriptor %d: %w", fd, unix.EEXIST)
	}
	if fd >= len(p.index) {
		p.index = append(p.index, make([]int32, fd+1-len(p.index))...)
	}
	p.gen++
	p.index[fd] = int32(len(p.fds))
	p.fds = append(p.fds, pollFd(fd, in))
	p.entries = append(p.entries, entry{fd: fd, h: h, in: in, gen: p.gen})
	p.count(in, 1)
	p.changed()
	return nil
}

// Modify implements fdio.Poller.
func (p *poller) Modify(fd int, in fdio.Interest) error {
	i := p.lookup(fd)
	if i == 0 {
		return fmt.Errorf("poll: modify descriptor %d: %w", fd, unix.ENOENT)
	}
	p.count(p.entries[i].in, -1)
	p.count(in, 1)
	p.entries[i].in = in
	p.fds[i] = pollFd(fd, in)
	p.changed()
	return nil
}

// Remove implements fdio.Poller.
func (p *poller) Remove(fd int) error {
	i := p.lookup(fd)
	if i == 0 {
		return fmt.Errorf("poll: remove descriptor %d: %w", fd, unix.ENOENT)
	}
	p.count(p.entries[i].in, -1)
	last := len(p.fds) - 1
	if i != last {
		p.fds[i] = p.fds[last]
		p.entries[i] = p.entries[last]
		p.index[p.entries[i].fd] = int32(i)
	}
	p.entries[last] = entry{} // let the handler go
	p.fds = p.fds[:last]
	p.entries = p.entries[:last]
	p.index[fd] = 0
	return nil
}

var one = [1]byte{1}

// Each implements fdio.Poller.
func (p *poller) Each(f func(h fdio.Handler)) {
	hs := make([]fdio.Handler, 0, len(p.entries))
	for _, e := range p.entries[1:] {
		if e.h != nil {
			hs = append(hs, e.h)
		}
	}
	for _, h := range hs {
		f(h)
	}
}

// Wake implements loop.Poller.
func (p *poller) Wake() {
	p.wmu.RLock()
	defer p.wmu.RUnlock()
	if p.closed {
		return
	}
	// EAGAIN means the pipe is full: the loop is awake anyway.
	for {
		_, err := unix.Write(p.wfd, one[:])
		if err != unix.EINTR {
			return
		}
	}
}

// Close implements loop.Poller.
func (p *poller) Close() error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	err1 := unix.Close(p.wfd)
	err2 := unix.Close(p.rfd)
	clear(p.entries)
	p.fds, p.entries, p.index, p.ready = nil, nil, nil, nil
	p.watching = 0
	if err1 != nil {
		return os.NewSyscallError("close", err1)
	}
	if err2 != nil {
		return os.NewSyscallError("close", err2)
	}
	return nil
}

// selfPipe returns the read and write ends of a new pipe, both non-blocking
// and closed on exec.
func selfPipe() (r, w int, err error) {
	r, w, err = fdio.Pipe()
	if err != nil {
		return -1, -1, err
	}
	for _, fd := range [2]int{r, w} {
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(r)
			unix.Close(w)
			return -1, -1, os.NewSyscallError("fcntl", err)
		}
	}
	return r, w, nil
}
