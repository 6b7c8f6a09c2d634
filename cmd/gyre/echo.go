package main

import (
	"net"

	"github.com/gyre-go/gyre"
)

func init() {
	commands = append(commands, command{
		name:    "echo",
		summary: "run a TCP echo server (honours half-close)",
		run:     echoMain,
	})
}

func echoMain(args []string) int {
	s := newServer("echo")
	addr := s.fs.String("listen", "127.0.0.1:7000", "address to listen on")
	if code, ok := s.start(args); !ok {
		return code
	}
	if _, ok := s.listen(*addr, gyre.FactoryFunc(func(net.Addr) gyre.Protocol { return &echo{} })); !ok {
		return 1
	}
	return s.run()
}

// echo sends back what it receives. The transport is its own producer: when
// the peer reads more slowly than it sends, the echoes queue up to the high
// water mark and then reading pauses, so memory stays bounded. When the peer
// shuts down its sending side, echo finishes sending and then closes.
type echo struct{ t gyre.Transport }

func (e *echo) ConnectionMade(t gyre.Transport) {
	e.t = t
	t.RegisterProducer(t, true)
}

func (e *echo) DataReceived(data []byte) { e.t.Write(data) }

func (e *echo) ReadConnectionLost() {
	e.t.UnregisterProducer()
	e.t.LoseConnection()
}

func (e *echo) ConnectionLost(error) {}
