package std

// Child processes (gyre.Processes).
//
// A child is started with os.StartProcess, on pipes whose parent's end the Go
// runtime's poller watches (on Unix), or on a pseudo-terminal (Linux). The
// loop never blocks on a child (only on starting it: SpawnProcess returns once
// the child runs its program, or with the reason it could not):
//
//   - Each pipe the child writes has a reader goroutine, as a connection
//     has: it reads into a buffer, hands the bytes to the loop through a
//     method value bound once, and reads again (into the same buffer) only
//     once the loop has delivered them, so that PauseProducing holds the
//     bytes in the kernel and nothing is lost or copied. The buffers come
//     from a pool and go back to it at end of file, so that a short-lived
//     child costs no fresh buffer.
//   - A pipe the child reads is written from the loop without blocking
//     (where the platform allows), and what the pipe does not take at once
//     by a writer goroutine that takes the whole pending buffer at a time,
//     as a connection's writer does. A watcher goroutine waits until the
//     runtime's poller reports an error on the parent's end, which happens
//     when the child's end is closed, so that ChildConnectionLost comes
//     even if the parent never writes again.
//   - A waiter goroutine reaps the child with os.Process.Wait, which waits
//     for that one child only (through a pidfd on Linux, wait4 on its pid
//     elsewhere), so children started with os/exec beside gyre's keep their
//     exit statuses.

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/internal/spawn"
)

var _ gyre.Processes = (*Reactor)(nil)

type pipeState uint8

const (
	psOpen    pipeState = iota
	psClosing           // closed by the parent: flushing what is buffered first
	psClosed            // the parent's end is closed; ChildConnectionLost is on its way
	psLost              // ChildConnectionLost has been called
)

// readState tells where a pipe's read buffer is.
type readState uint8

const (
	rsReading    readState = iota // the reader goroutine owns it
	rsQueued                      // deliver is queued on the loop
	rsHeldData                    // paused before the bytes were delivered
	rsDelivering                  // deliver is calling the protocol
	rsHeldAck                     // delivered while paused: the reader waits for the go-ahead
	rsDone                        // the reader has exited after an error or end of file
)

// process is one child: the gyre.ProcessTransport.
type process struct {
	r     *Reactor
	seq   uint64
	proto gyre.ProcessProtocol
	osp   *os.Process
	pid   int
	pipes []*procPipe // in the order of the child's descriptors
	open  int         // pipes whose loss has not yet been reported
	pty   bool

	paused bool
	reaped bool
	ended  bool
	letGo  bool // the reactor has stopped while the child ran
	status gyre.ExitStatus

	// Written by the waiter before it closes waited and queues reapedFn.
	ps       *os.ProcessState
	waitErr  error
	waited   chan struct{}
	reapedFn func()
}

// procPipe is the parent's end of one of the child's descriptors: a pipe
// the child writes (out), a pipe it reads (!out), or the master of its
// terminal (tty: both ways, reported as descriptor 1 for reading and 0 for
// writing).
type procPipe struct {
	p     *process
	fd    int
	f     *os.File
	out   bool
	tty   bool
	state pipeState
	done  chan struct{} // closed with the file: the goroutines exit

	// Reading, as conn: rdata and rerr are written by the reader and read
	// by the loop in deliver.
	rdata     []byte
	rerr      error
	rstate    readState
	goAhead   chan struct{}
	deliverFn func()

	// Writing, as conn.
	rc       syscall.RawConn
	dbuf     []byte
	dn       int
	derr     error
	directFn func(fd uintptr) bool
	pending  []byte
	inflight []byte
	writing  bool
	writer   bool
	werr     error
	wkick    chan struct{}
	wroteFn  func()
	brokenFn func()
	lostFn   func()
}

// SpawnProcess implements gyre.Processes.
func (r *Reactor) SpawnProcess(proto gyre.ProcessProtocol, path string, args []string, opts *gyre.SpawnOptions) (gyre.ProcessTransport, error) {
	if proto == nil {
		return nil, fmt.Errorf("%w: nil ProcessProtocol", gyre.ErrNilFunc)
	}
	if opts == nil {
		opts = &gyre.SpawnOptions{}
	}
	if err := checkSpawnOptions(path, args, opts); err != nil {
		return nil, err
	}
	if r.down {
		return nil, fmt.Errorf("%w: %w", gyre.ErrSpawn, gyre.ErrStopped)
	}
	if err := spawnSupported(opts); err != nil {
		return nil, fmt.Errorf("%w: %w", gyre.ErrSpawn, err)
	}
	if len(args) == 0 {
		args = []string{path}
	}
	if opts.Dir != "" {
		// Checked here so that the error names the directory whatever the
		// options (os.StartProcess checks only without system attributes).
		if _, err := os.Stat(opts.Dir); err != nil {
			if pe, ok := err.(*os.PathError); ok {
				pe.Op = "chdir"
			}
			return nil, fmt.Errorf("%w: %w", gyre.ErrSpawn, err)
		}
	}
	p := &process{r: r, seq: r.nextSeq(), proto: proto, pty: opts.PTY != nil, waited: make(chan struct{})}
	p.reapedFn = p.onReaped
	var child []*os.File // what the child gets, by descriptor
	var err error
	if opts.PTY != nil {
		child, err = p.openPTY(opts.PTY)
	} else {
		child, err = p.openPipes(opts.FDs)
	}
	if err != nil {
		p.closePipes()
		return nil, fmt.Errorf("%w: %w", gyre.ErrSpawn, err)
	}
	attr := &os.ProcAttr{Dir: opts.Dir, Env: opts.Env, Files: child, Sys: sysProcAttr(opts)}
	err = spawn.WithDefaultSignals(func() error {
		var err error
		p.osp, err = os.StartProcess(path, args, attr)
		return err
	})
	for _, f := range child {
		if f != nil {
			_ = f.Close()
		}
	}
	if err != nil {
		p.closePipes()
		return nil, fmt.Errorf("%w: %w", gyre.ErrSpawn, err)
	}
	p.pid = p.osp.Pid
	p.open = len(p.pipes)
	r.procs[p] = struct{}{}
	go p.wait()
	for _, pp := range p.pipes {
		pp.start()
	}
	p.callMade()
	return p, nil
}

// checkSpawnOptions rejects options that contradict each other or cannot be
// passed to the system.
func checkSpawnOptions(path string, args []string, o *gyre.SpawnOptions) error {
	if strings.IndexByte(path, 0) >= 0 {
		return fmt.Errorf("%w: NUL byte in the path %q", gyre.ErrSpawnOptions, path)
	}
	for i, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("%w: NUL byte in argument %d %q", gyre.ErrSpawnOptions, i, a)
		}
	}
	for _, e := range o.Env {
		if strings.IndexByte(e, 0) >= 0 {
			return fmt.Errorf("%w: NUL byte in the environment entry %q", gyre.ErrSpawnOptions, e)
		}
	}
	if strings.IndexByte(o.Dir, 0) >= 0 {
		return fmt.Errorf("%w: NUL byte in the directory %q", gyre.ErrSpawnOptions, o.Dir)
	}
	if o.PTY != nil && o.FDs != nil {
		return fmt.Errorf("%w: FDs and PTY cannot be combined", gyre.ErrSpawnOptions)
	}
	for fd, c := range o.FDs {
		if fd < 0 {
			return fmt.Errorf("%w: negative child descriptor %d", gyre.ErrSpawnOptions, fd)
		}
		if !c.Valid() {
			return fmt.Errorf("%w: descriptor %d: invalid ChildFD", gyre.ErrSpawnOptions, fd)
		}
		if pfd, ok := c.Inherited(); ok && pfd < 0 {
			return fmt.Errorf("%w: descriptor %d: InheritFD(%d)", gyre.ErrSpawnOptions, fd, pfd)
		}
	}
	return nil
}

// errPTYNotSupported is returned for SpawnOptions.PTY where the backend
// cannot open a terminal.
var errPTYNotSupported = fmt.Errorf("%w: pseudo-terminals on %s", gyre.ErrNotSupported, runtime.GOOS)

// defaultFDs is the descriptor map of a nil SpawnOptions.FDs.
var defaultFDs = map[int]gyre.ChildFD{0: gyre.ChildReads, 1: gyre.ChildWrites, 2: gyre.ChildWrites}

// openPipes makes the pipes and inherited descriptors of fds; it returns the
// child's ends, indexed by the child's descriptor (nil: closed in the
// child). On error the caller closes p's pipes; the child's ends made so far
// are closed here.
func (p *process) openPipes(fds map[int]gyre.ChildFD) (child []*os.File, err error) {
	if fds == nil {
		fds = defaultFDs
	}
	keys := make([]int, 0, len(fds))
	for fd := range fds {
		keys = append(keys, fd)
	}
	slices.Sort(keys)
	n := 0
	if len(keys) > 0 {
		n = keys[len(keys)-1] + 1
	}
	if err := checkChildFDs(n); err != nil {
		return nil, err
	}
	child = make([]*os.File, max(n, minChildFiles))
	defer func() {
		if err != nil {
			for _, f := range child {
				if f != nil {
					_ = f.Close()
				}
			}
		}
	}()
	for _, fd := range keys {
		c := fds[fd]
		if pfd, ok := c.Inherited(); ok {
			f, err := inheritFile(pfd)
			if err != nil {
				return nil, fmt.Errorf("descriptor %d: %w", fd, err)
			}
			child[fd] = f
			continue
		}
		pp := p.newPipe(fd, c.IsChildWrites(), false)
		pf, cf, err := openPipe(pp.out)
		if err != nil {
			return nil, err
		}
		pp.f, child[fd] = pf, cf
		p.pipes = append(p.pipes, pp)
	}
	return child, nil
}

// openPTY opens the child's terminal; its descriptors 0, 1 and 2 are the
// slave.
func (p *process) openPTY(o *gyre.PTYOptions) ([]*os.File, error) {
	m, s, err := spawn.OpenPTY(o.Rows, o.Cols)
	if err != nil {
		return nil, err
	}
	pp := p.newPipe(0, true, true)
	pp.f = os.NewFile(uintptr(m), "/dev/ptmx")
	p.pipes = append(p.pipes, pp)
	slave := os.NewFile(uintptr(s), "pty")
	return []*os.File{slave, slave, slave}, nil
}

func (p *process) newPipe(fd int, out, tty bool) *procPipe {
	pp := &procPipe{p: p, fd: fd, out: out, tty: tty, done: make(chan struct{})}
	pp.lostFn = pp.notifyLost
	if out {
		pp.goAhead = make(chan struct{}, 1)
		pp.deliverFn = pp.deliver
	}
	if !out || tty {
		pp.wkick = make(chan struct{}, 1)
		pp.wroteFn = pp.wrote
		pp.brokenFn = pp.broken
		pp.directFn = pp.direct
	}
	return pp
}

// closePipes closes the parent's ends after a failed start.
func (p *process) closePipes() {
	for _, pp := range p.pipes {
		if pp.f != nil {
			_ = pp.f.Close()
		}
	}
	p.pipes = nil
}

// start starts the pipe's goroutines.
func (pp *procPipe) start() {
	r := pp.p.r
	if pp.out {
		r.wg.Add(1)
		go pp.readLoop()
	}
	if !pp.out || pp.tty {
		pp.rc = fileRawConn(pp.f)
	}
	if !pp.out && pp.rc != nil && canWatchPipes {
		r.wg.Add(1)
		go pp.watch()
	}
}

// wait is the waiter goroutine. It is not one of the reactor's goroutines
// that Run waits for: a child still running when the reactor stops is let
// go, and its waiter outlives the reactor until it has reaped it.
func (p *process) wait() {
	p.ps, p.waitErr = p.osp.Wait()
	close(p.waited)
	_ = p.r.CallFromThread(p.reapedFn)
}

// onReaped runs on the loop once the child has been reaped.
func (p *process) onReaped() {
	if p.reaped || p.letGo {
		return
	}
	p.reaped = true
	p.status = exitStatus(p.ps, p.waitErr)
	if p.waitErr != nil {
		p.r.logger().Error("gyre: waiting for a child process failed", "pid", p.pid, "error", p.waitErr)
	}
	p.callExited()
	if !canWatchPipes {
		// Without a watcher, a pipe the child reads would only be found
		// broken by a write: count it lost with the child.
		for _, pp := range p.pipes {
			if !pp.out && pp.state < psClosed {
				pp.closeFile()
				pp.notifyLost()
			}
		}
	}
	p.maybeEnd()
}

// maybeEnd calls ProcessEnded once the child has been reaped and every pipe
// has been reported lost.
func (p *process) maybeEnd() {
	if p.ended || !p.reaped || p.open > 0 {
		return
	}
	p.ended = true
	delete(p.r.procs, p)
	defer p.r.recoverLog()
	p.proto.ProcessEnded(p.status)
}

func (p *process) callMade() {
	defer p.r.recoverLog()
	p.proto.ConnectionMade(p)
}

func (p *process) callExited() {
	defer p.r.recoverLog()
	p.proto.ProcessExited(p.status)
}

func (p *process) callData(fd int, b []byte) {
	defer p.r.recoverLog()
	p.proto.ChildDataReceived(fd, b)
}

func (p *process) callLost(fd int) {
	defer p.r.recoverLog()
	p.proto.ChildConnectionLost(fd)
}

// exitStatus converts what os.Process.Wait returned.
func exitStatus(ps *os.ProcessState, err error) gyre.ExitStatus {
	if ps == nil {
		return gyre.ExitStatus{Code: -1}
	}
	if ws, ok := ps.Sys().(waitStatus); ok {
		if ws.Signaled() {
			return gyre.ExitStatus{Code: -1, Signal: ws.Signal(), CoreDumped: ws.CoreDump()}
		}
		return gyre.ExitStatus{Code: ws.ExitStatus()}
	}
	return gyre.ExitStatus{Code: ps.ExitCode()}
}

// waitStatus is what syscall.WaitStatus offers, on the platforms that have
// it.
type waitStatus interface {
	ExitStatus() int
	Signaled() bool
	Signal() syscall.Signal
	CoreDump() bool
}

// readBufs holds the pipes' read buffers.
var readBufs = sync.Pool{New: func() any { return new([readBufSize]byte) }}

// readLoop is the reader goroutine of a pipe the child writes.
func (pp *procPipe) readLoop() {
	defer pp.p.r.wg.Done()
	buf := readBufs.Get().(*[readBufSize]byte)
	for {
		n, err := pp.f.Read(buf[:])
		if n == 0 && err == nil {
			continue
		}
		pp.rdata, pp.rerr = nil, err
		if n > 0 {
			pp.rdata = buf[:n:n]
		} else {
			// The loop has delivered the last bytes (it gave the
			// go-ahead) and has none to look at in this read: the
			// buffer is free. (After a read with bytes, the loop
			// may still hold them when the pipe is closed, so that
			// buffer is left to the collector.)
			readBufs.Put(buf)
		}
		if pp.p.r.CallFromThread(pp.deliverFn) != nil {
			return
		}
		if err != nil {
			return
		}
		select {
		case <-pp.goAhead:
		case <-pp.done:
			return
		}
	}
}

// deliver runs on the loop with what the reader read.
func (pp *procPipe) deliver() {
	if pp.state >= psClosed {
		return
	}
	p := pp.p
	if p.paused {
		pp.rstate = rsHeldData
		return
	}
	data, err := pp.rdata, pp.rerr
	pp.rdata = nil
	pp.rstate = rsDelivering
	if err != nil {
		pp.rstate = rsDone
	}
	if len(data) > 0 {
		fd := pp.fd
		if pp.tty {
			fd = 1
		}
		p.callData(fd, data)
	}
	if err != nil {
		// End of file, or (for a terminal) EIO once the child's side is
		// closed: either way the pipe is finished.
		if pp.state < psClosed {
			pp.closeFile()
			pp.notifyLost()
		}
		return
	}
	switch {
	case pp.state >= psClosed:
	case p.paused:
		pp.rstate = rsHeldAck
	default:
		pp.rstate = rsReading
		pp.goAhead <- struct{}{}
	}
}

// closeFile closes the parent's end; the pipe's goroutines exit. It makes no
// callback.
func (pp *procPipe) closeFile() {
	if pp.state >= psClosed {
		return
	}
	pp.state = psClosed
	close(pp.done)
	_ = pp.f.Close()
	pp.pending = nil
}

// loseLater closes the pipe now and reports it lost in a later callback.
func (pp *procPipe) loseLater() {
	if pp.state >= psClosed {
		return
	}
	pp.closeFile()
	pp.p.r.later(pp.lostFn)
}

// notifyLost reports a closed pipe lost, once, and ends the process if it
// was the last.
func (pp *procPipe) notifyLost() {
	if pp.state != psClosed {
		return
	}
	pp.state = psLost
	p := pp.p
	p.open--
	if !pp.tty {
		p.callLost(pp.fd)
	}
	p.maybeEnd()
}

// watch is the watcher goroutine of a pipe the child reads: it returns when
// the child's end has closed (and tells the loop), or when the parent's end
// is closed.
func (pp *procPipe) watch() {
	defer pp.p.r.wg.Done()
	if err := pp.rc.Read(peerGone); err != nil {
		return
	}
	_ = pp.p.r.CallFromThread(pp.brokenFn)
}

// broken runs on the loop when the child's end of a pipe it reads has
// closed: what is still buffered can no longer be delivered.
func (pp *procPipe) broken() {
	if pp.state >= psClosed {
		return
	}
	pp.closeFile()
	pp.notifyLost()
}

// writePipe returns the open pipe the parent writes for the child's
// descriptor fd.
func (p *process) writePipe(fd int) *procPipe {
	for _, pp := range p.pipes {
		if pp.fd == fd && (!pp.out || pp.tty) {
			if pp.state != psOpen {
				return nil
			}
			return pp
		}
	}
	return nil
}

// shutdownProcs runs in the reactor's own During "shutdown" step: every
// child that has not ended is let go. Its pipes close at once, without
// sending what is buffered, each with ChildConnectionLost; a child that has
// exited by now, noticed or not, gets ProcessExited (if it had not) and
// ProcessEnded. A child still running keeps running; its waiter reaps it
// when it exits, with no callback.
func (r *Reactor) shutdownProcs() {
	for _, p := range sortedBySeq(r.procs, func(p *process) uint64 { return p.seq }) {
		p.shutdown()
	}
}

func (p *process) shutdown() {
	if p.ended || p.letGo {
		return
	}
	for _, pp := range p.pipes {
		pp.closeFile()
		pp.notifyLost()
	}
	if !p.reaped && p.exitedNow() {
		p.onReaped()
	}
	if !p.ended {
		p.release()
	}
}

// exitedNow tells whether the child has exited, waiting for the waiter to
// have reaped it if so.
func (p *process) exitedNow() bool {
	select {
	case <-p.waited:
		return true
	default:
	}
	if !exitedUnreaped(p.pid) {
		return false
	}
	<-p.waited // the child is a zombie: Wait returns at once
	return true
}

// release lets the child go without a callback: its pipes close and the
// reactor forgets it.
func (p *process) release() {
	for _, pp := range p.pipes {
		pp.closeFile()
	}
	p.letGo = true
	delete(p.r.procs, p)
}

// releaseProcs lets every child go without callbacks, when the reactor
// stops without a complete shutdown.
func (r *Reactor) releaseProcs() {
	for p := range r.procs {
		p.release()
	}
}

// Pid implements gyre.ProcessTransport.
func (p *process) Pid() int {
	if p.ended || p.letGo {
		return 0
	}
	return p.pid
}

// Write implements gyre.ProcessTransport.
func (p *process) Write(data []byte) error { return p.WriteToChild(0, data) }

// WriteSequence implements gyre.ProcessTransport.
func (p *process) WriteSequence(data [][]byte) error {
	pp := p.writePipe(0)
	if pp == nil {
		return fmt.Errorf("%w: %d", gyre.ErrUnknownChildFD, 0)
	}
	for _, b := range data {
		pp.send(b)
		if pp.state != psOpen {
			break
		}
	}
	pp.kick()
	return nil
}

// WriteToChild implements gyre.ProcessTransport.
func (p *process) WriteToChild(fd int, data []byte) error {
	pp := p.writePipe(fd)
	if pp == nil {
		return fmt.Errorf("%w: %d", gyre.ErrUnknownChildFD, fd)
	}
	pp.send(data)
	pp.kick()
	return nil
}

// send writes what the pipe takes at once, if nothing is queued, and queues
// the rest.
func (pp *procPipe) send(b []byte) {
	if len(b) == 0 {
		return
	}
	if pp.rc != nil && !pp.writing && len(pp.pending) == 0 {
		pp.dbuf = b
		err := pp.rc.Write(pp.directFn)
		n, derr := pp.dn, pp.derr
		pp.dbuf, pp.dn, pp.derr = nil, 0, nil
		if err == nil {
			err = derr
		}
		if err != nil {
			// Reported in a later callback, as if the writer had found it.
			pp.loseLater()
			return
		}
		b = b[n:]
		if len(b) == 0 {
			return
		}
	}
	pp.pending = append(pp.pending, b...)
}

// kick hands the pending buffer to the writer if it is idle.
func (pp *procPipe) kick() {
	if pp.writing || len(pp.pending) == 0 || pp.state >= psClosed {
		return
	}
	pp.pending, pp.inflight = pp.inflight[:0], pp.pending
	pp.writing = true
	if !pp.writer {
		pp.writer = true
		pp.p.r.wg.Add(1)
		go pp.writeLoop()
	}
	pp.wkick <- struct{}{}
}

// writeLoop is the writer goroutine.
func (pp *procPipe) writeLoop() {
	defer pp.p.r.wg.Done()
	for {
		select {
		case <-pp.wkick:
		case <-pp.done:
			return
		}
		_, pp.werr = pp.f.Write(pp.inflight)
		if pp.p.r.CallFromThread(pp.wroteFn) != nil {
			return
		}
	}
}

// wrote runs on the loop when the writer has written the inflight buffer.
func (pp *procPipe) wrote() {
	pp.writing = false
	if pp.state >= psClosed {
		return
	}
	if pp.werr != nil {
		pp.werr = nil
		pp.closeFile()
		pp.notifyLost()
		return
	}
	if cap(pp.inflight) > keepBufCap {
		pp.inflight = nil
	} else {
		pp.inflight = pp.inflight[:0]
	}
	pp.kick()
	if !pp.writing && pp.state == psClosing {
		pp.closeFile()
		pp.notifyLost()
	}
}

// CloseChildFD implements gyre.ProcessTransport.
func (p *process) CloseChildFD(fd int) error {
	for _, pp := range p.pipes {
		if pp.fd != fd || pp.tty || pp.state != psOpen {
			continue
		}
		pp.close()
		return nil
	}
	return fmt.Errorf("%w: %d", gyre.ErrUnknownChildFD, fd)
}

// close closes the pipe for the parent: at once for a pipe the child
// writes, after sending what is buffered for one it reads. The loss is
// reported in a later callback.
func (pp *procPipe) close() {
	if pp.state != psOpen {
		return
	}
	if (pp.out && !pp.tty) || (!pp.writing && len(pp.pending) == 0) {
		pp.loseLater()
		return
	}
	pp.state = psClosing
}

// CloseStdin implements gyre.ProcessTransport.
func (p *process) CloseStdin() error { return p.CloseChildFD(0) }

// Signal implements gyre.ProcessTransport.
func (p *process) Signal(sig syscall.Signal) error {
	if p.letGo {
		return fmt.Errorf("%w: the child was let go when the reactor stopped", gyre.ErrStopped)
	}
	if p.reaped || p.ended || exitedUnreaped(p.pid) {
		return gyre.ErrProcessExited
	}
	err := p.osp.Signal(sig)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrProcessDone), errors.Is(err, syscall.ESRCH):
		return gyre.ErrProcessExited
	}
	return signalError(sig, err)
}

// LoseConnection implements gyre.ProcessTransport.
func (p *process) LoseConnection() {
	for _, pp := range p.pipes {
		pp.close()
	}
}

// PauseProducing implements gyre.ProcessTransport.
func (p *process) PauseProducing() { p.paused = true }

// ResumeProducing implements gyre.ProcessTransport.
func (p *process) ResumeProducing() {
	if !p.paused {
		return
	}
	p.paused = false
	for _, pp := range p.pipes {
		if !pp.out || pp.state != psOpen {
			continue
		}
		switch pp.rstate {
		case rsHeldData:
			pp.rstate = rsQueued
			p.r.later(pp.deliverFn)
		case rsHeldAck:
			pp.rstate = rsReading
			pp.goAhead <- struct{}{}
		}
	}
}
