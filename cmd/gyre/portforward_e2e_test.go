//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gyre-go/gyre/reactor"
)

// The forwarding test moves fwdTotal bytes of a repeating pattern whose
// period is a prime, so that a lost, repeated or reordered chunk shows as a
// mismatch without the test keeping a copy of what it sent.
const (
	fwdTotal     = 100 << 20
	fwdPeriod    = 65521
	fwdWriteSize = 64 << 10
	fwdReadSize  = 4 << 10 // the receiver reads in small chunks...
	fwdPauseStep = 1 << 20 // ...and stops for fwdPause after each MiB
	fwdPause     = 2 * time.Millisecond
	fwdProbeStep = 8 << 20 // every 8 MiB the pause is a longer probe
	fwdProbe     = 20 * time.Millisecond
	fwdRcvBuf    = 64 << 10 // receiver's SO_RCVBUF: the kernel absorbs little
	fwdMaxRSS    = 64 << 20
	eofTimeout   = 5 * time.Second
)

// TestPortforward runs gyre echo behind gyre portforward (the forwarder on
// each backend) and talks to the forwarder with nc and socat as TestEcho
// does: the peer's half-close must travel through the forwarder to the echo
// server, and the echo server's close back to the peer.
func TestPortforward(t *testing.T) {
	blob := testBlob(1 << 20)
	for _, backend := range reactor.Backends() {
		t.Run(backend, func(t *testing.T) {
			echo := startServer(t, "echo", "-listen", "127.0.0.1:0")
			fwd := startServer(t, "portforward", "-listen", "127.0.0.1:0", "-connect", echo.addr, "-backend", backend)
			checkBackend(t, fwd, backend)
			echoPeers(t, fwd.addr, blob)
			fwd.stop(t)
			echo.stop(t)
		})
	}
}

// TestPortforwardNoTarget checks that when the target refuses, the
// forwarder drops the incoming connection (the peer is not left hanging)
// and says why.
func TestPortforwardNoTarget(t *testing.T) {
	// An address nothing listens on: a port we had and gave back.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	for _, backend := range reactor.Backends() {
		t.Run(backend, func(t *testing.T) {
			fwd := startServer(t, "portforward", "-listen", "127.0.0.1:0", "-connect", dead, "-backend", backend)
			c, err := net.DialTimeout("tcp", fwd.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(lineTimeout))
			n, err := c.Read(make([]byte, 1))
			if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("reading from the forwarder whose target refuses: %d bytes, %v; want the connection closed", n, err)
			}
			if !fwd.stderr.waitFor(lineTimeout, nil, func(o *output) bool { return hasLogMsg(o, "cannot reach the target") }) {
				t.Errorf("forwarder did not log msg=\"cannot reach the target\"\nstderr:\n%s", fwd.stderr)
			}
			fwd.stop(t)
		})
	}
}

// TestPortforwardSlowReader runs gyre echo behind gyre portforward (the
// forwarder on each backend) and sends 100 MiB through the forwarder to the
// echo server and back, to a receiver that reads slowly. The receiver's
// socket buffer is small and it pauses, so the forwarder's connection to it
// backs up and the forwarder must stop reading from the echo server rather
// than buffer: its peak resident memory must stay small. (The echo server
// has no flow control of its own: it reads everything and buffers what it
// cannot send yet, so its memory grows with the backlog. Its peak is logged,
// not checked.)
func TestPortforwardSlowReader(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 100 MiB per backend through gyre portforward; skipped in -short")
	}
	for _, backend := range reactor.Backends() {
		t.Run(backend, func(t *testing.T) {
			echo := startServer(t, "echo", "-listen", "127.0.0.1:0")
			fwd := startServer(t, "portforward", "-listen", "127.0.0.1:0", "-connect", echo.addr, "-backend", backend)
			checkBackend(t, fwd, backend)
			forwardSlowly(t, fwd, echo)
			fwd.stop(t)
			echo.stop(t)
		})
	}
}

func fwdPattern(pat []byte, off int64, n int) []byte {
	i := int(off % fwdPeriod)
	return pat[i : i+n]
}

func forwardSlowly(t *testing.T, fwd, echo *gyreServer) {
	// pat holds the period and then its start again, so that any window of
	// up to fwdWriteSize bytes of the stream is one slice of it.
	base := testBlob(fwdPeriod)
	pat := make([]byte, fwdPeriod+fwdWriteSize)
	for i := range pat {
		pat[i] = base[i%fwdPeriod]
	}
	d := net.Dialer{
		Timeout: 5 * time.Second,
		// Set before connecting, so the advertised window is small too.
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, fwdRcvBuf)
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	nc, err := d.Dial("tcp", fwd.addr)
	if err != nil {
		t.Fatalf("dialing the forwarder: %v", err)
	}
	conn := nc.(*net.TCPConn)
	defer conn.Close()
	// A backstop: a stuck transfer fails instead of hanging the run.
	conn.SetDeadline(time.Now().Add(time.Minute))
	echoAddr := netip.MustParseAddrPort(echo.addr)

	start := time.Now()
	var sent atomic.Int64
	werr := make(chan error, 1)
	go func() {
		var off int64
		for off < fwdTotal {
			n := int(min(fwdWriteSize, fwdTotal-off))
			if _, err := conn.Write(fwdPattern(pat, off, n)); err != nil {
				werr <- fmt.Errorf("writing at offset %d: %w", off, err)
				return
			}
			off += int64(n)
			sent.Store(off)
		}
		werr <- conn.CloseWrite()
	}()

	buf := make([]byte, fwdReadSize)
	var got, lead int64
	var probes, pressed int
	var allIn, eofMissing bool
	var cpu0 int64
	var elapsed time.Duration
	var queues []string
	nextPause, nextProbe := int64(fwdPauseStep), int64(fwdProbeStep)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if !bytes.Equal(buf[:n], fwdPattern(pat, got, n)) {
				t.Fatalf("received bytes differ from those sent in [%d, %d)", got, got+int64(n))
			}
			got += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if got == fwdTotal && errors.Is(err, os.ErrDeadlineExceeded) {
				eofMissing = true
				break
			}
			t.Fatalf("reading at offset %d (sent %d): %v", got, sent.Load(), err)
		}
		if got == fwdTotal && !allIn {
			// Everything is here: the end of file must follow soon.
			allIn = true
			elapsed = time.Since(start)
			conn.SetReadDeadline(time.Now().Add(eofTimeout))
			cpu0 = procCPU(t, fwd.pid())
		}
		lead = max(lead, sent.Load()-got)
		switch {
		case got >= nextProbe:
			// Is the forwarder holding back? If it has stopped reading
			// from the echo server, what the echo server sent waits in
			// the forwarder's socket, and stays there while we pause.
			nextProbe += fwdProbeStep
			nextPause += fwdPauseStep
			time.Sleep(fwdProbe / 2)
			q1, ok1 := tcpRecvQueue(t, echoAddr)
			time.Sleep(fwdProbe / 2)
			q2, ok2 := tcpRecvQueue(t, echoAddr)
			if ok1 && ok2 {
				probes++
				queues = append(queues, fmt.Sprintf("%d/%d", q1>>10, q2>>10))
				if q1 >= 64<<10 && q2 >= q1 {
					pressed++
				}
			}
		case got >= nextPause:
			nextPause += fwdPauseStep
			time.Sleep(fwdPause)
		}
	}
	if err := <-werr; err != nil {
		t.Fatalf("sender: %v", err)
	}
	if got != fwdTotal {
		t.Fatalf("received %d bytes, want %d", got, fwdTotal)
	}
	if eofMissing {
		cpu := procCPU(t, fwd.pid()) - cpu0
		t.Errorf("every byte came back but no end of file followed within %v of the sender's half-close: "+
			"the forwarder did not pass the half-close on (it used %d%% of a core meanwhile)", eofTimeout, cpu*100/userHZ/int64(eofTimeout/time.Second))
	}
	fwdRSS, echoRSS := peakRSS(t, fwd.pid()), peakRSS(t, echo.pid())
	t.Logf("%s through the forwarder and back in %v (%.1f MiB/s); the sender led the receiver by up to %s",
		mib(fwdTotal), elapsed.Round(time.Millisecond), float64(fwdTotal)/(1<<20)/elapsed.Seconds(), mib(lead))
	t.Logf("forwarder's unread bytes from echo at the start/end of %d probe pauses (KiB): %s; it was holding back in %d",
		probes, strings.Join(queues, " "), pressed)
	t.Logf("peak RSS (VmHWM): forwarder %s, echo server %s", mib(fwdRSS), mib(echoRSS))
	if probes == 0 {
		t.Errorf("could not find the forwarder's connection to %s in /proc/net/tcp", echo.addr)
	} else if pressed == 0 {
		t.Errorf("in none of %d probe pauses had the forwarder stopped reading from the echo server: the slow reader put no pressure on it", probes)
	}
	if fwdRSS >= fwdMaxRSS {
		t.Errorf("forwarder's peak RSS is %s, want < %s: it buffers instead of applying flow control", mib(fwdRSS), mib(fwdMaxRSS))
	}
}

// tcpRecvQueue returns the receive queue (bytes received, not yet read by
// the process) of the one IPv4 TCP socket connected to remote, from
// /proc/net/tcp.
func tcpRecvQueue(t *testing.T, remote netip.AddrPort) (int64, bool) {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0, false
	}
	ip := remote.Addr().As4()
	// The kernel prints the address as the hex of its in-memory 32-bit
	// value, so in the machine's byte order, and the port in host order.
	want := fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(ip[:]), remote.Port())
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		// sl local_address rem_address st tx_queue:rx_queue ...
		// 01 ESTABLISHED; 04, 05 FIN_WAIT1, FIN_WAIT2: the forwarder has
		// passed the sender's half-close on, and still reads.
		if len(f) < 5 || f[2] != want || (f[3] != "01" && f[3] != "04" && f[3] != "05") {
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		q, err := strconv.ParseInt(rx, 16, 64)
		if err != nil {
			return 0, false
		}
		return q, true
	}
	return 0, false
}
