//go:build unix

package fdio

// Child processes (gyre.Processes) for the readiness backends.
//
// A child is started with syscall.ForkExec (process_start.go) on pipes whose
// parent ends are non-blocking and registered with the Poller like any
// socket, or on a pseudo-terminal. Everything below runs on the loop:
//
//   - A pipe the child writes is read once per readiness event into the
//     loop's shared read buffer, as a connection is.
//   - A pipe the child reads is written straight away when nothing is
//     queued; what the pipe does not take is queued and flushed when it is
//     writable. It is also watched for reading: the only "readable" event a
//     pipe's write end ever reports is the error or hang-up that comes when
//     every reader has closed, so ChildConnectionLost comes even if the
//     parent never writes again.
//   - The child is reaped by its own process id only, never by "any child":
//     on Linux its pidfd is registered with the Poller and becomes readable
//     when it exits (process_reap_linux.go); elsewhere, and where pidfds are
//     missing, SIGCHLD wakes the loop and each child of the loop is polled
//     with wait4(pid, WNOHANG) (process_sigchld.go). Both leave os/exec's
//     children alone.
//
// A loss the protocol caused (CloseChildFD, LoseConnection, a broken write)
// and an exit found by Signal are reported on a later pass, through a queue
// of the Net; losses and exits the reactor finds itself are reported at
// once.

import (
	"fmt"
	"sort"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
)

var _ gyre.ProcessTransport = (*process)(nil)

// procSet is the children of one Net.
type procSet struct {
	live map[*process]struct{} // spawned, not yet ended or let go

	pending       []procEvent // reports waiting for a later pass
	pendingQueued bool
	runPendingFn  func()

	reapQueued atomic.Bool // a SIGCHLD pass is queued (process_sigchld.go)
	reapAllFn  func()
}

// procEvent is a report waiting for a later pass: the loss of pipe pp, or,
// if pp is nil, the exit of p.
type procEvent struct {
	p  *process
	pp *procPipe
}

func (n *Net) procSet() *procSet {
	if n.procs == nil {
		n.procs = &procSet{live: make(map[*process]struct{})}
		n.procs.runPendingFn = n.runProcPending
		n.procs.reapAllFn = n.reapAll
	}
	return n.procs
}

// procLater queues ev for a coming pass of the loop.
func (n *Net) procLater(ev procEvent) {
	s := n.procSet()
	s.pending = append(s.pending, ev)
	if !s.pendingQueued {
		s.pendingQueued = true
		if err := n.l.CallFromThread(s.runPendingFn); err != nil {
			s.pendingQueued = false
		}
	}
}

func (n *Net) runProcPending() {
	s := n.procs
	s.pendingQueued = false
	for len(s.pending) > 0 {
		ev := s.pending[0]
		s.pending[0] = procEvent{}
		s.pending = s.pending[1:]
		if ev.pp != nil {
			ev.p.reportLost(ev.pp)
		} else {
			ev.p.reportExited()
		}
	}
	s.pending = s.pending[:0]
}

type procState uint8

const (
	procRunning procState = iota
	procReaped            // exit status collected
	procEnded             // ProcessEnded has been called
	procLetGo             // the reactor stopped while the child ran
)

// process is a child and its transport.
type process struct {
	n     *Net
	proto gyre.ProcessProtocol
	pid   int
	state procState

	pidfd   int  // Linux: registered with the Poller while running; -1 if none
	sigchld bool // reaped through the SIGCHLD watcher instead

	pipes  []*procPipe // by child descriptor, ascending; the terminal for a PTY
	tty    bool
	paused bool

	status   gyre.ExitStatus
	exitSent bool // ProcessExited has been called
}

// procPipe is the parent's end of one of the child's pipes, or of its
// terminal. It is the Handler registered for that end.
type procPipe struct {
	p        *process
	fd       int  // -1 once closed
	child    int  // the child's descriptor number (1 for a terminal)
	toChild  bool // the child reads it: the parent writes
	tty      bool // a terminal's master: both directions
	interest Interest

	w   []byte // queued for the child
	off int

	closing  bool // close once what is queued has been sent
	lost     bool // closed, or its loss decided
	reported bool // the protocol has been told
}

func (pp *procPipe) buffered() int { return len(pp.w) - pp.off }

// want is what the Poller watches pp for.
func (pp *procPipe) want() Interest {
	var in Interest
	switch {
	case pp.tty:
		if !pp.p.paused {
			in |= In
		}
	case pp.toChild:
		in |= In // the child's end closing shows as an error
	default:
		if !pp.p.paused {
			in |= In
		}
	}
	if pp.buffered() > 0 && (pp.toChild || pp.tty) {
		in |= Out
	}
	return in
}

func (pp *procPipe) updateInterest() {
	if pp.fd < 0 {
		return
	}
	in := pp.want()
	if in == pp.interest {
		return
	}
	pp.interest = in
	if err := pp.p.n.p.Modify(pp.fd, in); err != nil {
		pp.p.n.l.Logger().Error("gyre: watching a child's pipe", "pid", pp.p.pid, "fd", pp.child, "err", err)
		pp.p.lose(pp, true)
	}
}

// Ready implements Handler.
func (pp *procPipe) Ready(ev Interest) {
	if pp.fd < 0 {
		return
	}
	if ev&In != 0 && pp.interest&In != 0 {
		if pp.toChild && !pp.tty {
			// Every reader of the pipe has gone.
			pp.p.lose(pp, true)
			return
		}
		pp.readOnce()
	}
	if pp.fd >= 0 && ev&Out != 0 && pp.interest&Out != 0 {
		pp.flush()
	}
}

func (pp *procPipe) readOnce() {
	p := pp.p
	buf := p.n.readBuf()
	k, err := unix.Read(pp.fd, buf)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return
	case err != nil || k <= 0:
		// End of file; on a terminal's master, EIO once the child's side
		// has closed everywhere.
		p.lose(pp, true)
		return
	}
	fd := pp.child
	p.n.l.Call(func() { p.proto.ChildDataReceived(fd, buf[:k]) })
}

// flush sends what is queued, as far as the pipe takes it.
func (pp *procPipe) flush() {
	for pp.buffered() > 0 {
		k, err := unix.Write(pp.fd, pp.w[pp.off:])
		if err == unix.EAGAIN || err == unix.EINTR {
			break
		}
		if err != nil {
			pp.p.lose(pp, true) // EPIPE: the child's end is closed
			return
		}
		pp.off += k
		if k == 0 {
			break
		}
	}
	if pp.buffered() == 0 {
		if cap(pp.w) > keepBuf {
			pp.w = nil
		} else {
			pp.w = pp.w[:0]
		}
		pp.off = 0
		if pp.closing {
			pp.p.lose(pp, true)
			return
		}
	}
	pp.updateInterest()
}

// write sends data now, or queues what the pipe does not take.
func (pp *procPipe) write(data []byte) {
	if len(data) == 0 {
		return
	}
	if pp.buffered() == 0 {
		k, err := unix.Write(pp.fd, data)
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			pp.p.lose(pp, false)
			return
		}
		if k > 0 {
			data = data[k:]
		}
		if len(data) == 0 {
			return
		}
	}
	if pp.off > 0 && pp.off >= len(pp.w)/2 {
		k := copy(pp.w, pp.w[pp.off:])
		pp.w, pp.off = pp.w[:k], 0
	}
	pp.w = append(pp.w, data...)
	pp.updateInterest()
}

// closeFD gives the descriptor back.
func (pp *procPipe) closeFD() {
	if pp.fd < 0 {
		return
	}
	pp.p.n.p.Remove(pp.fd)
	unix.Close(pp.fd)
	pp.fd = -1
	pp.interest = 0
	pp.w, pp.off = nil, 0
}

// lose closes pp and tells the protocol: now, from the loop's own
// callbacks, or on a later pass, from inside a call the protocol made.
func (p *process) lose(pp *procPipe, now bool) {
	if pp.lost {
		return
	}
	pp.lost = true
	pp.closeFD()
	if now {
		p.reportLost(pp)
	} else {
		p.n.procLater(procEvent{p: p, pp: pp})
	}
}

func (p *process) reportLost(pp *procPipe) {
	if pp.reported {
		return
	}
	pp.reported = true
	if !pp.tty {
		fd := pp.child
		p.n.l.Call(func() { p.proto.ChildConnectionLost(fd) })
	}
	p.maybeEnd()
}

// collect records the child's exit status and stops watching for it.
func (p *process) collect(ws unix.WaitStatus, known bool) {
	p.state = procReaped
	switch {
	case !known:
		p.status = gyre.ExitStatus{Code: -1}
	case ws.Signaled():
		p.status = gyre.ExitStatus{Code: -1, Signal: ws.Signal(), CoreDumped: ws.CoreDump()}
	default:
		p.status = gyre.ExitStatus{Code: ws.ExitStatus()}
	}
	p.unwatch()
}

// unwatch stops whatever tells the reactor of the child's exit.
func (p *process) unwatch() {
	if p.pidfd >= 0 {
		p.n.p.Remove(p.pidfd)
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
	if p.sigchld {
		p.sigchld = false
		chldRelease(p.n)
	}
}

// tryReap collects the child's status if it has exited, without waiting,
// and reports whether it had.
func (p *process) tryReap() bool {
	if p.state != procRunning {
		return p.state == procReaped || p.state == procEnded
	}
	var ws unix.WaitStatus
	for {
		pid, err := unix.Wait4(p.pid, &ws, unix.WNOHANG, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			// ECHILD: someone else collected it (SIGCHLD set to
			// SIG_IGN, or a wait for any child elsewhere in the
			// program). It has exited; its status is lost.
			p.n.l.Logger().Warn("gyre: a child's exit status was collected elsewhere", "pid", p.pid, "err", err)
			p.collect(ws, false)
			return true
		case pid == p.pid:
			p.collect(ws, true)
			return true
		}
		return false
	}
}

// reapNow reaps the child if it has exited and reports it at once.
func (p *process) reapNow() {
	if p.state == procRunning && p.tryReap() {
		p.reportExited()
	}
}

func (p *process) reportExited() {
	if p.exitSent || p.state != procReaped {
		return
	}
	p.exitSent = true
	s := p.status
	p.n.l.Call(func() { p.proto.ProcessExited(s) })
	p.maybeEnd()
}

// maybeEnd calls ProcessEnded once the child has been reaped and reported,
// and every pipe has been closed and reported.
func (p *process) maybeEnd() {
	if p.state != procReaped || !p.exitSent {
		return
	}
	for _, pp := range p.pipes {
		if !pp.reported {
			return
		}
	}
	p.state = procEnded
	delete(p.n.procs.live, p)
	s := p.status
	p.n.l.Call(func() { p.proto.ProcessEnded(s) })
}

// pidWatch is the Handler of a child's pidfd.
type pidWatch struct{ p *process }

// Ready implements Handler: the pidfd is readable once the child exits.
func (w pidWatch) Ready(Interest) { w.p.reapNow() }

// reapAll polls every child of the loop that has no pidfd; SIGCHLD queues
// it.
func (n *Net) reapAll() {
	s := n.procs
	s.reapQueued.Store(false)
	var found []*process
	for p := range s.live {
		if p.sigchld && p.tryReap() {
			found = append(found, p)
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].pid < found[j].pid })
	for _, p := range found {
		p.reportExited()
	}
}

// shutdownProcesses lets every child go when the reactor stops: pipes close
// at once and are reported; a child that has exited is reported as ended;
// one still running is reaped in the background, without its protocol.
func (n *Net) shutdownProcesses() {
	s := n.procs
	if s == nil {
		return
	}
	n.runProcPending()
	ps := make([]*process, 0, len(s.live))
	for p := range s.live {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].pid < ps[j].pid })
	for _, p := range ps {
		p.tryReap()
		for _, pp := range p.pipes {
			p.lose(pp, true)
		}
		p.reportExited() // and ProcessEnded, every pipe being closed
		if p.state == procRunning {
			p.letGo()
		}
	}
}

// letGo hands a running child to a goroutine that reaps it when it exits,
// so that it leaves no zombie; its protocol hears no more.
func (p *process) letGo() {
	p.unwatch()
	p.state = procLetGo
	delete(p.n.procs.live, p)
	go func(pid int) {
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
				return
			}
		}
	}(p.pid)
}

// pipeFor returns the open pipe on child descriptor fd that the parent
// writes, or nil.
func (p *process) pipeFor(fd int) *procPipe {
	for _, pp := range p.pipes {
		if pp.child == fd || (pp.tty && fd == 0) {
			if (pp.toChild || pp.tty) && !pp.lost && !pp.closing {
				return pp
			}
			return nil
		}
	}
	return nil
}

func errUnknownFD(fd int) error {
	return fmt.Errorf("%w: %d is not an open pipe the child reads", gyre.ErrUnknownChildFD, fd)
}

// Pid implements gyre.ProcessTransport.
func (p *process) Pid() int {
	if p.state == procEnded || p.state == procLetGo {
		return 0
	}
	return p.pid
}

// Write implements gyre.ProcessTransport.
func (p *process) Write(data []byte) error { return p.WriteToChild(0, data) }

// WriteSequence implements gyre.ProcessTransport.
func (p *process) WriteSequence(data [][]byte) error {
	pp := p.pipeFor(0)
	if pp == nil {
		return errUnknownFD(0)
	}
	for _, b := range data {
		if pp.lost {
			break
		}
		pp.write(b)
	}
	return nil
}

// WriteToChild implements gyre.ProcessTransport.
func (p *process) WriteToChild(fd int, data []byte) error {
	pp := p.pipeFor(fd)
	if pp == nil {
		return errUnknownFD(fd)
	}
	pp.write(data)
	return nil
}

// CloseChildFD implements gyre.ProcessTransport.
func (p *process) CloseChildFD(fd int) error {
	for _, pp := range p.pipes {
		if pp.child != fd || pp.tty || pp.lost || pp.closing {
			continue
		}
		if pp.toChild && pp.buffered() > 0 {
			pp.closing = true // the last flush closes it
			return nil
		}
		p.lose(pp, false)
		return nil
	}
	return fmt.Errorf("%w: %d is not an open pipe of the child", gyre.ErrUnknownChildFD, fd)
}

// CloseStdin implements gyre.ProcessTransport.
func (p *process) CloseStdin() error { return p.CloseChildFD(0) }

// LoseConnection implements gyre.ProcessTransport.
func (p *process) LoseConnection() {
	for _, pp := range p.pipes {
		switch {
		case pp.lost || pp.closing:
		case (pp.toChild || pp.tty) && pp.buffered() > 0:
			pp.closing = true
		default:
			p.lose(pp, false)
		}
	}
}

// Signal implements gyre.ProcessTransport.
func (p *process) Signal(sig syscall.Signal) error {
	switch p.state {
	case procLetGo:
		return fmt.Errorf("%w: the reactor no longer tracks child %d", gyre.ErrStopped, p.pid)
	case procReaped, procEnded:
		return fmt.Errorf("%w: pid %d", gyre.ErrProcessExited, p.pid)
	}
	// Exited but not yet noticed? Then kill would reach a zombie and
	// succeed; report the exit instead, on a later pass.
	if p.tryReap() {
		p.n.procLater(procEvent{p: p})
		return fmt.Errorf("%w: pid %d", gyre.ErrProcessExited, p.pid)
	}
	if err := unix.Kill(p.pid, sig); err != nil {
		return fmt.Errorf("gyre: signal child %d: %w", p.pid, err)
	}
	return nil
}

// PauseProducing implements gyre.ProcessTransport.
func (p *process) PauseProducing() {
	p.paused = true
	for _, pp := range p.pipes {
		pp.updateInterest()
	}
}

// ResumeProducing implements gyre.ProcessTransport.
func (p *process) ResumeProducing() {
	p.paused = false
	for _, pp := range p.pipes {
		pp.updateInterest()
	}
}
