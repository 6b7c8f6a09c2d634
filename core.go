package gyre

import (
	"context"
	"time"

	"github.com/gyre-go/gyre/deferred"
)

// Phase is the part of a system event in which a trigger runs.
type Phase int

// The phases of a system event, run in this order.
const (
	Before Phase = iota + 1
	During
	After
)

// String returns "before", "during" or "after".
func (p Phase) String() string {
	switch p {
	case Before:
		return "before"
	case During:
		return "during"
	case After:
		return "after"
	}
	return "Phase(?)"
}

// Names of the system events fired by a reactor itself. Any other name may be
// fired with FireSystemEvent.
const (
	Startup  = "startup"
	Shutdown = "shutdown"
	Persist  = "persist"
)

// Trigger is a system event trigger. A trigger in the Before phase may return
// a Deferred: the rest of the event waits until it has fired. Return nil when
// there is nothing to wait for.
type Trigger func() *deferred.Deferred

// TriggerID identifies a registered trigger for RemoveSystemEventTrigger. The
// zero value is never a valid id.
type TriggerID uint64

// Core is a reactor's lifecycle and its system events.
type Core interface {
	// Run fires "startup", runs the loop until Stop or Crash, and returns.
	// After Stop it returns nil once "shutdown" has completed; after Crash
	// it returns ErrCrashed and the reactor may be run again.
	Run() error
	// RunContext is Run, and also stops the reactor (as Stop does) when ctx
	// is done; it then returns context.Cause(ctx).
	RunContext(ctx context.Context) error
	// Stop asks a running reactor to shut down: "shutdown" is fired on the
	// loop after the current callback returns. It returns ErrNotRunning if
	// the reactor is not running; a repeated request while shutdown is
	// under way returns nil and changes nothing.
	Stop() error
	// Crash leaves the loop at the end of the current callback without
	// firing "shutdown". Run then returns ErrCrashed and may be called again.
	Crash() error
	// Iterate runs one pass of the loop on a reactor that is not running:
	// queued calls, due timers, then waiting up to timeout for I/O.
	Iterate(timeout time.Duration) error
	// Running reports whether the reactor is running: true from the During
	// phase of "startup" until the During phase of "shutdown".
	Running() bool
	// CallWhenRunning calls f once the reactor is running: at once if it is
	// running now (and returns a zero TriggerID), otherwise as an After
	// "startup" trigger.
	CallWhenRunning(f func()) (TriggerID, error)
	// AddSystemEventTrigger registers f to run in phase of the next firing
	// of event.
	AddSystemEventTrigger(phase Phase, event string, f Trigger) (TriggerID, error)
	// RemoveSystemEventTrigger unregisters a trigger that has not run yet.
	RemoveSystemEventTrigger(id TriggerID) error
	// FireSystemEvent runs the triggers registered for event.
	FireSystemEvent(event string) error
}
