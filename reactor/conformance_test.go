package reactor_test

import (
	"testing"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/interleave"
	"github.com/gyre-go/gyre/reactor"
	"github.com/gyre-go/gyre/reactortest"
)

// TestConformance runs the whole conformance suite against every backend
// available on this platform, and against each of them driven through
// package interleave ("epoll+interleave", ...).
func TestConformance(t *testing.T) {
	for _, name := range reactor.Backends() {
		t.Run(name, func(t *testing.T) {
			reactortest.Run(t, reactortest.Builder{
				Name: name,
				New: func(opts ...gyre.Option) (gyre.Core, error) {
					return reactor.NewBackend(name, opts...)
				},
			})
		})
	}
	for _, name := range reactor.Backends() {
		t.Run(name+"+interleave", func(t *testing.T) {
			reactortest.Run(t, reactortest.Builder{
				Name: name + "+interleave",
				New: func(opts ...gyre.Option) (gyre.Core, error) {
					r, err := reactor.NewBackend(name, opts...)
					if err != nil {
						return nil, err
					}
					return r, interleave.Hosted(r)
				},
			})
		})
	}
}
