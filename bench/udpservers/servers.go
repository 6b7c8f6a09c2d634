// Package udpservers holds the UDP echo servers that cmd/udpbench measures:
// gyre on each of its backends (through gyre.UDP), nbio's UDP support, and a
// plain package net server.
//
// Every server is a ServeFunc: it binds a UDP socket on addr, sends every
// datagram it receives back to its sender, and returns once it is bound. It
// returns the address it bound (addr may have port 0) and a stop function
// that shuts it down.
package udpservers

import (
	"github.com/gyre-go/gyre/bench/internal/harness"
)

// ServeFunc starts a UDP echo server on addr ("127.0.0.1:0" or
// "127.0.0.1:port") and returns the address it is bound to.
type ServeFunc func(addr string) (bound string, stop func(), err error)

var registry harness.Registry[ServeFunc]

func register(name, about string, f ServeFunc) { registry.Register(name, about, f) }

func init() {
	register("gyre-epoll", "gyre, epoll backend: ListenUDP, DatagramReceived writes back with port.Write (one loop goroutine)", gyreServer("epoll"))
	register("gyre-poll", "gyre, poll backend: ListenUDP, DatagramReceived writes back with port.Write (one loop goroutine)", gyreServer("poll"))
	register("gyre-std", "gyre, std backend on Go's netpoller: ListenUDP, DatagramReceived writes back with port.Write", gyreServer("std"))
	register("nbio", "nbio v1.6.12, Network \"udp\", NPoller 1: the poller reads, OnData writes back on the per-peer Conn (sendto); no UDPReadTimeout", nbioServer)
	register("net", "package net: one goroutine looping ReadFromUDP / WriteToUDP, 64 KiB buffer", netServer)
}

// Names returns the names of all servers, in a stable order: gyre's first,
// then the peers.
func Names() []string { return registry.Names() }

// About returns a one-line description of the named server.
func About(name string) string { return registry.About(name) }

// Lookup returns the ServeFunc of the named server.
func Lookup(name string) (ServeFunc, error) { return registry.Lookup(name) }

// Known reports whether name is a registered server.
func Known(name string) bool { return registry.Known(name) }
