package loop

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gyre-go/gyre"
)

// scriptPoller answers Wait(0) with found0 and err0, and records the
// timeouts of the waits that may sleep.
type scriptPoller struct {
	found0   bool
	err0     error
	polls    int             // Wait(0) calls
	sleeps   []time.Duration // the other Wait calls
	dispatch int
}

func (p *scriptPoller) Wait(timeout time.Duration) (bool, error) {
	if timeout == 0 {
		p.polls++
		return p.found0, p.err0
	}
	p.sleeps = append(p.sleeps, timeout)
	return false, nil
}
func (p *scriptPoller) Dispatch()    { p.dispatch++ }
func (p *scriptPoller) Wake()        {}
func (p *scriptPoller) Close() error { return nil }

// TestSpinWait checks the loop's spin after a pass that found I/O: what it
// finds ends the wait, an empty spin is followed by a sleeping wait for the
// rest of the timeout, and a poller error while spinning is logged.
func TestSpinWait(t *testing.T) {
	newLoop := func(p *scriptPoller) (*Loop, *bytes.Buffer) {
		var log bytes.Buffer
		l := New(p, gyre.Options{SpinWait: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&log, nil))})
		l.busy = true
		return l, &log
	}

	p := &scriptPoller{found0: true}
	l, _ := newLoop(p)
	l.waitAndDispatch(time.Hour)
	if p.polls != 1 || len(p.sleeps) != 0 || p.dispatch != 1 || !l.busy {
		t.Errorf("spin that finds I/O: %d polls, sleeps %v, %d dispatches, busy %v; want 1 poll, no sleep, 1 dispatch, busy", p.polls, p.sleeps, p.dispatch, l.busy)
	}

	p = &scriptPoller{}
	l, _ = newLoop(p)
	l.waitAndDispatch(time.Hour)
	if p.polls < 1 || len(p.sleeps) != 1 || p.sleeps[0] >= time.Hour || p.sleeps[0] < time.Hour-time.Minute || l.busy {
		t.Errorf("empty spin: %d polls, sleeps %v, busy %v; want polls, then one sleep for the rest of the hour, not busy", p.polls, p.sleeps, l.busy)
	}

	p = &scriptPoller{}
	l, _ = newLoop(p)
	l.waitAndDispatch(-1)
	if len(p.sleeps) != 1 || p.sleeps[0] >= 0 {
		t.Errorf("empty spin without a timeout: sleeps %v, want one without limit", p.sleeps)
	}

	p = &scriptPoller{err0: errors.New("scripted failure")}
	l, log := newLoop(p)
	l.waitAndDispatch(time.Hour)
	if p.polls != 1 || len(p.sleeps) != 0 {
		t.Errorf("failing spin: %d polls, sleeps %v; want 1 poll, no sleep", p.polls, p.sleeps)
	}
	if !strings.Contains(log.String(), "scripted failure") {
		t.Errorf("a poller error while spinning was not logged; log: %q", log.String())
	}
}
