//go:build unix

package reactor_test

import (
	"io"
	"net"
	"testing"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/reactor"
)

type allocEcho struct{ t gyre.Transport }

func (e *allocEcho) ConnectionMade(t gyre.Transport) { e.t = t }
func (e *allocEcho) DataReceived(b []byte)           { e.t.Write(b) }
func (e *allocEcho) ConnectionLost(error)            {}

// TestEchoAllocs checks that, in steady state, a read, its dispatch to the
// protocol and the protocol's write allocate nothing: 1,000 echo round trips
// through a running reactor, counted by testing.AllocsPerRun (which counts
// every allocation in the process, the raw client's included).
func TestEchoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own; run without -race")
	}
	for _, name := range reactor.Backends() {
		t.Run(name, func(t *testing.T) {
			r, err := reactor.NewBackend(name)
			if err != nil {
				t.Fatal(err)
			}
			port, err := r.(gyre.TCP).ListenTCP("127.0.0.1:0", gyre.FactoryFunc(func(net.Addr) gyre.Protocol { return &allocEcho{} }))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- r.Run() }()
			conn, err := net.Dial("tcp", port.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			msg := make([]byte, 64)
			buf := make([]byte, 64)
			roundTrip := func() {
				if _, err := conn.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(conn, buf); err != nil {
					t.Fatal(err)
				}
			}
			for range 100 { // warm up: buffers, first registrations
				roundTrip()
			}
			allocs := testing.AllocsPerRun(1000, roundTrip)
			conn.Close()
			r.CallFromThread(func() { r.Stop() })
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %.3f allocations per echo round trip", name, allocs)
			if allocs > 0 {
				t.Errorf("%s: %.3f allocations per round trip, want 0", name, allocs)
			}
		})
	}
}
