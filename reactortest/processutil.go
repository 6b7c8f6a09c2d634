package reactortest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/gyre-go/gyre"
)

// Helpers for the process cases (cases_process.go).
//
// The children are ordinary system programs (/bin/sh scripts, cat, env, ...)
// found at run time, so the suite needs no helper binary; a case whose
// program is missing is skipped and says which. A case builds a procEnv on the
// goroutine that will run the reactor, and gives each child a procProto,
// which records what the reactor tells it and checks on every call the rules
// that hold for every child: loop goroutine, ConnectionMade first and once,
// nothing from inside a transport method, nothing after ProcessEnded, each
// pipe lost once, ProcessExited once before ProcessEnded, Pid 0 in
// ProcessEnded.

// procWaitLimit bounds the waits a case makes outside the reactor (for a
// child to exit before Run, for a file a child writes after Run).
const procWaitLimit = 10 * time.Second

// procEnv is the state of one process case.
type procEnv struct {
	c       *C
	loopID  uint64
	pending int // events still awaited before the reactor is stopped
	stopped bool
	ran     bool // Run has returned: no protocol method may be called now
	dir     string
	timers  []gyre.DelayedCall
	protos  []*procProto
}

// procStart starts a process case. Call it on the goroutine that will run
// the reactor. It skips the case where the suite cannot run POSIX programs.
func procStart(c *C) *procEnv {
	c.Helper()
	procRequireUnix(c)
	return &procEnv{c: c, loopID: trGoID()}
}

// sh returns the path and argument vector that run script with /bin/sh,
// with args as $1, $2, ...
func (e *procEnv) sh(script string, args ...string) (string, []string) {
	e.c.Helper()
	const sh = "/bin/sh"
	if _, err := os.Stat(sh); err != nil {
		e.c.Skipf("the process cases run their children with %s, which is missing: %v", sh, err)
	}
	return sh, append([]string{"sh", "-c", script, "sh"}, args...)
}

// prog returns the absolute path of a system program, or skips the case.
func (e *procEnv) prog(name string) string {
	e.c.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		e.c.Skipf("this case runs the program %q, which is not installed here: %v", name, err)
	}
	return path
}

// tempDir returns a directory that finish removes.
func (e *procEnv) tempDir() string {
	e.c.Helper()
	if e.dir == "" {
		dir, err := os.MkdirTemp("", "gyre-proc")
		if err != nil {
			e.c.Fatalf("temporary directory: %v", err)
		}
		e.dir = dir
	}
	return e.dir
}

// onLoop fails the case unless it is called on the loop goroutine.
func (e *procEnv) onLoop(what string) {
	if id := trGoID(); id != e.loopID {
		e.c.Errorf("%s ran on goroutine %d, not on the loop goroutine %d", what, id, e.loopID)
	}
}

// expect adds n to the events the case waits for.
func (e *procEnv) expect(n int) { e.pending += n }

// done marks one awaited event; when none is left the reactor is stopped.
func (e *procEnv) done() {
	e.pending--
	if e.pending == 0 && !e.stopped {
		e.stopped = true
		if err := e.c.R.Stop(); err != nil && !errors.Is(err, gyre.ErrNotRunning) {
			e.c.Errorf("Stop: %v", err)
		}
	}
	if e.pending < 0 {
		e.c.Errorf("more events than the case expected")
	}
}

// fail fails the case and stops the reactor.
func (e *procEnv) fail(format string, args ...any) {
	e.c.Helper()
	e.c.Errorf(format, args...)
	if !e.stopped {
		e.stopped = true
		_ = e.c.R.Stop()
	}
}

// later runs f on the loop after d; run cancels it if it is still pending.
func (e *procEnv) later(d time.Duration, f func()) {
	e.c.Helper()
	e.timers = append(e.timers, e.c.Later(d, f))
}

// whenRunning runs f once the reactor runs.
func (e *procEnv) whenRunning(f func()) {
	e.c.Helper()
	if _, err := e.c.R.CallWhenRunning(f); err != nil {
		e.c.Fatalf("CallWhenRunning: %v", err)
	}
}

// run runs the reactor, then marks that no protocol method may be called
// any more and cancels the case's timers.
func (e *procEnv) run() {
	e.c.Helper()
	e.c.NoErr(e.c.Run(), "Run")
	e.ended()
}

// ended marks that the reactor has stopped: no protocol method may be
// called any more. It cancels the case's timers.
func (e *procEnv) ended() {
	e.ran = true
	for _, dc := range e.timers {
		if dc.Active() {
			_ = dc.Cancel()
		}
	}
	e.timers = nil
}

// finish ends the case: as ended, and removes the temporary directory.
// Cases that use tempDir defer it.
func (e *procEnv) finish() {
	e.ended()
	if e.dir != "" {
		os.RemoveAll(e.dir)
		e.dir = ""
	}
}

// spawn starts a child for p and fails the case if that fails. A case that
// asks for a terminal is skipped where the backend has none.
func (e *procEnv) spawn(p *procProto, path string, args []string, opts *gyre.SpawnOptions) gyre.ProcessTransport {
	e.c.Helper()
	t, err := e.trySpawn(p, path, args, opts)
	if err != nil {
		if opts != nil && opts.PTY != nil && errors.Is(err, gyre.ErrNotSupported) {
			e.c.Skipf("backend %s: pseudo-terminals are not supported here: %v", e.c.Backend, err)
		}
		e.c.Fatalf("SpawnProcess(%q, %q): %v", path, args, err)
	}
	if t == nil {
		e.c.Fatalf("SpawnProcess(%q, %q) returned a nil transport and no error", path, args)
	}
	return t
}

// spawnOnLoop is spawn for loop callbacks: a failure fails the case and
// stops the reactor instead of ending the goroutine.
func (e *procEnv) spawnOnLoop(p *procProto, path string, args []string, opts *gyre.SpawnOptions) gyre.ProcessTransport {
	t, err := e.trySpawn(p, path, args, opts)
	if err != nil || t == nil {
		e.fail("SpawnProcess(%q, %q): %v (transport %v)", path, args, err, t)
		return nil
	}
	return t
}

// trySpawn calls SpawnProcess, noting that p's ConnectionMade may come from
// inside it.
func (e *procEnv) trySpawn(p *procProto, path string, args []string, opts *gyre.SpawnOptions) (gyre.ProcessTransport, error) {
	p.spawning = true
	p.pipes = procPipes(opts)
	t, err := e.c.Processes.SpawnProcess(p, path, args, opts)
	p.spawning = false
	if err == nil && t != nil && p.t != t {
		if p.made == 0 {
			p.errorf("ConnectionMade was not called before SpawnProcess returned")
		} else {
			p.errorf("ConnectionMade was given a different transport from the one SpawnProcess returned")
		}
	}
	if err != nil {
		if t != nil {
			p.errorf("SpawnProcess returned a transport together with the error %v", err)
		}
		if p.made > 0 {
			p.errorf("ConnectionMade was called, yet SpawnProcess failed with %v", err)
		}
	}
	return t, err
}

// procPipes returns the child descriptors that opts make pipes.
func procPipes(opts *gyre.SpawnOptions) []int {
	if opts == nil || opts.FDs == nil {
		if opts != nil && opts.PTY != nil {
			return nil
		}
		return []int{0, 1, 2}
	}
	var out []int
	for fd, k := range opts.FDs {
		if k.IsChildReads() || k.IsChildWrites() {
			out = append(out, fd)
		}
	}
	return out
}

// procProto is the ProcessProtocol of the cases.
type procProto struct {
	e    *procEnv
	name string
	t    gyre.ProcessTransport

	spawning bool   // inside SpawnProcess
	inCall   string // inside this transport method
	pipes    []int  // the pipes the child was given
	pid      int    // Pid as seen in ConnectionMade

	made   int
	out    map[int]*bytes.Buffer
	lost   map[int]int
	order  []int // descriptors in the order ChildConnectionLost came
	events []string
	exited []gyre.ExitStatus
	ended  []gyre.ExitStatus
	drop   bool // do not keep the output (ChildDataReceived still runs onData)

	endDone bool // ProcessEnded marks an awaited event

	onMade   func()
	onData   func(fd int, b []byte)
	onLost   func(fd int)
	onExited func(s gyre.ExitStatus)
	onEnded  func(s gyre.ExitStatus)
}

// proto returns a new procProto named name.
func (e *procEnv) proto(name string) *procProto {
	p := &procProto{e: e, name: name, out: make(map[int]*bytes.Buffer), lost: make(map[int]int)}
	e.protos = append(e.protos, p)
	return p
}

// stopOnEnded makes ProcessEnded one of the events the case waits for.
func (p *procProto) stopOnEnded() *procProto {
	p.endDone = true
	p.e.expect(1)
	return p
}

func (p *procProto) errorf(f string, args ...any) { p.e.c.Errorf(p.name+": "+f, args...) }

// note records an event, collapsing runs of output on one descriptor.
func (p *procProto) note(ev string) {
	if n := len(p.events); n > 0 && p.events[n-1] == ev && strings.HasPrefix(ev, "data") {
		return
	}
	p.events = append(p.events, ev)
}

// enter checks what holds on entry to every protocol method.
func (p *procProto) enter(method string) {
	if p.e.ran {
		p.errorf("%s was called after the reactor had stopped and Run had returned", method)
	}
	p.e.onLoop(p.name + "." + method)
	if p.inCall != "" {
		p.errorf("%s was called from inside ProcessTransport.%s", method, p.inCall)
	}
	if len(p.ended) > 0 {
		p.errorf("%s was called after ProcessEnded", method)
	}
	if p.made == 0 && method != "ConnectionMade" {
		p.errorf("%s was called before ConnectionMade", method)
	}
}

func (p *procProto) ConnectionMade(t gyre.ProcessTransport) {
	p.enter("ConnectionMade")
	p.made++
	p.note("made")
	if p.made > 1 {
		p.errorf("ConnectionMade was called %d times", p.made)
	}
	if !p.spawning {
		p.errorf("ConnectionMade was called outside SpawnProcess")
	}
	if t == nil {
		p.errorf("ConnectionMade was given a nil transport")
		return
	}
	p.t = t
	p.pid = t.Pid()
	if p.pid <= 0 {
		p.errorf("Pid() in ConnectionMade = %d, want a positive process id", p.pid)
	}
	if p.onMade != nil {
		p.onMade()
	}
}

func (p *procProto) ChildDataReceived(fd int, b []byte) {
	p.enter("ChildDataReceived")
	p.note(fmt.Sprintf("data:%d", fd))
	if len(b) == 0 {
		p.errorf("ChildDataReceived(%d) was called with no data", fd)
	}
	if p.lost[fd] > 0 {
		p.errorf("ChildDataReceived(%d) was called after ChildConnectionLost(%d)", fd, fd)
	}
	if !p.drop {
		buf := p.out[fd]
		if buf == nil {
			buf = &bytes.Buffer{}
			p.out[fd] = buf
		}
		buf.Write(b)
	}
	if p.onData != nil {
		p.onData(fd, b)
	}
}

func (p *procProto) ChildConnectionLost(fd int) {
	p.enter("ChildConnectionLost")
	p.note(fmt.Sprintf("lost:%d", fd))
	p.lost[fd]++
	p.order = append(p.order, fd)
	if p.lost[fd] > 1 {
		p.errorf("ChildConnectionLost(%d) was called %d times", fd, p.lost[fd])
	}
	if !p.isPipe(fd) {
		p.errorf("ChildConnectionLost(%d) for a descriptor that is not one of the child's pipes %v", fd, p.pipes)
	}
	if p.onLost != nil {
		p.onLost(fd)
	}
}

func (p *procProto) ProcessExited(s gyre.ExitStatus) {
	p.enter("ProcessExited")
	p.note("exited")
	p.exited = append(p.exited, s)
	if len(p.exited) > 1 {
		p.errorf("ProcessExited was called %d times", len(p.exited))
	}
	if p.onExited != nil {
		p.onExited(s)
	}
}

func (p *procProto) ProcessEnded(s gyre.ExitStatus) {
	p.enter("ProcessEnded")
	p.note("ended")
	p.ended = append(p.ended, s)
	switch {
	case len(p.exited) == 0:
		p.errorf("ProcessEnded (%v) came without ProcessExited before it", s)
	case p.exited[0] != s:
		p.errorf("ProcessEnded got %+v, ProcessExited got %+v: want the same status", s, p.exited[0])
	}
	for _, fd := range p.pipes {
		if p.lost[fd] == 0 {
			p.errorf("ProcessEnded came before ChildConnectionLost(%d)", fd)
		}
	}
	if p.t != nil {
		if pid := p.t.Pid(); pid != 0 {
			p.errorf("Pid() in ProcessEnded = %d, want 0", pid)
		}
	}
	if p.endDone {
		// Deferred, so that a hook that panics on purpose still counts.
		defer p.e.done()
	}
	if p.onEnded != nil {
		p.onEnded(s)
	}
}

func (p *procProto) isPipe(fd int) bool {
	for _, x := range p.pipes {
		if x == fd {
			return true
		}
	}
	return false
}

// data returns what the child wrote on fd so far.
func (p *procProto) data(fd int) string {
	if b := p.out[fd]; b != nil {
		return b.String()
	}
	return ""
}

// call runs a transport method, marking that the protocol must not be called
// meanwhile.
func (p *procProto) call(method string, f func()) {
	if p.t == nil {
		p.errorf("ProcessTransport.%s called before ConnectionMade", method)
		return
	}
	outer := p.inCall
	p.inCall = method
	defer func() { p.inCall = outer }()
	f()
}

func (p *procProto) write(b []byte) (err error) {
	p.call("Write", func() { err = p.t.Write(b) })
	return err
}

func (p *procProto) writeTo(fd int, b []byte) (err error) {
	p.call("WriteToChild", func() { err = p.t.WriteToChild(fd, b) })
	return err
}

func (p *procProto) closeFD(fd int) (err error) {
	p.call("CloseChildFD", func() { err = p.t.CloseChildFD(fd) })
	return err
}

func (p *procProto) closeStdin() (err error) {
	p.call("CloseStdin", func() { err = p.t.CloseStdin() })
	return err
}

func (p *procProto) signal(sig syscall.Signal) (err error) {
	p.call("Signal", func() { err = p.t.Signal(sig) })
	return err
}

// mustWrite writes to descriptor 0 and fails the case on error.
func (p *procProto) mustWrite(b []byte) {
	if err := p.write(b); err != nil {
		p.e.fail("%s: Write(%d bytes): %v", p.name, len(b), err)
	}
}

// mustClose closes descriptor 0 and fails the case on error.
func (p *procProto) mustCloseStdin() {
	if err := p.closeStdin(); err != nil {
		p.e.fail("%s: CloseStdin: %v", p.name, err)
	}
}

// status checks one status against the expected code and signal.
func procStatusIs(c *C, what string, s gyre.ExitStatus, code int, sig syscall.Signal) {
	c.Helper()
	if s.Code != code || s.Signal != sig {
		c.Errorf("%s: status %+v (%v), want code %d and signal %d", what, s, s, code, int(sig))
	}
}

// ended fails the case unless p's child ended exactly once, with code and
// signal.
func (p *procProto) endedWith(code int, sig syscall.Signal) {
	c := p.e.c
	c.Helper()
	if len(p.ended) != 1 {
		c.Errorf("%s: ProcessEnded was called %d times, want 1 (events %v)", p.name, len(p.ended), p.events)
		return
	}
	procStatusIs(c, p.name+": ProcessEnded", p.ended[0], code, sig)
}

// waitFile waits for path to hold want (after trimming spaces), up to
// procWaitLimit, and returns what it last held.
func procWaitFile(path, want string) (string, bool) {
	deadline := time.Now().Add(procWaitLimit)
	for {
		data, _ := os.ReadFile(path)
		got := strings.TrimSpace(string(data))
		if got == want {
			return got, true
		}
		if time.Now().After(deadline) {
			return got, false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// procPattern returns n bytes of a repeating pattern, so that a reader can
// check each byte's place.
func procPattern(n int) []byte {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[(i*7+i/64)%len(alphabet)]
	}
	return b
}
