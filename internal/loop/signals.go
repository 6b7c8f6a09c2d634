package loop

import (
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/gyre-go/gyre"
)

// Signals on the loop (gyre.Signals), the same for every backend.
//
// A loop holds at most one os/signal channel, notified for the union of the
// signals its handlers want, and one goroutine that forwards what arrives on
// it to the loop with CallFromThread, in the order os/signal delivered it;
// the handlers run there. The channel and its goroutine exist only while some
// handler is installed: the goroutine ends when the last handler is cancelled
// and when the reactor stops.
//
// os/signal can add signals to a channel but cannot take one away (Stop drops
// them all), and a signal no channel is notified for has its default effect
// again, which for SIGINT ends the program. So when the set shrinks, a new
// channel is notified for the new set before the old one is stopped, and the
// old goroutine forwards what was still buffered before it ends. A signal
// that arrives in that short window reaches both channels and may be
// delivered twice; none is lost.
//
// Every Loop gets its own copy of each signal (os/signal sends to every
// channel notified for it), so several reactors in one process each hear it.
//
// Run (and a foreign driver's Begin) installs the default handler: Stop on
// SIGINT and SIGTERM, unless Options.NoSignalHandlers is set. It is removed
// when Run returns and installed again by the next Run. A handler installed
// with HandleSignal for one of those signals replaces the default one for that
// signal while it is installed.

// sigBuffer is the capacity of the notification channel: os/signal drops a
// signal rather than block, so this many may wait for the forwarder.
const sigBuffer = 16

// stopSignals are the signals the default handler stops the reactor on.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// sigHandler is one HandleSignal registration.
type sigHandler struct {
	f    func(os.Signal)
	sigs []os.Signal
	gone bool // cancelled, or removed when the reactor stopped
}

// signals is a loop's signal state; loop goroutine only.
type signals struct {
	noDefault bool           // Options.NoSignalHandlers
	def       bool           // the default handler is installed (during Run)
	closed    bool           // the reactor has stopped: no more handlers
	users     []*sigHandler  // HandleSignal's handlers, in the order installed
	ch        chan os.Signal // notified for caught; nil when caught is empty
	caught    []os.Signal
}

var _ gyre.Signals = (*Loop)(nil)

// HandleSignal implements gyre.Signals. It and the cancel function it
// returns are loop-only methods.
func (l *Loop) HandleSignal(f func(sig os.Signal), sigs ...os.Signal) (cancel func(), err error) {
	l.onLoop("HandleSignal")
	if f == nil {
		return nil, gyre.ErrNilFunc
	}
	if err := checkSignals(sigs); err != nil {
		return nil, err
	}
	if l.sig.closed || l.state == stateStopped {
		return nil, gyre.ErrStopped
	}
	h := &sigHandler{f: f, sigs: slices.Clone(sigs)}
	l.sig.users = append(l.sig.users, h)
	l.updateSignals()
	return func() { l.cancelSignal(h) }, nil
}

// checkSignals refuses an empty list, a nil signal and the signals no
// program can catch.
func checkSignals(sigs []os.Signal) error {
	if len(sigs) == 0 {
		return errNoSignals
	}
	for _, s := range sigs {
		if s == nil {
			return errNilSignal
		}
		if uncatchable(s) {
			return &signalError{sig: s}
		}
	}
	return nil
}

var (
	errNoSignals = &signalError{why: "no signal given"}
	errNilSignal = &signalError{why: "nil signal"}
)

// signalError is HandleSignal's complaint about its signals; errors.Is
// matches it with gyre.ErrInvalidSignal.
type signalError struct {
	sig os.Signal
	why string
}

func (e *signalError) Error() string {
	if e.sig != nil {
		return gyre.ErrInvalidSignal.Error() + ": " + e.sig.String() + " cannot be caught"
	}
	return gyre.ErrInvalidSignal.Error() + ": " + e.why
}

func (e *signalError) Unwrap() error { return gyre.ErrInvalidSignal }

func (l *Loop) cancelSignal(h *sigHandler) {
	l.onLoop("HandleSignal's cancel")
	if h.gone {
		return
	}
	h.gone = true
	if i := slices.Index(l.sig.users, h); i >= 0 {
		l.sig.users = slices.Delete(l.sig.users, i, i+1)
	}
	l.updateSignals()
}

// sigBegin installs the default handler as Run starts.
func (l *Loop) sigBegin() {
	if !l.sig.noDefault && !l.sig.closed && !l.sig.def {
		l.sig.def = true
		l.updateSignals()
	}
}

// sigEnd removes the default handler as Run returns.
func (l *Loop) sigEnd() {
	if l.sig.def {
		l.sig.def = false
		l.updateSignals()
	}
}

// sigClose removes every handler when the reactor stops for good.
func (l *Loop) sigClose() {
	s := &l.sig
	s.closed = true
	s.def = false
	for _, h := range s.users {
		h.gone = true
	}
	s.users = nil
	l.updateSignals()
}

// updateSignals makes the channel notified for exactly the signals the
// installed handlers want.
func (l *Loop) updateSignals() {
	s := &l.sig
	var want []os.Signal
	add := func(sig os.Signal) {
		if !slices.Contains(want, sig) {
			want = append(want, sig)
		}
	}
	for _, h := range s.users {
		for _, sig := range h.sigs {
			add(sig)
		}
	}
	if s.def {
		for _, sig := range stopSignals {
			add(sig)
		}
	}
	shrinks := false
	for _, sig := range s.caught {
		if !slices.Contains(want, sig) {
			shrinks = true
			break
		}
	}
	if !shrinks {
		var added []os.Signal
		for _, sig := range want {
			if !slices.Contains(s.caught, sig) {
				added = append(added, sig)
			}
		}
		if len(added) == 0 {
			return
		}
		if s.ch == nil {
			s.ch = make(chan os.Signal, sigBuffer)
			go l.forwardSignals(s.ch)
		}
		signal.Notify(s.ch, added...)
		s.caught = want
		return
	}
	// Notify the new channel first, so that no signal finds none.
	old := s.ch
	s.ch = nil
	if len(want) > 0 {
		s.ch = make(chan os.Signal, sigBuffer)
		signal.Notify(s.ch, want...)
		go l.forwardSignals(s.ch)
	}
	signal.Stop(old)
	close(old) // Stop guarantees no more sends: the forwarder drains and ends
	s.caught = want
}

// forwardSignals hands each signal arriving on ch to the loop, until ch is
// closed.
func (l *Loop) forwardSignals(ch <-chan os.Signal) {
	for sig := range ch {
		// Fails only once the reactor has stopped, with nobody to tell.
		_ = l.CallFromThread(func() { l.deliverSignal(sig) })
	}
}

// deliverSignal runs on the loop: the handlers installed for sig now, in the
// order they were installed, or else the default one.
func (l *Loop) deliverSignal(sig os.Signal) {
	s := &l.sig
	var hs []*sigHandler
	for _, h := range s.users {
		if slices.Contains(h.sigs, sig) {
			hs = append(hs, h)
		}
	}
	for _, h := range hs {
		if !h.gone { // an earlier handler may have cancelled it
			l.Call(func() { h.f(sig) })
		}
	}
	if len(hs) == 0 && s.def && slices.Contains(stopSignals, sig) {
		l.log.Debug("gyre: stopping on signal", "signal", sig.String())
		_ = l.Stop() // nil while stopping already: a second signal changes nothing
	}
}
