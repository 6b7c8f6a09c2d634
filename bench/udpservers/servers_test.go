package udpservers

import (
	"strings"
	"testing"
	"time"

	"github.com/gyre-go/gyre/bench/udpservers/udpload"
)

// TestEcho starts every server, checks its echoes under load (the load
// generator compares every byte and matches sequence numbers), and stops
// it. A gyre backend that is missing or has no UDP facet is skipped.
func TestEcho(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			serve, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			addr, stop, err := serve("127.0.0.1:0")
			if err != nil {
				if strings.HasPrefix(name, "gyre-") {
					t.Skipf("unavailable: %v", err)
				}
				t.Fatal(err)
			}
			defer stop()
			for _, cfg := range []udpload.Config{
				{Senders: 1, Size: 64, Window: 1},
				{Senders: 4, Size: 1400, Window: 8},
				{Senders: 16, Size: 100, Window: 4},
			} {
				cfg.Addr = addr
				cfg.Warmup = 20 * time.Millisecond
				cfg.Duration = 100 * time.Millisecond
				res, err := udpload.Run(cfg)
				if err != nil {
					t.Fatalf("%+v: %v", cfg, err)
				}
				if res.Echoed == 0 {
					t.Fatalf("%+v: no echo", cfg)
				}
				if res.Dups != 0 {
					t.Errorf("%+v: %d duplicate echoes", cfg, res.Dups)
				}
				t.Logf("senders %d size %d window %d: %.0f echoes/s, sent %d lost %d, given up %d",
					cfg.Senders, cfg.Size, cfg.Window, res.PerSec(), res.Sent, res.Lost, res.GivenUp)
			}
		})
	}
}
