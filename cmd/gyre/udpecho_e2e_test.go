//go:build linux

package main

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/gyre-go/gyre/reactor"
)

// TestUDPEcho talks to `gyre udpecho` with real peers written elsewhere:
// socat sending a datagram from the shell, and a small Python program sending
// a burst, on every backend.
func TestUDPEcho(t *testing.T) {
	for _, backend := range reactor.Backends() {
		t.Run(backend, func(t *testing.T) {
			s := startServer(t, "udpecho", "-listen", "127.0.0.1:0", "-backend", backend)
			checkBackend(t, s, backend)
			t.Run("socat", func(t *testing.T) {
				if _, err := exec.LookPath("socat"); err != nil {
					t.Skip("socat is not installed (.ci/run installs it)")
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				// -t: wait this long for the reply after sending.
				cmd := exec.CommandContext(ctx, "socat", "-t", "2", "-", "UDP:"+s.addr)
				cmd.Stdin = bytes.NewBufferString("hello over udp\n")
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("socat: %v", err)
				}
				if string(out) != "hello over udp\n" {
					t.Errorf("socat got %q back, want the datagram it sent", out)
				}
			})
			t.Run("python", func(t *testing.T) {
				if _, err := exec.LookPath("python3"); err != nil {
					t.Skip("python3 is not installed")
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				host, port := splitAddr(t, s.addr)
				cmd := exec.CommandContext(ctx, "python3", "-c", udpPeer, host, port)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("python peer: %v\n%s", err, out)
				}
				t.Logf("python peer: %s", bytes.TrimSpace(out))
			})
			s.stop(t)
		})
	}
}

// udpPeer sends 100 numbered datagrams of growing size, one at a time, and
// checks each echo; it exits non-zero on any mismatch or a missing echo.
const udpPeer = `
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for i in range(100):
    msg = (b"%d:" % i) + bytes(range(256)) * (i % 6)
    s.sendto(msg, (host, port))
    got, addr = s.recvfrom(65536)
    if got != msg:
        sys.exit("datagram %d came back as %r" % (i, got[:40]))
print("100 datagrams echoed intact")
`

func splitAddr(t *testing.T, addr string) (string, string) {
	t.Helper()
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:]
		}
	}
	t.Fatalf("bad address %q", addr)
	return "", ""
}
