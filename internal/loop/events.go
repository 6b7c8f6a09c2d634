package loop

import (
	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// event holds the triggers waiting for the next firing of one system event.
// A firing takes triggers from the front of each phase's list, so a trigger
// added to a phase that has not finished yet runs in the current firing, and
// one added to a finished phase waits for the next firing.
type event struct {
	name   string
	phases [3][]*trigger // Before, During, After
	firing *firing       // non-nil while a firing is under way
}

type trigger struct {
	id    gyre.TriggerID
	phase gyre.Phase
	ev    *event
	f     gyre.Trigger
}

// firing is one firing of an event in progress.
type firing struct {
	ev          *event
	pending     int    // Before-phase Deferreds not yet fired, plus one while Before runs
	afterBefore func() // replaces the move to During when Before is done
	during      func() // the reactor's own first During step
	done        func() // run after the After phase
	abandoned   bool   // startup cut short by Stop
}

// AddSystemEventTrigger implements gyre.Core.
func (l *Loop) AddSystemEventTrigger(phase gyre.Phase, name string, f gyre.Trigger) (gyre.TriggerID, error) {
	l.onLoop("AddSystemEventTrigger")
	if phase < gyre.Before || phase > gyre.After {
		return 0, gyre.ErrUnknownPhase
	}
	if f == nil {
		return 0, gyre.ErrNilFunc
	}
	ev := l.events[name]
	if ev == nil {
		ev = &event{name: name}
		l.events[name] = ev
	}
	l.lastID++
	t := &trigger{id: l.lastID, phase: phase, ev: ev, f: f}
	ev.phases[phase-1] = append(ev.phases[phase-1], t)
	l.triggers[t.id] = t
	return t.id, nil
}

// RemoveSystemEventTrigger implements gyre.Core.
func (l *Loop) RemoveSystemEventTrigger(id gyre.TriggerID) error {
	l.onLoop("RemoveSystemEventTrigger")
	t := l.triggers[id]
	if t == nil {
		return gyre.ErrUnknownTrigger
	}
	delete(l.triggers, id)
	list := t.ev.phases[t.phase-1]
	for i, u := range list {
		if u == t {
			t.ev.phases[t.phase-1] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	return nil
}

// CallWhenRunning implements gyre.Core.
func (l *Loop) CallWhenRunning(f func()) (gyre.TriggerID, error) {
	if f == nil {
		return 0, gyre.ErrNilFunc
	}
	switch {
	case l.running:
		f()
		return 0, nil
	case l.state == stateStopping || l.state == stateStopped:
		return 0, gyre.ErrStopped
	}
	return l.AddSystemEventTrigger(gyre.After, gyre.Startup, func() *deferred.Deferred {
		f()
		return nil
	})
}

// FireSystemEvent implements gyre.Core. "startup" is reserved; "shutdown"
// stops the reactor: a running one as Stop does, and one that is not running
// by running its loop here until the shutdown is complete.
func (l *Loop) FireSystemEvent(name string) error {
	l.onLoop("FireSystemEvent")
	switch name {
	case gyre.Startup:
		return gyre.ErrReservedEvent
	case gyre.Shutdown:
		return l.fireShutdownByHand()
	}
	l.fire(l.event(name))
	return nil
}

func (l *Loop) fireShutdownByHand() error {
	switch l.state {
	case stateStopped:
		return gyre.ErrStopped
	case stateStopping:
		return nil
	case stateStarting, stateRunning:
		if l.inLoop {
			l.stopReq = true
			return nil
		}
	}
	if l.inLoop {
		// Inside Iterate: there is no loop here to finish the shutdown.
		return gyre.ErrAlreadyRunning
	}
	l.inLoop = true
	l.enter()
	l.beginShutdown()
	l.loop()
	l.inLoop = false
	l.crashReq = false
	return nil
}

func (l *Loop) event(name string) *event {
	ev := l.events[name]
	if ev == nil {
		ev = &event{name: name}
		l.events[name] = ev
	}
	return ev
}

func (l *Loop) fireStartup() {
	f := &firing{ev: l.event(gyre.Startup)}
	f.during = func() {
		l.running = true
		l.state = stateRunning
	}
	f.done = func() { l.startup = nil }
	l.startup = f
	l.start(f)
}

// beginShutdown fires "shutdown". Its During phase first stops the reactor
// running and drains the worker pool; the loop keeps serving I/O and timers
// meanwhile, and leaves once the After phase is done.
func (l *Loop) beginShutdown() {
	if l.startup != nil {
		l.startup.abandoned = true
		l.startup = nil
	}
	l.state = stateStopping
	ev := l.event(gyre.Shutdown)
	if ev.firing != nil {
		return
	}
	f := &firing{ev: ev, done: l.finish}
	f.afterBefore = func() {
		l.running = false
		l.runShutdownHooks()
		l.pool.stop(func() {
			// From the last worker, or at once if there is none: hand
			// the rest back to the loop. The queue closes only in finish.
			_ = l.CallFromThread(func() { l.continueFiring(f) })
		})
	}
	l.start(f)
}

// runShutdownHooks runs the backends' OnShutdown hooks, once.
func (l *Loop) runShutdownHooks() {
	hooks := l.onShutdown
	l.onShutdown = nil
	for _, g := range hooks {
		l.Call(g)
	}
}

// fire starts a firing of ev, unless one is already under way.
func (l *Loop) fire(ev *event) {
	if ev.firing == nil {
		l.start(&firing{ev: ev})
	}
}

// start runs the Before phase of a firing, and the rest of it once every
// Deferred returned by a Before trigger has fired.
func (l *Loop) start(f *firing) {
	f.ev.firing = f
	f.pending++ // hold the phase open while the triggers run
	for {
		t := l.takeTrigger(f.ev, gyre.Before)
		if t == nil {
			break
		}
		var d *deferred.Deferred
		l.Call(func() { d = t.f() })
		if l.crashReq {
			l.interrupt(f)
			return
		}
		if d == nil {
			continue
		}
		f.pending++
		d.AddBoth(func(v any) any {
			if err, ok := v.(error); ok {
				l.log.Error("gyre: system event trigger failed", "event", f.ev.name, "err", err)
			}
			l.beforeDone(f)
			return nil
		})
	}
	l.beforeDone(f)
}

func (l *Loop) beforeDone(f *firing) {
	f.pending--
	if f.pending > 0 {
		return
	}
	if f.afterBefore != nil {
		f.afterBefore()
		return
	}
	l.continueFiring(f)
}

// continueFiring runs the During and After phases.
func (l *Loop) continueFiring(f *firing) {
	if f.abandoned {
		f.ev.firing = nil
		return
	}
	if f.during != nil {
		f.during()
	}
	for _, p := range [...]gyre.Phase{gyre.During, gyre.After} {
		for {
			t := l.takeTrigger(f.ev, p)
			if t == nil {
				break
			}
			l.Call(func() { t.f() })
			if l.crashReq {
				l.interrupt(f)
				return
			}
		}
	}
	f.ev.firing = nil
	if f.done != nil {
		f.done()
	}
}

// interrupt abandons a firing cut short by Crash. Its triggers not yet run
// stay registered for the event's next firing; for "startup", that is the
// next Run.
func (l *Loop) interrupt(f *firing) {
	f.abandoned = true
	f.ev.firing = nil
	if f == l.startup {
		l.startup = nil
	}
}

// takeTrigger removes and returns the first trigger of a phase.
func (l *Loop) takeTrigger(ev *event, p gyre.Phase) *trigger {
	list := ev.phases[p-1]
	if len(list) == 0 {
		return nil
	}
	t := list[0]
	list[0] = nil
	ev.phases[p-1] = list[1:]
	delete(l.triggers, t.id)
	return t
}
