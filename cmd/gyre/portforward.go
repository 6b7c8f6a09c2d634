package main

import (
	"net"

	"github.com/gyre-go/gyre"
)

func init() {
	commands = append(commands, command{
		name:    "portforward",
		summary: "forward TCP connections to another address, with flow control",
		run:     portforwardMain,
	})
}

func portforwardMain(args []string) int {
	s := newServer("portforward")
	addr := s.fs.String("listen", "127.0.0.1:7001", "address to listen on")
	target := s.fs.String("connect", "", "HOST:PORT to forward each connection to (required)")
	if code, ok := s.start(args); !ok {
		return code
	}
	if *target == "" {
		s.log.Error("-connect is required")
		s.r.FireSystemEvent(gyre.Shutdown)
		return 2
	}
	f := gyre.FactoryFunc(func(peer net.Addr) gyre.Protocol {
		return &forwardIn{s: s, target: *target, peer: peer}
	})
	if _, ok := s.listen(*addr, f); !ok {
		return 1
	}
	return s.run()
}

// forwardIn is the accepted side of a forwarded connection. It reads nothing
// until the outgoing side is up; from then on each side is the other's
// streaming producer, so a slow reader on either end pauses reading on the
// other and memory stays bounded by the transports' water marks.
type forwardIn struct {
	s      *server
	target string
	peer   net.Addr
	t      gyre.Transport
	out    *forwardOut
	c      gyre.Connector
}

func (f *forwardIn) ConnectionMade(t gyre.Transport) {
	f.t = t
	t.PauseProducing()
	f.out = &forwardOut{in: f}
	var err error
	f.c, err = f.s.tcp.ConnectTCP(f.target, &gyre.ClientCallbacks{
		Build: func(net.Addr) gyre.Protocol { return f.out },
		Failed: func(_ gyre.Connector, reason error) {
			f.s.log.Warn("cannot reach the target", "target", f.target, "peer", f.peer.String(), "err", reason)
			t.AbortConnection()
		},
	})
	if err != nil {
		f.s.log.Warn("cannot reach the target", "target", f.target, "err", err)
		t.AbortConnection()
	}
}

func (f *forwardIn) DataReceived(data []byte) { f.out.t.Write(data) }

// ReadConnectionLost passes the client's half-close on to the target.
func (f *forwardIn) ReadConnectionLost() {
	if f.out.t != nil {
		f.out.t.LoseWriteConnection()
	}
}

func (f *forwardIn) ConnectionLost(error) {
	if f.out.t != nil {
		f.out.t.LoseConnection()
	} else if f.c != nil {
		f.c.Disconnect()
	}
}

// forwardOut is the outgoing side.
type forwardOut struct {
	in *forwardIn
	t  gyre.Transport
}

func (o *forwardOut) ConnectionMade(t gyre.Transport) {
	o.t = t
	in := o.in.t
	in.RegisterProducer(t, true)
	t.RegisterProducer(in, true)
	in.ResumeProducing()
}

func (o *forwardOut) DataReceived(data []byte) { o.in.t.Write(data) }

// ReadConnectionLost passes the target's half-close on to the client.
func (o *forwardOut) ReadConnectionLost() { o.in.t.LoseWriteConnection() }

func (o *forwardOut) ConnectionLost(error) {
	o.in.t.UnregisterProducer()
	o.in.t.LoseConnection()
}
