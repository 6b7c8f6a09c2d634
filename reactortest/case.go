package reactortest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gyre-go/gyre"
)

// C is what a case works with: the runner, a fresh reactor and its facets.
type C struct {
	T
	// R is the reactor under test.
	R gyre.Core
	// Clock and Threads are R's facets, or nil if R lacks them (cases that
	// need them are skipped before they start).
	Clock   gyre.Clock
	Threads gyre.Threads
	TCP     gyre.TCP
	Unix    gyre.Unix
	// UDP, Multicast and UnixDgram are the datagram facets, or nil.
	UDP       gyre.UDP
	Multicast gyre.Multicast
	UnixDgram gyre.UnixDatagram
	// Processes, Signals and Stdio are the process facets, or nil.
	Processes gyre.Processes
	Signals   gyre.Signals
	Stdio     gyre.StandardIO
	// Backend names the backend under test.
	Backend string
	// Deadline bounds Run: past it, the case fails and the reactor is
	// crashed through CallFromThread.
	Deadline time.Duration

	logs *logCapture
}

// Run runs the reactor and returns what Run returned. If Run has not returned
// within c.Deadline the case fails and the reactor is crashed.
func (c *C) Run() error {
	return c.guard(func() error { return c.R.Run() })
}

// RunContext is Run with a context.
func (c *C) RunContext(ctx context.Context) error {
	return c.guard(func() error { return c.R.RunContext(ctx) })
}

func (c *C) guard(run func() error) error {
	var timer *time.Timer
	if c.Threads != nil {
		timer = time.AfterFunc(c.Deadline, func() {
			c.Errorf("reactor did not return within %v", c.Deadline)
			_ = c.Threads.CallFromThread(func() { _ = c.R.Crash() })
		})
	}
	err := run()
	if timer != nil {
		timer.Stop()
	}
	return err
}

// Later schedules f after d and fails the case if CallLater fails.
func (c *C) Later(d time.Duration, f func()) gyre.DelayedCall {
	c.Helper()
	dc, err := c.Clock.CallLater(d, f)
	if err != nil {
		c.Fatalf("CallLater(%v): %v", d, err)
	}
	return dc
}

// StopLater stops the reactor after d.
func (c *C) StopLater(d time.Duration) gyre.DelayedCall {
	c.Helper()
	return c.Later(d, func() { c.NoErr(c.R.Stop(), "Stop") })
}

// NoErr fails the case if err is not nil.
func (c *C) NoErr(err error, what string) {
	c.Helper()
	if err != nil {
		c.Errorf("%s: unexpected error %v", what, err)
	}
}

// ErrIs fails the case unless errors.Is(err, want).
func (c *C) ErrIs(err, want error, what string) {
	c.Helper()
	if !errors.Is(err, want) {
		c.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// Equal fails the case unless got and want print the same with %v.
func (c *C) Equal(got, want any, what string) {
	c.Helper()
	if g, w := fmt.Sprintf("%v", got), fmt.Sprintf("%v", want); g != w {
		c.Errorf("%s: got %s, want %s", what, g, w)
	}
}

// True fails the case with the message unless cond holds.
func (c *C) True(cond bool, format string, args ...any) {
	c.Helper()
	if !cond {
		c.Errorf(format, args...)
	}
}

// Logs returns the records the reactor has logged so far.
func (c *C) Logs() []LogRecord { return c.logs.records() }

// LogRecord is one record a reactor logged, with its attributes formatted as
// strings.
type LogRecord struct {
	Level   slog.Level
	Message string
	Attrs   map[string]string
}

type logCapture struct {
	mu   sync.Mutex
	recs []LogRecord
}

func (l *logCapture) records() []LogRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LogRecord(nil), l.recs...)
}

type captureHandler struct {
	c     *logCapture
	attrs []slog.Attr
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := LogRecord{Level: r.Level, Message: r.Message, Attrs: make(map[string]string)}
	for _, a := range h.attrs {
		rec.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.String()
		return true
	})
	h.c.mu.Lock()
	h.c.recs = append(h.c.recs, rec)
	h.c.mu.Unlock()
	return nil
}

func (h captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return captureHandler{c: h.c, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h captureHandler) WithGroup(string) slog.Handler { return h }

// release makes sure the reactor has stopped and freed its resources, firing
// "shutdown" on a reactor that did not stop.
func (c *C) release() {
	err := c.guard(func() error { return c.R.FireSystemEvent(gyre.Shutdown) })
	if err != nil && !errors.Is(err, gyre.ErrStopped) {
		c.Errorf("releasing the reactor: FireSystemEvent(%q): %v", gyre.Shutdown, err)
	}
}

// finish checks that the case left nothing behind.
func (c *C) finish(before snapshot) {
	if c.Clock != nil {
		if n := len(c.Clock.DelayedCalls()); n > 0 {
			c.Errorf("leak: %d delayed call(s) still pending when the case ended", n)
			for _, dc := range c.Clock.DelayedCalls() {
				_ = dc.Cancel()
			}
		}
	}
	c.release()
	deadline := time.Now().Add(5 * time.Second)
	for {
		now := takeSnapshot()
		children := newChildren(before.children, now.children)
		leaked := now.goroutines > before.goroutines || now.fds > before.fds || len(children) > 0
		if !leaked {
			return
		}
		if time.Now().After(deadline) {
			if now.goroutines > before.goroutines {
				c.Errorf("leak: %d goroutine(s) before the case, %d after:\n%s",
					before.goroutines, now.goroutines, goroutineDump())
			}
			if now.fds > before.fds {
				c.Errorf("leak: %d open descriptor(s) before the case, %d after", before.fds, now.fds)
			}
			if len(children) > 0 {
				c.Errorf("leak: the case left %d child process(es) of the test behind: %s",
					len(children), describeChildren(children))
			}
			return
		}
		time.Sleep(time.Millisecond)
	}
}

type snapshot struct {
	goroutines int
	fds        int               // -1 where the platform does not tell
	children   map[int]childProc // nil where the platform does not tell
}

func takeSnapshot() snapshot {
	startSignalWatcher()
	return snapshot{goroutines: runtime.NumGoroutine(), fds: countFDs(), children: listChildren()}
}

// countFDs counts this process's open descriptors where /proc or /dev/fd
// lists them, and returns -1 elsewhere.
func countFDs() int {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		f, err := os.Open(dir)
		if err != nil {
			continue
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err == nil {
			return len(names) - 1 // the directory itself was open
		}
	}
	return -1
}

func goroutineDump() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	s := string(buf)
	if len(s) > 8000 {
		s = s[:8000] + "\n..."
	}
	return strings.TrimSpace(s)
}
