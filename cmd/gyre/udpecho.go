package main

import (
	"net"

	"github.com/gyre-go/gyre"
)

func init() {
	commands = append(commands, command{
		name:    "udpecho",
		summary: "run a UDP echo server",
		run:     udpechoMain,
	})
}

func udpechoMain(args []string) int {
	s := newServer("udpecho")
	addr := s.fs.String("listen", "127.0.0.1:7003", "address to listen on (a literal IP and a port)")
	if code, ok := s.start(args); !ok {
		return code
	}
	udp, ok := s.r.(gyre.UDP)
	if !ok {
		s.log.Error("this backend has no UDP support", "backend", backendName(*s.backend))
		s.r.FireSystemEvent(gyre.Shutdown)
		return 2
	}
	e := &udpEcho{s: s}
	p, err := udp.ListenUDP(*addr, e)
	if err != nil {
		s.log.Error("cannot listen", "addr", *addr, "err", err)
		s.r.FireSystemEvent(gyre.Shutdown)
		return 1
	}
	s.log.Info("listening", "addr", p.LocalAddr().String(), "backend", backendName(*s.backend))
	return s.run()
}

// udpEcho sends every datagram back to its sender.
type udpEcho struct {
	s    *server
	port gyre.DatagramPort
}

func (e *udpEcho) StartProtocol(p gyre.DatagramPort) { e.port = p }

func (e *udpEcho) DatagramReceived(data []byte, addr net.Addr) {
	if err := e.port.Write(data, addr); err != nil {
		e.s.log.Warn("echo not sent", "peer", addr.String(), "err", err)
	}
}

func (e *udpEcho) StopProtocol() {}
