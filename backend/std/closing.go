package std

import "github.com/gyre-go/gyre/deferred"

// closing is what a listening or datagram port keeps to report that it has
// stopped: the Deferreds StopListening handed out fire together once the
// socket's goroutine has exited. Loop goroutine only.
type closing struct {
	stopped bool // the socket is closed (or closing)
	fired   bool // the Deferreds have fired
	d       *deferred.Deferred
	waiters []*deferred.Deferred
}

// request is StopListening: the first call closes the socket with closeFn,
// later ones get a Deferred of their own that fires with the first.
func (c *closing) request(closeFn func()) *deferred.Deferred {
	if c.fired {
		return deferred.Succeed(nil)
	}
	if c.stopped {
		d := deferred.New(nil)
		c.waiters = append(c.waiters, d)
		return d
	}
	c.d = deferred.New(nil)
	closeFn()
	return c.d
}

// fire fires every Deferred handed out, through safely, and reports false if
// that was already done.
func (c *closing) fire(safely func(func())) bool {
	if c.fired {
		return false
	}
	c.fired = true
	if c.d == nil { // closed by shutdown
		c.d = deferred.New(nil)
	}
	waiters := append([]*deferred.Deferred{c.d}, c.waiters...)
	c.waiters = nil
	for _, d := range waiters {
		safely(func() { _ = d.Callback(nil) })
	}
	return true
}
