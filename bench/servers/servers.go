// Package servers holds the TCP echo servers that cmd/echobench measures:
// gyre on each of its backends, and its peers (gnet, nbio, cloudwego/netpoll
// and the standard library with a goroutine per connection).
//
// Every server is a ServeFunc: it listens on addr, echoes every byte it
// receives back to its sender, and returns once it accepts connections. The
// stop function it returns shuts it down and waits until it has.
package servers

import (
	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/bench/internal/harness"
)

// ServeFunc starts an echo server listening on addr ("127.0.0.1:port").
type ServeFunc func(addr string) (stop func(), err error)

var registry harness.Registry[ServeFunc]

func register(name, about string, f ServeFunc) { registry.Register(name, about, f) }

func init() {
	register("gyre-epoll", "gyre, epoll backend (one loop goroutine)", gyreServer("epoll"))
	register("gyre-poll", "gyre, poll backend (one loop goroutine)", gyreServer("poll"))
	register("gyre-std", "gyre, std backend on Go's netpoller", gyreServer("std"))
	register("gyre-epoll-nospin", "gyre, epoll backend with WithSpinWait(-1): the loop blocks at once when nothing is ready", gyreServer("epoll", gyre.WithSpinWait(-1)))
	register("gnet", "gnet v2, WithMulticore(false): one event loop", gnetServer(false))
	register("gnet-mc", "gnet v2, WithMulticore(true): one loop per CPU the process may use", gnetServer(true))
	register("nbio", "nbio, one poller goroutine, reads on the poller", nbioServer)
	register("netpoll", "cloudwego/netpoll, default pollers, handlers on its goroutine pool", netpollServer)
	register("net", "package net, one goroutine per connection, 4 KiB buffer", netServer)
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
