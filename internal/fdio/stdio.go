//go:build unix

package fdio

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/internal/stdfd"
)

// Standard I/O (gyre.StandardIO). The transport is a conn like a socket's,
// flagged fStdio: its fd is the duplicate of out, which every write path
// uses as it is, and it reads from the duplicate of in (readFD). The conn is
// the poller's handler for both descriptors, registered for In on the one
// and Out on the other, so that each event reaches the right half of Ready.
// A descriptor that the poller refuses (epoll's EPERM for regular files and
// /dev/null, which are always ready) is not polled: while the conn wants it,
// a queued call on every pass of the loop stands in for its readiness.
//
// Closing the transport closes the duplicates, never the caller's files, and
// puts back the O_NONBLOCK flag (package stdfd). LoseWriteConnection, once
// everything is written, closes the duplicate of out: the reader sees end of
// file only if the caller has closed its own out too.

var errNilProtocol = errors.New("gyre: nil protocol")

// stdioConn is the transport of ConnectStdio.
type stdioConn struct{ conn }

var _ gyre.Transport = (*stdioConn)(nil)

// LocalAddr implements gyre.Transport.
func (c *stdioConn) LocalAddr() net.Addr { return gyre.StdioAddr{} }

// RemoteAddr implements gyre.Transport.
func (c *stdioConn) RemoteAddr() net.Addr { return gyre.StdioAddr{} }

// stdioEnds is what a standard I/O conn has besides a socket's.
type stdioEnds struct {
	p       *stdfd.Pair
	c       *conn
	in, out stdioEnd
}

// stdioEnd is the polling state of one of the two descriptors.
type stdioEnd struct {
	ev         Interest // In for in, Out for out
	registered bool     // in the poller's table
	polled     bool     // the poller watches it; otherwise it is always ready
	cur        Interest // what the poller watches it for, when polled
	want       bool     // not polled: the conn wants it
	queued     bool     // not polled: kick is queued
	kick       func()
}

// ConnectStdio implements gyre.StandardIO.
func (n *Net) ConnectStdio(p gyre.Protocol, in, out *os.File) (gyre.Transport, error) {
	if p == nil {
		return nil, errNilProtocol
	}
	if n.stopped {
		return nil, gyre.ErrStopped
	}
	if in == nil {
		in = os.Stdin
	}
	if out == nil {
		out = os.Stdout
	}
	pair, err := stdfd.Open(in, out)
	if err != nil {
		return nil, err
	}
	t := &stdioConn{conn{n: n, fd: pair.Out.FD, flags: fStdio}}
	c := &t.conn
	s := &stdioEnds{p: pair, c: c, in: stdioEnd{ev: In}, out: stdioEnd{ev: Out}}
	s.in.kick = func() { s.ready(&s.in) }
	s.out.kick = func() { s.ready(&s.out) }
	c.extra().stdio = s
	if err := s.register(&s.in, pair.In.FD); err != nil {
		c.releaseStdio()
		return nil, err
	}
	if err := s.register(&s.out, pair.Out.FD); err != nil {
		c.releaseStdio()
		return nil, err
	}
	c.proto = p
	c.flags |= fStarted
	c.updateInterest()
	c.guard(func() { p.ConnectionMade(t) })
	return t, nil
}

// register puts fd in the poller's table (so that shutdown finds the conn)
// and finds out whether the poller can watch it.
func (s *stdioEnds) register(e *stdioEnd, fd int) error {
	p := s.c.n.p
	if err := p.Add(fd, s.c, 0); err != nil {
		return err
	}
	e.registered = true
	err := p.Modify(fd, e.ev)
	switch {
	case err == nil:
		e.polled = true
		return p.Modify(fd, 0)
	case errors.Is(err, unix.EPERM):
		// epoll refuses files that are always ready. Register afresh,
		// watched for nothing.
		p.Remove(fd)
		return p.Add(fd, s.c, 0)
	}
	return err
}

// readFD is the descriptor a conn reads.
func (c *conn) readFD() int {
	if c.flags&fStdio != 0 {
		return c.x.stdio.p.In.FD
	}
	return c.fd
}

// stdioInterest splits what the conn wants between its two descriptors.
func (c *conn) stdioInterest(in Interest) {
	s := c.x.stdio
	s.set(&s.in, s.p.In.FD, in&In)
	s.set(&s.out, s.p.Out.FD, in&Out)
}

func (s *stdioEnds) set(e *stdioEnd, fd int, want Interest) {
	if fd < 0 || !e.polled {
		// Always ready; so is out once LoseWriteConnection has closed it,
		// for a LoseConnection that follows to finish.
		e.want = want != 0
		if e.want {
			s.schedule(e)
		}
		return
	}
	if want == e.cur {
		return
	}
	e.cur = want
	if err := s.c.n.p.Modify(fd, want); err != nil {
		s.c.loseWith(fmt.Errorf("%w: %w", gyre.ErrConnectionLost, err))
	}
}

// schedule queues e's stand-in readiness for the next pass.
func (s *stdioEnds) schedule(e *stdioEnd) {
	if e.queued {
		return
	}
	e.queued = true
	if s.c.n.l.CallFromThread(e.kick) != nil {
		e.queued = false // the reactor has stopped
	}
}

// ready is an always-ready descriptor's event, once a pass while wanted.
func (s *stdioEnds) ready(e *stdioEnd) {
	e.queued = false
	c := s.c
	if !e.want || c.has(fLosing) {
		return
	}
	c.Ready(e.ev)
	if e.want && !c.has(fLosing) {
		s.schedule(e)
	}
}

// shutWrite shuts down the sending side: a socket's, or a standard I/O
// transport's by closing its duplicate of out.
func (c *conn) shutWrite() error {
	if !c.has(fStdio) {
		return unix.Shutdown(c.fd, unix.SHUT_WR)
	}
	s := c.x.stdio
	s.closeEnd(&s.out, &s.p.Out)
	c.fd = -1
	return nil
}

func (s *stdioEnds) closeEnd(e *stdioEnd, end *stdfd.End) {
	e.want = false
	e.polled = false
	if end.FD < 0 {
		return
	}
	if e.registered {
		s.c.n.p.Remove(end.FD)
		e.registered = false
	}
	unix.Close(s.p.Release(end))
}

// releaseStdio closes both duplicates, putting their flags back.
func (c *conn) releaseStdio() {
	s := c.x.stdio
	s.closeEnd(&s.out, &s.p.Out)
	s.closeEnd(&s.in, &s.p.In)
	c.fd = -1
	c.w = nil
}
