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
	"fmt"
	"slices"
	"strings"
)

// ServeFunc starts a UDP echo server on addr ("127.0.0.1:0" or
// "127.0.0.1:port") and returns the address it is bound to.
type ServeFunc func(addr string) (bound string, stop func(), err error)

type entry struct {
	name, about string
	serve       ServeFunc
}

var registry []entry

func register(name, about string, f ServeFunc) {
	registry = append(registry, entry{name, about, f})
}

func init() {
	register("gyre-epoll", "gyre, epoll backend: ListenUDP, DatagramReceived writes back with port.Write (one loop goroutine)", gyreServer("epoll"))
	register("gyre-poll", "gyre, poll backend: ListenUDP, DatagramReceived writes back with port.Write (one loop goroutine)", gyreServer("poll"))
	register("gyre-std", "gyre, std backend on Go's netpoller: ListenUDP, DatagramReceived writes back with port.Write", gyreServer("std"))
	register("nbio", "nbio v1.6.12, Network \"udp\", NPoller 1: the poller reads, OnData writes back on the per-peer Conn (sendto); no UDPReadTimeout", nbioServer)
	register("net", "package net: one goroutine looping ReadFromUDP / WriteToUDP, 64 KiB buffer", netServer)
}

// Names returns the names of all servers, gyre's first.
func Names() []string {
	names := make([]string, len(registry))
	for i, e := range registry {
		names[i] = e.name
	}
	return names
}

// About returns a one-line description of the named server.
func About(name string) string {
	for _, e := range registry {
		if e.name == name {
			return e.about
		}
	}
	return ""
}

// Lookup returns the ServeFunc of the named server.
func Lookup(name string) (ServeFunc, error) {
	for _, e := range registry {
		if e.name == name {
			return e.serve, nil
		}
	}
	return nil, fmt.Errorf("unknown server %q (known: %s)", name, strings.Join(Names(), ", "))
}

// Known reports whether name is a registered server.
func Known(name string) bool { return slices.Contains(Names(), name) }
