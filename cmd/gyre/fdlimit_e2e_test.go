//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gyre-go/gyre/reactor"
)

const (
	fdLimit     = 64
	probeWait   = 2 * time.Second // a served connection echoes well within this
	starveSpan  = time.Second     // CPU is measured over this while starved
	starveExtra = 5               // connection attempts made during starveSpan
	maxStarved  = 5               // percent of a core allowed while starved
	freed       = 10              // connections closed to give descriptors back
)

// envNoPrlimit makes startLimited use the test binary as the launcher even
// where prlimit(1) is installed (to exercise that path).
const envNoPrlimit = "GYRE_E2E_NO_PRLIMIT"

// startLimited starts gyre with args under RLIMIT_NOFILE=fdLimit: through
// prlimit(1) from util-linux if installed, else through the test binary
// itself (see envNofile). Either execs gyre, so the pid is gyre's.
func startLimited(t *testing.T, args ...string) *gyreServer {
	t.Helper()
	argv := append([]string{gyreBin}, args...)
	var env []string
	if p, err := exec.LookPath("prlimit"); err == nil && os.Getenv(envNoPrlimit) == "" {
		argv = append([]string{p, fmt.Sprintf("--nofile=%d:%d", fdLimit, fdLimit)}, argv...)
	} else {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		argv = append([]string{self}, argv...)
		env = []string{fmt.Sprintf("%s=%d", envNofile, fdLimit)}
	}
	s := startServerArgv(t, argv, env...)
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", s.pid()))
	if exe != gyreBin {
		t.Fatalf("pid %d runs %q, want %q", s.pid(), exe, gyreBin)
	}
	limits, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", s.pid()))
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			if f := strings.Fields(line); len(f) < 5 || f[3] != fmt.Sprint(fdLimit) || f[4] != fmt.Sprint(fdLimit) {
				t.Fatalf("gyre runs with %q, want a limit of %d", line, fdLimit)
			}
		}
	}
	return s
}

// openFDs counts a process's open descriptors.
func openFDs(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

type outcome int

const (
	served  outcome = iota // the line came back
	refused                // end of file or reset: the server closed it
	hung                   // nothing within probeWait
)

func (o outcome) String() string { return [...]string{"served", "refused", "left waiting"}[o] }

// probe writes msg on c and reads it back.
func probe(c net.Conn, msg string, wait time.Duration) (outcome, error) {
	c.SetDeadline(time.Now().Add(wait))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		if isRefusal(err) {
			return refused, err
		}
		return hung, err
	}
	return readBack(c, msg)
}

// readBack reads msg back from c, within c's deadline.
func readBack(c net.Conn, msg string) (outcome, error) {
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	switch {
	case err == nil && string(buf) == msg:
		return served, nil
	case err == nil:
		return hung, fmt.Errorf("echoed %q, want %q", buf, msg)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return hung, err
	case isRefusal(err):
		return refused, err
	}
	return hung, err
}

func isRefusal(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// TestEchoDescriptorLimit runs gyre echo with only fdLimit descriptors and
// opens connections until the server runs out. The connections it has must
// keep working, the ones it cannot take must not make it spin, and once
// descriptors are given back it must serve new connections again. The
// reactor backends (epoll, poll) must turn extra peers away: they accept
// with a descriptor held in reserve and close at once, so the peers see an
// end of file or a reset. The std backend may do the same or, as its accept
// goroutine backs off and retries on EMFILE, leave them waiting in the
// listen queue and serve them once descriptors are freed; the test checks
// whichever it does.
func TestEchoDescriptorLimit(t *testing.T) {
	for _, backend := range reactor.Backends() {
		t.Run(backend, func(t *testing.T) { echoUnderLimit(t, backend, backend != "std") })
	}
}

// echoUnderLimit runs the scenario. mustTurnAway says the backend must turn
// peers away at the limit; otherwise leaving them waiting is accepted too,
// and the rest of the scenario checks whichever the server did.
func echoUnderLimit(t *testing.T, backend string, mustTurnAway bool) {
	s := startLimited(t, "echo", "-listen", "127.0.0.1:0", "-backend", backend)
	checkBackend(t, s, backend)
	base := openFDs(s.pid())

	var conns []net.Conn // served
	var waiting []net.Conn
	var waitingMsg []string
	t.Cleanup(func() {
		for _, c := range append(conns, waiting...) {
			c.Close()
		}
	})
	dial := func() net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", s.addr, err)
		}
		return c
	}

	// Fill the table.
	var limit outcome
	var limitErr error
	for i := 0; ; i++ {
		if i > 2*fdLimit {
			t.Fatalf("%d connections served under a limit of %d descriptors", len(conns), fdLimit)
		}
		c := dial()
		msg := fmt.Sprintf("hello %d\n", i)
		o, err := probe(c, msg, probeWait)
		if o == served {
			conns = append(conns, c)
			continue
		}
		limit, limitErr = o, err
		if o == hung && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("connection %d: %v", i, err)
		}
		if o == hung {
			waiting, waitingMsg = append(waiting, c), append(waitingMsg, msg)
		} else {
			c.Close()
		}
		break
	}
	full := openFDs(s.pid())
	// (The counts of open descriptors include any inherited from the
	// environment of go test.)
	t.Logf("%s: %d descriptors open before any connection, %d connections served, then the next was %s (%v); %d descriptors open",
		backend, base, len(conns), limit, limitErr, full)
	if len(conns) < fdLimit-base-4 || len(conns) >= fdLimit {
		t.Errorf("served %d connections with %d of %d descriptors in use at the start; want about %d",
			len(conns), base, fdLimit, fdLimit-base-1)
	}
	if mustTurnAway && limit != refused {
		t.Fatalf("at the descriptor limit the new peer was %s (%v): want it closed at once (end of file or reset), not left hanging", limit, limitErr)
	}
	turnsAway := limit == refused

	// Starved: more peers knock while CPU use is measured.
	cpu0, t0 := procCPU(t, s.pid()), time.Now()
	type knock struct {
		c   net.Conn
		msg string
	}
	knocks := make(chan knock, starveExtra)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(knocks)
		tick := time.NewTicker(starveSpan / starveExtra)
		defer tick.Stop()
		for i := range starveExtra {
			<-tick.C
			c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
			if err != nil {
				t.Errorf("dial while starved: %v", err)
				return
			}
			msg := fmt.Sprintf("knock %d\n", i)
			if _, err := io.WriteString(c, msg); err != nil && !isRefusal(err) {
				t.Errorf("writing while starved: %v", err)
			}
			knocks <- knock{c, msg}
		}
	})
	wg.Wait()
	cpu1, t1 := procCPU(t, s.pid()), time.Now()
	pct := float64(cpu1-cpu0) * 100 / userHZ / t1.Sub(t0).Seconds()
	t.Logf("%s: CPU while starved, with %d more peers knocking over %v: %.1f%% of a core (%d ticks)",
		backend, starveExtra, t1.Sub(t0).Round(time.Millisecond), pct, cpu1-cpu0)
	if pct >= maxStarved {
		t.Errorf("the server used %.1f%% of a core while out of descriptors, want < %d%%: it spins", pct, maxStarved)
	}
	knocked := time.Now().Add(probeWait)
	for k := range knocks {
		k.c.SetDeadline(knocked)
		o, err := readBack(k.c, k.msg)
		k.c.SetDeadline(time.Time{})
		switch {
		case o == refused:
			k.c.Close()
		case turnsAway:
			k.c.Close()
			t.Errorf("a peer knocking while the server was out of descriptors was %s (%v); want it closed at once", o, err)
		case o == hung && errors.Is(err, os.ErrDeadlineExceeded):
			waiting, waitingMsg = append(waiting, k.c), append(waitingMsg, k.msg)
		default:
			k.c.Close()
			t.Errorf("a peer knocking while the server was out of descriptors: %s, %v", o, err)
		}
	}

	// The connections it has still work.
	for i, c := range conns {
		msg := fmt.Sprintf("still there %d\n", i)
		if o, err := probe(c, msg, probeWait); o != served {
			t.Fatalf("connection %d, served before the limit, is now %s: %v", i, o, err)
		}
	}

	// Give descriptors back: those left waiting, if any, are served, and
	// new peers are too. The server sees the closes only as it reads the
	// ends of file, so the first new peers may still be turned away.
	for _, c := range conns[:freed] {
		c.Close()
	}
	conns = conns[freed:]
	for i, c := range waiting {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if o, err := readBack(c, waitingMsg[i]); o != served {
			t.Errorf("a peer left waiting at the limit was %s once descriptors were freed: %v", o, err)
		}
		c.SetDeadline(time.Time{})
	}
	conns, waiting = append(conns, waiting...), nil
	deadline := time.Now().Add(10 * time.Second)
	var early int
	for {
		c := dial()
		o, err := probe(c, "back again\n", probeWait)
		if o == served {
			conns = append(conns, c)
			break
		}
		c.Close()
		early++
		if time.Now().After(deadline) {
			t.Fatalf("new peers are still not served (last: %s, %v) %d descriptors after closing %d connections",
				o, err, openFDs(s.pid()), freed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range 3 {
		c := dial()
		if o, err := probe(c, fmt.Sprintf("more %d\n", i), probeWait); o != served {
			t.Errorf("new peer %d after freeing descriptors: %s, %v", i, o, err)
			c.Close()
			continue
		}
		conns = append(conns, c)
	}
	t.Logf("%s: new peers served again after closing %d connections (%d turned away first)", backend, freed, early)

	// It said what was going on: a warning naming the error.
	warned := false
	for _, line := range s.stderr.lines() {
		if logAttr(line, "level") == "WARN" && strings.Contains(logAttr(line, "err"), "too many open files") {
			warned = true
			t.Logf("%s logged: %s", backend, line)
			break
		}
	}
	if !warned {
		t.Errorf("server logged no warning with err=...too many open files\nstderr:\n%s", s.stderr)
	}
	s.stop(t)
}

// TestLauncher checks the fallback launcher sets the limit, for machines
// without prlimit.
func TestLauncher(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit is not installed: the descriptor-limit tests use the launcher already")
	}
	t.Setenv(envNoPrlimit, "1")
	s := startLimited(t, "echo", "-listen", "127.0.0.1:0")
	if filepath.Base(s.cmd.Path) == "prlimit" {
		t.Fatalf("started through prlimit despite %s", envNoPrlimit)
	}
	s.stop(t)
}
