//go:build linux

// Command udpbench measures UDP echo servers — gyre on each backend through
// gyre.UDP, nbio's UDP support and a plain package net server — with a load
// generator of its own, and prints markdown tables.
//
// Every server runs in a child process (this binary run again with
// -child-server) pinned to one CPU, and the load generator in another child
// (-child-load) pinned to another. For every cell (senders × datagram size)
// the servers take turns, a fresh server process each time, and the order of
// the servers rotates from round to round; each figure is the median over
// -rounds.
//
// Usage (from the bench module):
//
//	go run ./cmd/udpbench            # the full run, about three minutes
//	go run ./cmd/udpbench -quick     # about half a minute
//	go run ./cmd/udpbench -servers gyre-epoll,net -senders 64 -sizes 64 -rounds 5
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gyre-go/gyre/bench/internal/harness"
	"github.com/gyre-go/gyre/bench/udpservers"
	"github.com/gyre-go/gyre/bench/udpservers/udpload"
)

var (
	common           = harness.RegisterFlags()
	fRounds, fRaw    = common.Rounds, common.Raw
	childLoad, fAddr = common.ChildLoad, common.Addr

	fServers   = flag.String("servers", strings.Join(udpservers.Names(), ","), "servers to measure, comma-separated (known: "+strings.Join(udpservers.Names(), ", ")+")")
	fSenders   = flag.String("senders", "1,64", "sender counts (each sender has its own socket and goroutine)")
	fSizes     = flag.String("sizes", "64,1400", "datagram sizes in bytes (at least 16)")
	fWindow    = flag.Int("window", 8, "datagrams in flight per sender")
	fDuration  = flag.Duration("duration", 2*time.Second, "measured time per cell")
	fWarmup    = flag.Duration("warmup", 500*time.Millisecond, "load applied before each cell's measured time")
	fLostAfter = flag.Duration("lost-after", 200*time.Millisecond, "a datagram with no echo this long after it was sent gives its window place to a new one; one sent in the window counts as lost if no echo came by the window's end plus this")
	fQuick     = flag.Bool("quick", false, "a quick look, about half a minute: -rounds 1 -duration 1s -warmup 300ms (flags given explicitly still win)")

	// Internal: the children.
	childServer = flag.String("child-server", "", "internal: serve this server on 127.0.0.1:0")
	fSize       = flag.Int("size", 64, "internal: datagram size of a -child-load")
	fNSenders   = flag.Int("n", 1, "internal: senders of a -child-load")
)

var h = &harness.Harness{Prog: "udpbench"}

func main() {
	flag.Parse()
	h.Verbose, h.ServerCPU, h.ClientCPU = *common.Verbose, *common.ServerCPU, *common.ClientCPU
	switch {
	case *childServer != "":
		serveChild()
	case *childLoad:
		loadChild()
	default:
		parent()
	}
}

func fatalf(format string, args ...any) { h.Fatalf(format, args...) }

// ---------------------------------------------------------------- children

// serveChild runs one server until its stdin closes. It reports on file
// descriptor 3 "ready ADDR" once bound, or "unavailable: reason".
func serveChild() {
	harness.ServeChild(func() (string, func(), error) {
		serve, err := udpservers.Lookup(*childServer)
		if err != nil {
			return "", nil, err
		}
		return serve("127.0.0.1:0")
	})
}

func loadChild() {
	res, err := udpload.Run(udpload.Config{
		Addr: *fAddr, Senders: *fNSenders, Size: *fSize, Window: *fWindow,
		Warmup: *fWarmup, Duration: *fDuration, LostAfter: *fLostAfter,
	})
	if err != nil {
		fatalf("%v", err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fatalf("%v", err)
	}
}

// ---------------------------------------------------------------- processes

// startServer starts a server child and waits until it is bound. The child
// binds port 0 and reports the address, so no port is guessed.
func startServer(name string) (*harness.ServerProc, error) {
	return h.StartServer(name, []string{"-child-server", name}, func(line string) (string, bool) {
		return strings.CutPrefix(line, "ready ")
	})
}

// runLoad runs one load child against the server and returns its result.
func runLoad(s *harness.ServerProc, c cell) (*udpload.Result, error) {
	args := []string{"-child-load", "-addr", s.Addr,
		"-size", strconv.Itoa(c.size), "-n", strconv.Itoa(c.senders), "-window", strconv.Itoa(*fWindow),
		"-warmup", fWarmup.String(), "-duration", fDuration.String(), "-lost-after", fLostAfter.String()}
	timeout := *fWarmup + *fDuration + *fLostAfter + 30*time.Second
	var res udpload.Result
	if err := h.RunLoad(args, timeout, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// ---------------------------------------------------------------- parent

type cell struct {
	senders int
	size    int
}

func (c cell) String() string {
	return fmt.Sprintf("%d sender%s, %d B", c.senders, plural(c.senders), c.size)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// run holds everything measured.
type run = harness.Run[cell, udpload.Result]

func parent() {
	if *fQuick {
		if err := harness.Defaults(map[string]string{"rounds": "1", "duration": "1s", "warmup": "300ms"}); err != nil {
			fatalf("%v", err)
		}
	}
	var err error
	if h.Self, err = os.Executable(); err != nil {
		fatalf("%v", err)
	}
	names := h.ServerList(*fServers, udpservers.Known, udpservers.Names())
	senders, err := harness.IntList("senders", *fSenders)
	if err != nil {
		fatalf("%v", err)
	}
	sizes, err := harness.IntList("sizes", *fSizes)
	if err != nil {
		fatalf("%v", err)
	}
	for _, s := range sizes {
		if s < 16 || s > 65507 {
			fatalf("-sizes: %d is not between 16 and 65507 bytes", s)
		}
	}
	if *fRounds < 1 || *fDuration <= 0 || *fWarmup < 0 || *fWindow < 1 || *fLostAfter <= 0 {
		fatalf("-rounds, -duration, -window and -lost-after must be positive")
	}
	var cells []cell
	for _, n := range senders {
		for _, s := range sizes {
			cells = append(cells, cell{n, s})
		}
	}
	checkCPUs()

	r := harness.NewRun[cell, udpload.Result](names, cells)
	perCell := *fWarmup + *fDuration + *fLostAfter + 150*time.Millisecond
	est := time.Duration(len(cells)*len(names)**fRounds) * perCell
	fmt.Fprintf(os.Stderr, "udpbench: %d servers x %d cells x %d rounds, %v warm-up + %v per cell; about %v if every server is available\n",
		len(names), len(cells), *fRounds, *fWarmup, *fDuration, est.Round(10*time.Second))

	start := time.Now()
	for round := range *fRounds {
		order := harness.Rotate(names, round)
		label := fmt.Sprintf("round %d/%d", round+1, *fRounds)
		for _, c := range cells {
			r.Round(label, 20, c, order, measureCell,
				func(res *udpload.Result) string { return fmt.Sprintf("%.1fk", res.PerSec()/1e3) }, start)
		}
	}
	report(r, time.Since(start))
}

func measureCell(name string, c cell) (*udpload.Result, error) {
	return harness.Measure(func() (*harness.ServerProc, error) { return startServer(name) },
		func(s *harness.ServerProc) (*udpload.Result, error) { return runLoad(s, c) })
}

var pinNote string

// checkCPUs checks that the CPUs to pin to exist and that pinning takes, and
// notes what the pinned children read back.
func checkCPUs() {
	server, client := h.CheckCPUs()
	pinNote = fmt.Sprintf("Server processes on CPU(s) %s, load generator on CPU(s) %s (read back from /proc/PID/status of pinned children; machine has %d CPUs)",
		server, client, runtime.NumCPU())
}
