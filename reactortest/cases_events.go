package reactortest

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// eventsRecorder notes, in order, which triggers ran. It is used on the loop
// goroutine only.
type eventsRecorder struct{ got []string }

func (r *eventsRecorder) add(s string) { r.got = append(r.got, s) }

func (r *eventsRecorder) String() string { return strings.Join(r.got, " ") }

// trig returns a trigger that records name and has nothing to wait for.
func (r *eventsRecorder) trig(name string) gyre.Trigger {
	return func() *deferred.Deferred {
		r.add(name)
		return nil
	}
}

// wait returns a trigger that records name and returns d.
func (r *eventsRecorder) wait(name string, d *deferred.Deferred) gyre.Trigger {
	return func() *deferred.Deferred {
		r.add(name)
		return d
	}
}

// do returns a trigger that records name, then calls f.
func (r *eventsRecorder) do(name string, f func()) gyre.Trigger {
	return func() *deferred.Deferred {
		r.add(name)
		f()
		return nil
	}
}

// eventsAdd registers a trigger and fails the case if that fails.
func eventsAdd(c *C, p gyre.Phase, event string, f gyre.Trigger) gyre.TriggerID {
	c.Helper()
	id, err := c.R.AddSystemEventTrigger(p, event, f)
	if err != nil {
		c.Errorf("AddSystemEventTrigger(%v, %q): %v", p, event, err)
	}
	return id
}

// eventsFire fires an event and fails the case if that returns an error.
func eventsFire(c *C, event string) {
	c.Helper()
	c.NoErr(c.R.FireSystemEvent(event), fmt.Sprintf("FireSystemEvent(%q)", event))
}

// eventsRemove removes a trigger that must still be registered.
func eventsRemove(c *C, id gyre.TriggerID, what string) {
	c.Helper()
	c.NoErr(c.R.RemoveSystemEventTrigger(id), "RemoveSystemEventTrigger("+what+")")
}

// eventsMentioned reports whether a record at level min or above mentions
// text in its message or in one of its attributes.
func eventsMentioned(c *C, min slog.Level, text string) bool {
	for _, r := range c.Logs() {
		if r.Level < min {
			continue
		}
		if strings.Contains(r.Message, text) {
			return true
		}
		for _, v := range r.Attrs {
			if strings.Contains(v, text) {
				return true
			}
		}
	}
	return false
}

// eventsNoProblems fails the case if the reactor logged anything at Warn or
// above.
func eventsNoProblems(c *C, what string) {
	c.Helper()
	for _, r := range c.Logs() {
		if r.Level >= slog.LevelWarn {
			c.Errorf("%s: the reactor logged %v %q %v", what, r.Level, r.Message, r.Attrs)
		}
	}
}

func init() {
	register(
		Case{ID: "events.name.any", Facet: FacetEvents, Test: func(c *C) {
			names := []string{gyre.Persist, "my-app-event", "", "événement avec espaces", "shutdown.not"}
			for _, n := range names {
				eventsFire(c, n) // no triggers: nothing happens
			}
			eventsNoProblems(c, "firing events that have no triggers")
			var got []string
			for _, n := range names {
				eventsAdd(c, gyre.During, n, func() *deferred.Deferred {
					got = append(got, n)
					return nil
				})
			}
			for _, n := range names {
				eventsFire(c, n)
			}
			c.Equal(fmt.Sprintf("%q", got), fmt.Sprintf("%q", names), "triggers run for made-up event names")
		}},

		Case{ID: "events.phase.order", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.order"
			eventsAdd(c, gyre.After, ev, rec.trig("a1"))
			eventsAdd(c, gyre.During, ev, rec.trig("d1"))
			eventsAdd(c, gyre.Before, ev, rec.trig("b1"))
			eventsAdd(c, gyre.After, ev, rec.trig("a2"))
			eventsAdd(c, gyre.Before, ev, rec.trig("b2"))
			eventsAdd(c, gyre.During, ev, rec.trig("d2"))
			eventsAdd(c, gyre.Before, ev, rec.trig("b3"))
			eventsAdd(c, gyre.After, ev, rec.trig("a3"))
			eventsFire(c, ev)
			c.Equal(rec.String(), "b1 b2 b3 d1 d2 a1 a2 a3", "order the triggers ran in")
		}},

		Case{ID: "events.phase.unknown#bad-phase", Facet: FacetEvents, Test: func(c *C) {
			const ev = "gyre-test.bad-phase"
			ran := 0
			var ids []gyre.TriggerID
			for _, p := range []gyre.Phase{0, gyre.After + 1, -1, 100} {
				id, err := c.R.AddSystemEventTrigger(p, ev, func() *deferred.Deferred {
					ran++
					return nil
				})
				c.ErrIs(err, gyre.ErrUnknownPhase, fmt.Sprintf("AddSystemEventTrigger(Phase(%d))", int(p)))
				ids = append(ids, id)
			}
			eventsFire(c, ev)
			c.Equal(ran, 0, "triggers with a bad phase that ran")
			for _, id := range ids {
				c.ErrIs(c.R.RemoveSystemEventTrigger(id), gyre.ErrUnknownTrigger,
					fmt.Sprintf("removing id %d returned with ErrUnknownPhase", id))
			}
		}},

		Case{ID: "events.phase.unknown#nil-trigger", Facet: FacetEvents, Test: func(c *C) {
			const ev = "gyre-test.nil-trigger"
			var ids []gyre.TriggerID
			for _, p := range []gyre.Phase{gyre.Before, gyre.During, gyre.After} {
				for _, name := range []string{ev, gyre.Shutdown} {
					id, err := c.R.AddSystemEventTrigger(p, name, nil)
					c.ErrIs(err, gyre.ErrNilFunc, fmt.Sprintf("AddSystemEventTrigger(%v, %q, nil)", p, name))
					ids = append(ids, id)
				}
			}
			// A nil trigger that had been registered would panic here.
			eventsFire(c, ev)
			eventsNoProblems(c, "firing an event after adding nil triggers")
			for _, id := range ids {
				c.ErrIs(c.R.RemoveSystemEventTrigger(id), gyre.ErrUnknownTrigger,
					fmt.Sprintf("removing id %d returned with ErrNilFunc", id))
			}
		}},

		Case{ID: "events.trigger.once", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.once"
			eventsAdd(c, gyre.Before, ev, rec.trig("b1"))
			eventsAdd(c, gyre.During, ev, rec.trig("d1"))
			eventsAdd(c, gyre.After, ev, rec.trig("a1"))
			eventsFire(c, ev)
			eventsFire(c, ev)
			c.Equal(rec.String(), "b1 d1 a1", "after two firings")
			eventsAdd(c, gyre.After, ev, rec.trig("a2"))
			eventsAdd(c, gyre.Before, ev, rec.trig("b2"))
			eventsAdd(c, gyre.During, ev, rec.trig("d2"))
			eventsFire(c, ev)
			c.Equal(rec.String(), "b1 d1 a1 b2 d2 a2", "a third firing runs only the triggers added since")
		}},

		Case{ID: "events.before.deferred#by-hand", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.before-deferred"
			d := deferred.New(nil)
			eventsAdd(c, gyre.Before, ev, rec.wait("b1", d))
			eventsAdd(c, gyre.Before, ev, rec.trig("b2"))
			eventsAdd(c, gyre.During, ev, rec.trig("d1"))
			eventsAdd(c, gyre.After, ev, rec.trig("a1"))
			eventsFire(c, ev)
			c.Equal(rec.String(), "b1 b2", "triggers run while the Before Deferred has not fired")
			c.NoErr(d.Callback("ok"), "Callback")
			c.Equal(rec.String(), "b1 b2 d1 a1", "triggers run by the time Callback returned")
		}},

		Case{ID: "events.before.deferred#timer", Facet: FacetEvents, Needs: NeedClock, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.before-deferred"
			d := deferred.New(nil)
			eventsAdd(c, gyre.Before, ev, rec.wait("before", d))
			eventsAdd(c, gyre.During, ev, rec.trig("during"))
			eventsAdd(c, gyre.After, ev, rec.trig("after"))
			_, err := c.R.CallWhenRunning(func() {
				eventsFire(c, ev)
				rec.add("fired")
				c.Later(10*time.Millisecond, func() {
					rec.add("timer")
					c.NoErr(d.Callback(nil), "Callback")
					rec.add("callback-returned")
					c.NoErr(c.R.Stop(), "Stop")
				})
			})
			c.NoErr(err, "CallWhenRunning")
			c.NoErr(c.Run(), "Run")
			c.Equal(rec.String(), "before fired timer during after callback-returned", "order of events")
		}},

		Case{ID: "events.before.all", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.before-all"
			d1, d2 := deferred.New(nil), deferred.New(nil)
			eventsAdd(c, gyre.Before, ev, rec.wait("b1", d1))
			eventsAdd(c, gyre.Before, ev, rec.trig("b2"))
			eventsAdd(c, gyre.Before, ev, rec.wait("b3", d2))
			eventsAdd(c, gyre.During, ev, rec.trig("d1"))
			eventsAdd(c, gyre.After, ev, rec.trig("a1"))
			eventsFire(c, ev)
			c.Equal(rec.String(), "b1 b2 b3", "with both Deferreds pending")
			c.NoErr(d2.Callback(2), "second Deferred's Callback")
			c.Equal(rec.String(), "b1 b2 b3", "with the first Deferred still pending")
			c.NoErr(d1.Callback(1), "first Deferred's Callback")
			c.Equal(rec.String(), "b1 b2 b3 d1 a1", "once both have fired")
		}},

		Case{ID: "events.before.serves", Facet: FacetEvents, Needs: NeedClock | NeedThreads, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.serves"
			d := deferred.New(nil)
			eventsAdd(c, gyre.Before, ev, rec.wait("before", d))
			eventsAdd(c, gyre.During, ev, rec.do("during", func() { c.NoErr(c.R.Stop(), "Stop") }))
			_, err := c.R.CallWhenRunning(func() {
				eventsFire(c, ev)
				c.Later(time.Millisecond, func() {
					rec.add("timer")
					// From another goroutine, so that the call must
					// wake the loop while the event waits.
					go func() {
						err := c.Threads.CallFromThread(func() {
							rec.add("queued")
							c.NoErr(d.Callback(nil), "Callback")
						})
						if err != nil {
							c.Errorf("CallFromThread: %v", err)
						}
					}()
				})
			})
			c.NoErr(err, "CallWhenRunning")
			c.NoErr(c.Run(), "Run")
			c.Equal(rec.String(), "before timer queued during", "order of events")
		}},

		Case{ID: "events.before.failure#already-failed", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.before-failure"
			boom := errors.New("gyre-test: Before Deferred failed at once")
			eventsAdd(c, gyre.Before, ev, rec.wait("b1", deferred.Fail(boom)))
			eventsAdd(c, gyre.Before, ev, rec.trig("b2"))
			eventsAdd(c, gyre.During, ev, rec.trig("d1"))
			eventsAdd(c, gyre.After, ev, rec.trig("a1"))
			eventsFire(c, ev)
			c.Equal(rec.String(), "b1 b2 d1 a1", "triggers that ran")
			c.True(eventsMentioned(c, slog.LevelDebug, boom.Error()),
				"the failure %q was not logged; logged: %v", boom, c.Logs())
		}},

		Case{ID: "events.before.failure#fails-later", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.before-failure"
			boom := errors.New("gyre-test: Before Deferred failed later")
			d := deferred.New(nil)
			eventsAdd(c, gyre.Before, ev, rec.wait("b1", d))
			eventsAdd(c, gyre.During, ev, rec.trig("d1"))
			eventsAdd(c, gyre.After, ev, rec.trig("a1"))
			eventsFire(c, ev)
			c.Equal(rec.String(), "b1", "triggers run before the Deferred failed")
			c.NoErr(d.Errback(boom), "Errback")
			c.Equal(rec.String(), "b1 d1 a1", "triggers run once the Deferred failed")
			c.True(eventsMentioned(c, slog.LevelDebug, boom.Error()),
				"the failure %q was not logged; logged: %v", boom, c.Logs())
		}},

		Case{ID: "events.trigger.panic#all-phases", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.panic"
			values := map[gyre.Phase]string{
				gyre.Before: "gyre-test: panic in a Before trigger",
				gyre.During: "gyre-test: panic in a During trigger",
				gyre.After:  "gyre-test: panic in an After trigger",
			}
			panicker := func(name string, v string) gyre.Trigger {
				return func() *deferred.Deferred {
					rec.add(name)
					panic(v)
				}
			}
			eventsAdd(c, gyre.Before, ev, panicker("b1", values[gyre.Before]))
			eventsAdd(c, gyre.Before, ev, rec.trig("b2"))
			eventsAdd(c, gyre.During, ev, rec.trig("d1"))
			eventsAdd(c, gyre.During, ev, panicker("d2", values[gyre.During]))
			eventsAdd(c, gyre.During, ev, rec.trig("d3"))
			eventsAdd(c, gyre.After, ev, panicker("a1", values[gyre.After]))
			eventsAdd(c, gyre.After, ev, rec.trig("a2"))
			eventsFire(c, ev)
			c.Equal(rec.String(), "b1 b2 d1 d2 d3 a1 a2", "triggers that ran")
			for p, v := range values {
				c.True(eventsMentioned(c, slog.LevelError, v),
					"the panic of the %v trigger (%q) was not logged at level Error; logged: %v", p, v, c.Logs())
			}
		}},

		Case{ID: "events.trigger.panic#shutdown", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			values := []string{
				"gyre-test: panic in a Before shutdown trigger",
				"gyre-test: panic in a During shutdown trigger",
				"gyre-test: panic in an After shutdown trigger",
			}
			for i, p := range []gyre.Phase{gyre.Before, gyre.During, gyre.After} {
				name := p.String()
				v := values[i]
				eventsAdd(c, p, gyre.Shutdown, func() *deferred.Deferred {
					rec.add(name + "-panics")
					panic(v)
				})
				eventsAdd(c, p, gyre.Shutdown, rec.trig(name))
			}
			_, err := c.R.CallWhenRunning(func() { c.NoErr(c.R.Stop(), "Stop") })
			c.NoErr(err, "CallWhenRunning")
			c.NoErr(c.Run(), "Run")
			c.Equal(rec.String(), "before-panics before during-panics during after-panics after",
				"shutdown triggers that ran")
			for _, v := range values {
				c.True(eventsMentioned(c, slog.LevelError, v),
					"the panic %q was not logged at level Error; logged: %v", v, c.Logs())
			}
		}},

		Case{ID: "events.remove.before", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.remove"
			ids := make(map[string]gyre.TriggerID)
			for _, p := range []gyre.Phase{gyre.Before, gyre.During, gyre.After} {
				for _, n := range []string{"1", "2", "3"} {
					name := p.String()[:1] + n
					ids[name] = eventsAdd(c, p, ev, rec.trig(name))
					c.True(ids[name] != 0, "AddSystemEventTrigger returned the zero TriggerID")
				}
			}
			for _, name := range []string{"b1", "d2", "a3", "d3"} {
				eventsRemove(c, ids[name], name)
			}
			eventsFire(c, ev)
			c.Equal(rec.String(), "b2 b3 d1 a1 a2", "triggers that ran")
		}},

		Case{ID: "events.remove.while-firing#same-phase", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.remove-same-phase"
			var b2, d2, a2 gyre.TriggerID
			eventsAdd(c, gyre.Before, ev, rec.do("b1", func() { eventsRemove(c, b2, "b2 from b1") }))
			b2 = eventsAdd(c, gyre.Before, ev, rec.trig("b2"))
			eventsAdd(c, gyre.Before, ev, rec.trig("b3"))
			eventsAdd(c, gyre.During, ev, rec.do("d1", func() { eventsRemove(c, d2, "d2 from d1") }))
			d2 = eventsAdd(c, gyre.During, ev, rec.trig("d2"))
			eventsAdd(c, gyre.During, ev, rec.trig("d3"))
			eventsAdd(c, gyre.After, ev, rec.do("a1", func() { eventsRemove(c, a2, "a2 from a1") }))
			a2 = eventsAdd(c, gyre.After, ev, rec.trig("a2"))
			eventsAdd(c, gyre.After, ev, rec.trig("a3"))
			eventsFire(c, ev)
			c.Equal(rec.String(), "b1 b3 d1 d3 a1 a3", "triggers that ran")
		}},

		Case{ID: "events.remove.while-firing#before-removes-during", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.remove-later-phase"
			var d1, a2 gyre.TriggerID
			eventsAdd(c, gyre.Before, ev, rec.do("b1", func() {
				eventsRemove(c, d1, "During trigger d1 from b1")
				eventsRemove(c, a2, "After trigger a2 from b1")
			}))
			d1 = eventsAdd(c, gyre.During, ev, rec.trig("d1"))
			eventsAdd(c, gyre.During, ev, rec.trig("d2"))
			eventsAdd(c, gyre.After, ev, rec.trig("a1"))
			a2 = eventsAdd(c, gyre.After, ev, rec.trig("a2"))
			eventsFire(c, ev)
			c.Equal(rec.String(), "b1 d2 a1", "triggers that ran")
		}},

		Case{ID: "events.remove.while-firing#while-waiting", Facet: FacetEvents, Needs: NeedClock, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.remove-while-waiting"
			d := deferred.New(nil)
			eventsAdd(c, gyre.Before, ev, rec.wait("b1", d))
			d1 := eventsAdd(c, gyre.During, ev, rec.trig("d1"))
			eventsAdd(c, gyre.During, ev, rec.trig("d2"))
			eventsAdd(c, gyre.After, ev, rec.trig("a1"))
			a2 := eventsAdd(c, gyre.After, ev, rec.trig("a2"))
			_, err := c.R.CallWhenRunning(func() {
				eventsFire(c, ev)
				c.Later(time.Millisecond, func() {
					eventsRemove(c, d1, "d1 while the event waits")
					eventsRemove(c, a2, "a2 while the event waits")
					c.Later(time.Millisecond, func() {
						c.NoErr(d.Callback(nil), "Callback")
						c.NoErr(c.R.Stop(), "Stop")
					})
				})
			})
			c.NoErr(err, "CallWhenRunning")
			c.NoErr(c.Run(), "Run")
			c.Equal(rec.String(), "b1 d2 a1", "triggers that ran")
		}},

		Case{ID: "events.remove.unknown#never-issued", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.remove-unknown"
			id := eventsAdd(c, gyre.During, ev, rec.trig("d1"))
			for _, bad := range []gyre.TriggerID{0, id + 1, id + 1000, ^gyre.TriggerID(0)} {
				c.ErrIs(c.R.RemoveSystemEventTrigger(bad), gyre.ErrUnknownTrigger,
					fmt.Sprintf("RemoveSystemEventTrigger(%d), never issued", bad))
			}
			eventsFire(c, ev)
			c.Equal(rec.String(), "d1", "the registered trigger still runs")
		}},

		Case{ID: "events.remove.unknown#removed-twice", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.remove-twice"
			id := eventsAdd(c, gyre.Before, ev, rec.trig("b1"))
			eventsAdd(c, gyre.Before, ev, rec.trig("b2"))
			eventsRemove(c, id, "first removal")
			c.ErrIs(c.R.RemoveSystemEventTrigger(id), gyre.ErrUnknownTrigger, "second removal")
			eventsFire(c, ev)
			c.ErrIs(c.R.RemoveSystemEventTrigger(id), gyre.ErrUnknownTrigger, "removal after the event fired")
			c.Equal(rec.String(), "b2", "triggers that ran")
		}},

		Case{ID: "events.remove.unknown#already-run", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.remove-ran"
			d := deferred.New(nil)
			var b1, b2 gyre.TriggerID
			b1 = eventsAdd(c, gyre.Before, ev, rec.trig("b1"))
			b2 = eventsAdd(c, gyre.Before, ev, rec.do("b2", func() {
				c.ErrIs(c.R.RemoveSystemEventTrigger(b1), gyre.ErrUnknownTrigger,
					"removing Before trigger b1, already run, from b2 in the same phase")
			}))
			eventsAdd(c, gyre.Before, ev, rec.wait("b3", d))
			d1 := eventsAdd(c, gyre.During, ev, rec.trig("d1"))
			a1 := eventsAdd(c, gyre.After, ev, rec.trig("a1"))
			eventsFire(c, ev)
			c.ErrIs(c.R.RemoveSystemEventTrigger(b2), gyre.ErrUnknownTrigger,
				"removing Before trigger b2, already run, while the event waits on a Before Deferred")
			c.NoErr(d.Callback(nil), "Callback")
			c.Equal(rec.String(), "b1 b2 b3 d1 a1", "triggers that ran")
			for name, id := range map[string]gyre.TriggerID{"d1": d1, "a1": a1} {
				c.ErrIs(c.R.RemoveSystemEventTrigger(id), gyre.ErrUnknownTrigger,
					"removing "+name+" after the event fired")
			}
		}},

		Case{ID: "events.add.while-firing#unfinished-phase", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.add-while-firing"
			eventsAdd(c, gyre.Before, ev, rec.do("b1", func() {
				eventsAdd(c, gyre.Before, ev, rec.trig("b-late"))
				eventsAdd(c, gyre.During, ev, rec.trig("d-from-b"))
				eventsAdd(c, gyre.After, ev, rec.trig("a-from-b"))
			}))
			eventsAdd(c, gyre.During, ev, rec.do("d1", func() {
				eventsAdd(c, gyre.During, ev, rec.trig("d-late"))
				eventsAdd(c, gyre.After, ev, rec.trig("a-from-d"))
			}))
			eventsAdd(c, gyre.After, ev, rec.do("a1", func() {
				eventsAdd(c, gyre.After, ev, rec.trig("a-late"))
			}))
			eventsFire(c, ev)
			c.Equal(rec.String(), "b1 b-late d1 d-from-b d-late a1 a-from-b a-from-d a-late", "triggers that ran")
			eventsFire(c, ev)
			c.Equal(rec.String(), "b1 b-late d1 d-from-b d-late a1 a-from-b a-from-d a-late",
				"triggers that ran after a second firing")
		}},

		Case{ID: "events.add.while-firing#finished-phase", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.add-finished"
			eventsAdd(c, gyre.During, ev, rec.do("d1", func() {
				eventsAdd(c, gyre.Before, ev, rec.trig("b-next"))
			}))
			eventsAdd(c, gyre.After, ev, rec.do("a1", func() {
				eventsAdd(c, gyre.Before, ev, rec.trig("b-next2"))
				eventsAdd(c, gyre.During, ev, rec.trig("d-next"))
			}))
			eventsFire(c, ev)
			c.Equal(rec.String(), "d1 a1", "triggers that ran in the first firing")
			eventsFire(c, ev)
			c.Equal(rec.String(), "d1 a1 b-next b-next2 d-next", "triggers that ran after the second firing")
		}},

		Case{ID: "events.add.while-firing#while-waiting", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.add-while-waiting"
			d := deferred.New(nil)
			eventsAdd(c, gyre.Before, ev, rec.wait("b1", d))
			eventsAdd(c, gyre.During, ev, rec.trig("d1"))
			eventsAdd(c, gyre.After, ev, rec.trig("a1"))
			eventsFire(c, ev)
			eventsAdd(c, gyre.During, ev, rec.trig("d-late"))
			eventsAdd(c, gyre.After, ev, rec.trig("a-late"))
			c.Equal(rec.String(), "b1", "triggers run while the event waits")
			c.NoErr(d.Callback(nil), "Callback")
			c.Equal(rec.String(), "b1 d1 d-late a1 a-late", "triggers run once the Deferred fired")
		}},

		Case{ID: "events.independent#waiting", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const evA, evB = "gyre-test.a", "gyre-test.b"
			d := deferred.New(nil)
			eventsAdd(c, gyre.Before, evA, rec.wait("a-before", d))
			eventsAdd(c, gyre.During, evA, rec.trig("a-during"))
			eventsAdd(c, gyre.After, evA, rec.trig("a-after"))
			eventsAdd(c, gyre.Before, evB, rec.trig("b-before"))
			eventsAdd(c, gyre.During, evB, rec.trig("b-during"))
			eventsAdd(c, gyre.After, evB, rec.trig("b-after"))
			eventsFire(c, evA)
			eventsFire(c, evB)
			c.Equal(rec.String(), "a-before b-before b-during b-after", "while the first event waits")
			c.NoErr(d.Callback(nil), "Callback")
			c.Equal(rec.String(), "a-before b-before b-during b-after a-during a-after", "once it has fired")
		}},

		Case{ID: "events.independent#nested", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const evA, evB = "gyre-test.outer", "gyre-test.inner"
			eventsAdd(c, gyre.Before, evA, rec.trig("a-before"))
			eventsAdd(c, gyre.During, evA, rec.do("a-during", func() { eventsFire(c, evB) }))
			eventsAdd(c, gyre.After, evA, rec.trig("a-after"))
			eventsAdd(c, gyre.Before, evB, rec.trig("b-before"))
			eventsAdd(c, gyre.During, evB, rec.trig("b-during"))
			eventsAdd(c, gyre.After, evB, rec.trig("b-after"))
			eventsFire(c, evA)
			c.Equal(rec.String(), "a-before a-during b-before b-during b-after a-after", "triggers that ran")
		}},

		Case{ID: "events.fire.in-progress#waiting", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.in-progress"
			d := deferred.New(nil)
			eventsAdd(c, gyre.Before, ev, rec.wait("b1", d))
			eventsAdd(c, gyre.During, ev, rec.trig("d1"))
			eventsAdd(c, gyre.After, ev, rec.trig("a1"))
			eventsFire(c, ev)
			eventsFire(c, ev) // still waiting on d: does nothing
			c.Equal(rec.String(), "b1", "triggers run after firing again while the first firing waits")
			c.NoErr(d.Callback(nil), "Callback")
			c.Equal(rec.String(), "b1 d1 a1", "triggers run once the Deferred fired")
		}},

		Case{ID: "events.fire.in-progress#reentrant", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			const ev = "gyre-test.reentrant"
			eventsAdd(c, gyre.During, ev, rec.do("d1", func() {
				// Before has finished, so this waits for the next firing.
				eventsAdd(c, gyre.Before, ev, rec.trig("b-next"))
				eventsFire(c, ev)
				rec.add("refire-returned")
			}))
			eventsAdd(c, gyre.After, ev, rec.trig("a1"))
			eventsFire(c, ev)
			c.Equal(rec.String(), "d1 refire-returned a1", "triggers run by a firing that fires itself again")
			eventsFire(c, ev)
			c.Equal(rec.String(), "d1 refire-returned a1 b-next", "triggers run by the next firing")
		}},

		Case{ID: "events.startup.reserved#idle", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			ids := []gyre.TriggerID{
				eventsAdd(c, gyre.Before, gyre.Startup, rec.trig("before")),
				eventsAdd(c, gyre.During, gyre.Startup, rec.trig("during")),
				eventsAdd(c, gyre.After, gyre.Startup, rec.trig("after")),
			}
			c.ErrIs(c.R.FireSystemEvent(gyre.Startup), gyre.ErrReservedEvent, `FireSystemEvent("startup")`)
			c.Equal(rec.String(), "", "startup triggers that ran")
			c.True(!c.R.Running(), "Running is true after FireSystemEvent(\"startup\")")
			for _, id := range ids {
				eventsRemove(c, id, "startup trigger that must not have run")
			}
		}},

		Case{ID: "events.startup.reserved#running", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			_, err := c.R.CallWhenRunning(func() {
				id := eventsAdd(c, gyre.Before, gyre.Startup, rec.trig("before"))
				c.ErrIs(c.R.FireSystemEvent(gyre.Startup), gyre.ErrReservedEvent,
					`FireSystemEvent("startup") on a running reactor`)
				eventsRemove(c, id, "startup trigger that must not have run")
				c.NoErr(c.R.Stop(), "Stop")
			})
			c.NoErr(err, "CallWhenRunning")
			c.NoErr(c.Run(), "Run")
			c.Equal(rec.String(), "", "startup triggers that ran")
		}},

		Case{ID: "events.shutdown.order", Facet: FacetEvents, Test: func(c *C) {
			var rec eventsRecorder
			eventsAdd(c, gyre.After, gyre.Shutdown, rec.trig("a1"))
			eventsAdd(c, gyre.During, gyre.Shutdown, rec.trig("d1"))
			eventsAdd(c, gyre.Before, gyre.Shutdown, rec.trig("b1"))
			eventsAdd(c, gyre.After, gyre.Shutdown, rec.trig("a2"))
			eventsAdd(c, gyre.During, gyre.Shutdown, rec.trig("d2"))
			eventsAdd(c, gyre.Before, gyre.Shutdown, rec.trig("b2"))
			_, err := c.R.CallWhenRunning(func() {
				c.NoErr(c.R.Stop(), "Stop")
				rec.add("stop-returned")
			})
			c.NoErr(err, "CallWhenRunning")
			c.NoErr(c.Run(), "Run")
			c.Equal(rec.String(), "stop-returned b1 b2 d1 d2 a1 a2", "what ran before Run returned")
		}},

		Case{ID: "events.shutdown.deferred", Facet: FacetEvents, Needs: NeedClock, Test: func(c *C) {
			var rec eventsRecorder
			d := deferred.New(nil)
			eventsAdd(c, gyre.Before, gyre.Shutdown, func() *deferred.Deferred {
				rec.add("before")
				c.Later(time.Millisecond, func() { rec.add("tick") })
				c.Later(30*time.Millisecond, func() {
					rec.add("fire")
					c.NoErr(d.Callback(nil), "Callback")
				})
				return d
			})
			eventsAdd(c, gyre.During, gyre.Shutdown, rec.trig("during"))
			eventsAdd(c, gyre.After, gyre.Shutdown, rec.trig("after"))
			_, err := c.R.CallWhenRunning(func() { c.NoErr(c.R.Stop(), "Stop") })
			c.NoErr(err, "CallWhenRunning")
			c.NoErr(c.Run(), "Run")
			c.Equal(rec.String(), "before tick fire during after", "what ran before Run returned")
		}},
	)
}
