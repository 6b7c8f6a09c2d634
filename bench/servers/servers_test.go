package servers

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gyre-go/gyre/bench/loadgen"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestEcho starts every server, checks its echoes under ping-pong and
// pipelined load (the load generator compares every byte), and stops it. A
// gyre backend that is missing or has no working TCP facet yet is skipped.
func TestEcho(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			serve, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			addr := freeAddr(t)
			stop, err := serve(addr)
			if err != nil {
				if strings.HasPrefix(name, "gyre-") {
					t.Skipf("unavailable: %v", err)
				}
				t.Fatal(err)
			}
			defer stop()
			for _, cfg := range []loadgen.Config{
				{Conns: 3, Size: 64, Depth: 1},
				{Conns: 3, Size: 4096, Depth: 16},
				{Conns: 50, Size: 100, Depth: 4},
			} {
				cfg.Addr = addr
				cfg.Warmup = 20 * time.Millisecond
				cfg.Duration = 100 * time.Millisecond
				res, err := loadgen.Run(cfg)
				if err != nil {
					t.Fatalf("%+v: %v", cfg, err)
				}
				if res.Msgs == 0 {
					t.Fatalf("%+v: no echo completed", cfg)
				}
				// A connection may complete nothing in so short a window
				// on a busy machine (a loopback stall): not a failure.
				t.Logf("conns %d size %d depth %d: %.0f msg/s p50 %v p99 %v, %d connections starved",
					cfg.Conns, cfg.Size, cfg.Depth, res.MsgsPerSec(), res.P50, res.P99, res.Starved)
			}
			conns, err := loadgen.OpenIdle(addr, 200)
			if err != nil {
				t.Fatal(err)
			}
			loadgen.Close(conns)
		})
	}
}
