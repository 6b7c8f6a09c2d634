//go:build linux

package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/gyre-go/gyre/reactor"
)

// peerTool is a program that connects standard input and output to a TCP
// address and turns the end of its input into a half-close (shutdown of its
// sending side), then exits once the server has closed.
type peerTool struct {
	name string
	pkg  string // Debian package that provides it
	argv func(bin, addr string) []string
	// check, if not nil, returns why the installed program is not the
	// expected one.
	check func(bin string) string
}

var peerTools = []peerTool{
	{
		name: "nc",
		pkg:  "netcat-openbsd",
		argv: func(bin, addr string) []string {
			host, port, _ := net.SplitHostPort(addr)
			return []string{bin, "-N", host, port} // -N: shutdown(SHUT_WR) after EOF on stdin
		},
		check: func(bin string) string {
			out, _ := exec.Command(bin, "-h").CombinedOutput()
			if !strings.Contains(string(out), "OpenBSD") || !strings.Contains(string(out), "-N") {
				return "nc is not netcat-openbsd (no -N flag)"
			}
			return ""
		},
	},
	{
		name: "socat",
		pkg:  "socat",
		argv: func(bin, addr string) []string {
			// shut-down: EOF on stdin becomes shutdown(SHUT_WR). -t 600:
			// socat would otherwise quit 0.5 s after that EOF, whether
			// or not the server closed; with it, socat exiting within
			// the test's deadline means the server closed.
			return []string{bin, "-t", "600", "-", "TCP:" + addr + ",shut-down"}
		},
	},
}

// find returns the tool's path, or skips the test.
func (pt peerTool) find(t *testing.T) string {
	t.Helper()
	bin := needTool(t, pt.name, pt.pkg)
	if pt.check != nil {
		if why := pt.check(bin); why != "" {
			t.Skipf("%s (apt-get install %s)", why, pt.pkg)
		}
	}
	return bin
}

// testBlob returns n bytes of deterministic noise.
func testBlob(n int) []byte {
	b := make([]byte, n)
	rng := rand.NewChaCha8([32]byte{'g', 'y', 'r', 'e'})
	rng.Read(b)
	return b
}

// TestEcho runs gyre echo on every backend and talks to it with nc and
// socat: lines one at a time, then a 1 MiB binary blob, each ended by a
// half-close after which the server must send everything back and close.
func TestEcho(t *testing.T) {
	blob := testBlob(1 << 20)
	for _, backend := range reactor.Backends() {
		t.Run(backend, func(t *testing.T) {
			s := startServer(t, "echo", "-listen", "127.0.0.1:0", "-backend", backend)
			checkBackend(t, s, backend)
			echoPeers(t, s.addr, blob)
			s.stop(t)
		})
	}
}

// echoPeers runs echoLines and echoBlob with each peer tool against the echo
// service at addr. Once one of them has found that the service does not close
// after a half-close (which costs exitTimeout), the rest are skipped.
func echoPeers(t *testing.T, addr string, blob []byte) {
	var stuck string // the test that timed out waiting for the close
	run := func(t *testing.T, f func(t *testing.T, started func(*proc))) {
		if stuck != "" {
			t.Skipf("the service already failed to close after a half-close in %s", stuck)
		}
		var p *proc
		defer func() { // also on t.Fatal
			if t.Failed() && p != nil && !p.exited() {
				stuck = t.Name()
			}
		}()
		f(t, func(q *proc) { p = q })
	}
	for _, pt := range peerTools {
		t.Run(pt.name, func(t *testing.T) {
			bin := pt.find(t)
			t.Run("lines", func(t *testing.T) {
				run(t, func(t *testing.T, started func(*proc)) { echoLines(t, pt, bin, addr, started) })
			})
			t.Run("blob", func(t *testing.T) {
				run(t, func(t *testing.T, started func(*proc)) { echoBlob(t, pt, bin, addr, blob, started) })
			})
		})
	}
}

// checkBackend checks the server says it runs on the backend asked for.
func checkBackend(t *testing.T, s *gyreServer, backend string) {
	t.Helper()
	for _, line := range s.stderr.lines() {
		if logAttr(line, "msg") == "listening" {
			if got := logAttr(line, "backend"); got != backend {
				t.Errorf("%s logs backend=%q, want %q", s.name, got, backend)
			}
			return
		}
	}
}

// echoLines sends lines one at a time, each only after the previous one came
// back, then ends its input: the tool half-closes, and must exit by itself
// (status 0) because the server finishes and closes. started is told of the
// tool's process.
func echoLines(t *testing.T, pt peerTool, bin, addr string, started func(*proc)) {
	c := startClient(t, pt.name, pt.argv(bin, addr)...)
	started(c.proc)
	var all strings.Builder
	for i := range 20 {
		line := fmt.Sprintf("line %d %s", i, strings.Repeat("ab", i*50))
		if i == 7 {
			line = "" // an empty line is a line too
		}
		c.send(t, line)
		c.expect(t, line)
		all.WriteString(line + "\n")
	}
	c.closeInput(t)
	if err := c.waitExit(t, exitTimeout, "its input ended (half-close): the server did not close"); err != nil {
		t.Errorf("%s exited with %v, want status 0\nstderr:\n%s", pt.name, err, c.stderr)
	}
	if got := c.stdout.String(); got != all.String() {
		t.Errorf("%s received %d bytes, want exactly the %d sent", pt.name, len(got), all.Len())
	}
}

// echoBlob pipes blob through the tool as its whole input and checks the
// server sent back exactly blob and closed once the input ended.
func echoBlob(t *testing.T, pt peerTool, bin, addr string, blob []byte, started func(*proc)) {
	p := newProc(pt.name, pt.argv(bin, addr)...)
	p.cmd.Stdin = bytes.NewReader(blob)
	p.start(t)
	started(p)
	if err := p.waitExit(t, exitTimeout, "sending 1 MiB and half-closing: the server did not finish and close"); err != nil {
		t.Errorf("%s exited with %v, want status 0\nstderr:\n%s", pt.name, err, p.stderr)
	}
	checkSame(t, p.stdout.Bytes(), blob)
}

// checkSame reports where got first differs from want.
func checkSame(t *testing.T, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Errorf("received %d bytes, want %d; first difference at offset %d", len(got), len(want), i)
}
