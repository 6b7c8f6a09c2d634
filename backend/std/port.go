package std

import (
	"errors"
	"net"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// Accept retries after a shortage of descriptors or memory wait from
// acceptMinBackoff, doubling up to acceptMaxBackoff.
const (
	acceptMinBackoff = 10 * time.Millisecond
	acceptMaxBackoff = time.Second
)

// port is a listening socket and its accept goroutine.
type port struct {
	r    *Reactor
	seq  uint64
	ln   net.Listener
	f    gyre.Factory
	addr net.Addr

	closing // loop goroutine only

	stop   chan struct{} // closed by StopListening: the accept goroutine exits
	exited chan struct{} // closed by the accept goroutine as it exits
}

var _ gyre.Port = (*port)(nil)

// startPort starts accepting on ln, for f.
func (r *Reactor) startPort(ln net.Listener, f gyre.Factory) *port {
	p := &port{
		r:      r,
		seq:    r.nextSeq(),
		ln:     ln,
		f:      f,
		addr:   ln.Addr(),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	r.startFactory(f)
	r.ports[p] = struct{}{}
	r.spare.hold()
	r.wg.Add(1)
	go p.acceptLoop()
	return p
}

// Addr implements gyre.Port.
func (p *port) Addr() net.Addr { return p.addr }

// StopListening implements gyre.Port.
func (p *port) StopListening() *deferred.Deferred { return p.request(p.closeListener) }

// closeListener closes the socket; the accept goroutine then exits.
func (p *port) closeListener() {
	if p.stopped {
		return
	}
	p.stopped = true
	close(p.stop)
	_ = p.ln.Close()
}

// acceptLoop is the accept goroutine.
func (p *port) acceptLoop() {
	defer p.r.wg.Done()
	defer close(p.exited)
	var timer *time.Timer
	backoff := acceptMinBackoff
	logged := false
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			select {
			case <-p.stop:
				_ = p.r.CallFromThread(p.finish)
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				_ = p.r.CallFromThread(p.finish)
				return
			}
			if !logged {
				logged = true
				level := "accept failed; retrying"
				if isResourceShortage(err) {
					level = "accept failed for lack of resources; refusing connections until descriptors free up"
				}
				p.r.logger().Warn("gyre: "+level, "addr", p.addr.String(), "err", err)
			}
			if isResourceShortage(err) && p.r.spare.shed(p.ln) {
				// The waiting peers were closed rather than left
				// hanging. Accept again: it waits in the netpoller for
				// the next peer, so this does not spin.
				continue
			}
			if timer == nil {
				timer = time.NewTimer(backoff)
			} else {
				timer.Reset(backoff)
			}
			select {
			case <-timer.C:
			case <-p.stop:
				timer.Stop()
				_ = p.r.CallFromThread(p.finish)
				return
			}
			backoff = min(2*backoff, acceptMaxBackoff)
			continue
		}
		backoff, logged = acceptMinBackoff, false
		p.r.track(nc)
		if p.r.CallFromThread(func() { p.accepted(nc) }) != nil {
			p.r.untrack(nc)
			_ = nc.Close()
			return
		}
	}
}

// accepted runs on the loop for each connection accepted.
func (p *port) accepted(nc net.Conn) {
	p.r.untrack(nc)
	if p.stopped || p.r.down {
		_ = nc.Close()
		return
	}
	var proto gyre.Protocol
	p.r.safely(func() { proto = p.f.BuildProtocol(remoteAddr(nc)) })
	if proto == nil || p.r.down {
		_ = nc.Close()
		return
	}
	p.r.newConn(nc, proto, nil).start()
}

// finish runs on the loop once the accept goroutine has exited.
func (p *port) finish() {
	if p.fired {
		return
	}
	delete(p.r.ports, p)
	p.r.stopFactory(p.f)
	p.fire(p.r.safely)
}

// shutdown stops the port for the reactor's shutdown and waits for its
// accept goroutine, which never waits for the loop, to exit.
func (p *port) shutdown() {
	p.closeListener()
	<-p.exited
	p.finish()
}
