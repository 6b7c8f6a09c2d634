// Package gyre is the contract of the gyre event-driven networking engine: the
// interfaces a reactor implements, the values protocol code receives, and the
// errors every backend reports. It holds no implementation, so that backends,
// protocols and tests can all import it.
//
// A reactor runs every callback (timers, system event triggers, calls handed
// over from other goroutines, and later protocol events) one at a time on a
// single goroutine, so code driven by it needs no locks. Get one from package
// github.com/gyre-go/gyre/reactor:
//
//	r, err := reactor.New()
//	if err != nil {
//		log.Fatal(err)
//	}
//	r.CallLater(time.Second, func() { r.Stop() })
//	if err := r.Run(); err != nil {
//		log.Fatal(err)
//	}
//
// A reactor is split into facets (Core, Clock, Threads, ...) so that code
// which needs only one of them, for example only timers, can accept that facet
// and be tested against a fake (see package reactortest). Reactor embeds them
// all.
//
// The rules every reactor follows are written in docs/SPEC.md, each with an
// id; package reactortest checks them against any implementation.
//
// Unless a method's documentation says otherwise, methods of a reactor may be
// called only from the reactor's own goroutine: from inside a callback it
// runs, or before Run starts it. CallFromThread is the way in from elsewhere.
package gyre
