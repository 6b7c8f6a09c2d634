// Package reactortest checks that a reactor keeps the rules of docs/SPEC.md,
// and provides fakes for testing code that uses a reactor.
//
// The conformance suite is a list of cases, each named after the spec rule it
// checks (core.stop.final, time.order.fifo, ...). Run runs all of them under
// go test against any reactor, so the author of a new backend needs one test:
//
//	func TestConformance(t *testing.T) {
//		reactortest.Run(t, reactortest.Builder{
//			Name: "mine",
//			New: func(opts ...gyre.Option) (gyre.Core, error) {
//				return mybackend.New(opts...)
//			},
//		})
//	}
//
// Every case gets a fresh reactor and fails if it leaves a goroutine, a file
// descriptor or a pending timer behind. A case that needs a facet the reactor
// does not implement (gyre.Clock, gyre.Threads, ...) is skipped, and the skip
// says which facet is missing. RunAll runs the same cases outside go test, as
// the gyre conformance command does.
package reactortest

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gyre-go/gyre"
)

// T is what a conformance case needs of a test runner. *testing.T implements
// it; RunAll supplies its own. Fatalf, FailNow and Skipf end the case's
// goroutine with runtime.Goexit, as the testing package does.
type T interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Failed() bool
}

// Builder makes fresh reactors of one backend.
type Builder struct {
	// Name names the backend in reports.
	Name string
	// New returns a reactor that has not run, configured with opts. It
	// must implement gyre.Core; the suite looks for every other facet with
	// a type assertion. The suite passes a logger that records what the
	// reactor logs, so that cases can check it.
	New func(opts ...gyre.Option) (gyre.Core, error)
	// Skip, if set, may return a reason to skip a case on this backend.
	// The reason is shown to users, so say why ("PTY not supported on
	// this OS"), not just that.
	Skip func(caseID string) string
}

// Facet names a group of rules, one row of the conformance matrix.
type Facet string

// The facets checked by the suite.
const (
	FacetCore      Facet = "core"
	FacetEvents    Facet = "events"
	FacetTime      Facet = "time"
	FacetThreads   Facet = "threads"
	FacetFailures  Facet = "failures"
	FacetDeferred  Facet = "deferred"
	FacetTCP       Facet = "tcp"
	FacetTransport Facet = "transport"
	FacetUnix      Facet = "unix"
	FacetUDP       Facet = "udp"
	FacetMulticast Facet = "multicast"
	FacetUnixDgram Facet = "unixdgram"
	FacetProcess   Facet = "process"
	FacetSignals   Facet = "signals"
	FacetStdio     Facet = "stdio"
	FacetForeign   Facet = "foreign"
)

// Facets lists the facets in the order reports show them.
var Facets = []Facet{FacetCore, FacetEvents, FacetTime, FacetThreads, FacetFailures, FacetDeferred,
	FacetTCP, FacetTransport, FacetUnix, FacetUDP, FacetMulticast, FacetUnixDgram,
	FacetProcess, FacetSignals, FacetStdio, FacetForeign}

// Need is a facet interface a case requires besides gyre.Core.
type Need uint

// The facet interfaces a case may need.
const (
	NeedClock Need = 1 << iota
	NeedThreads
	NeedTCP
	NeedUnix
	NeedUDP
	NeedMulticast
	NeedUnixDgram
	NeedProcesses
	NeedSignals
	NeedStdio
)

// Case is one conformance check.
type Case struct {
	// ID is the spec rule the case checks, optionally followed by "#" and
	// a variant when one rule has several cases.
	ID    string
	Facet Facet
	Needs Need
	// Options are passed to the Builder's New besides the suite's logger.
	Options []gyre.Option
	// Test runs the check.
	Test func(c *C)
}

// Rule returns the spec rule id the case checks.
func (k Case) Rule() string {
	id, _, _ := strings.Cut(k.ID, "#")
	return id
}

var cases []Case

// register adds cases to the suite; each case file calls it from init.
func register(cs ...Case) {
	cases = append(cases, cs...)
}

// Cases returns every case of the suite, sorted by facet and then by id.
func Cases() []Case {
	out := append([]Case(nil), cases...)
	order := make(map[Facet]int)
	for i, f := range Facets {
		order[f] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Facet != out[j].Facet {
			return order[out[i].Facet] < order[out[j].Facet]
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Run runs every case against reactors from b, each as a subtest named by its
// case id.
func Run(t *testing.T, b Builder) {
	t.Helper()
	for _, k := range Cases() {
		t.Run(k.ID, func(t *testing.T) { RunCase(t, b, k) })
	}
}

// DefaultDeadline bounds how long C.Run waits for a reactor's Run to return.
const DefaultDeadline = 10 * time.Second

// RunCase runs one case on the calling goroutine against a fresh reactor from
// b, then checks that nothing was left behind.
func RunCase(t T, b Builder, k Case) {
	t.Helper()
	if b.Skip != nil {
		if why := b.Skip(k.ID); why != "" {
			t.Skipf("backend %s: %s", b.Name, why)
		}
	}
	before := takeSnapshot()
	logs := &logCapture{}
	r, err := b.New(append([]gyre.Option{gyre.WithLogger(slog.New(captureHandler{c: logs}))}, k.Options...)...)
	if err != nil {
		t.Fatalf("backend %s: new reactor: %v", b.Name, err)
	}
	c := &C{T: t, R: r, Backend: b.Name, Deadline: DefaultDeadline, logs: logs}
	c.Clock, _ = r.(gyre.Clock)
	c.Threads, _ = r.(gyre.Threads)
	c.TCP, _ = r.(gyre.TCP)
	c.Unix, _ = r.(gyre.Unix)
	c.UDP, _ = r.(gyre.UDP)
	c.Multicast, _ = r.(gyre.Multicast)
	c.UnixDgram, _ = r.(gyre.UnixDatagram)
	c.Processes, _ = r.(gyre.Processes)
	c.Signals, _ = r.(gyre.Signals)
	c.Stdio, _ = r.(gyre.StandardIO)
	if missing := c.missing(k.Needs); missing != "" {
		c.release()
		t.Skipf("backend %s does not implement %s", b.Name, missing)
	}
	defer c.finish(before)
	k.Test(c)
}

// Result is the outcome of one case against one backend.
type Result struct {
	Case    string `json:"case"`
	Facet   string `json:"facet"`
	Backend string `json:"backend"`
	Status  string `json:"status"` // "pass", "fail" or "skip"
	Reason  string `json:"reason"`
}

// CaseDeadline bounds one case run by RunAll, leak checks included.
const CaseDeadline = 60 * time.Second

// RunAll runs every case against b outside go test, one at a time, and
// returns the results in Cases order. If match is not nil, only the cases it
// accepts run.
func RunAll(b Builder, match func(Case) bool) []Result {
	var out []Result
	for _, k := range Cases() {
		if match != nil && !match(k) {
			continue
		}
		out = append(out, runDetached(b, k))
	}
	return out
}

func runDetached(b Builder, k Case) Result {
	rt := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				rt.Errorf("panic: %v", p)
			}
		}()
		RunCase(rt, b, k)
	}()
	res := Result{Case: k.ID, Facet: string(k.Facet), Backend: b.Name, Status: "pass"}
	select {
	case <-done:
	case <-time.After(CaseDeadline):
		rt.Errorf("case did not finish within %v", CaseDeadline)
	}
	switch {
	case rt.Failed():
		res.Status = "fail"
		res.Reason = rt.text()
	case rt.skipped:
		res.Status = "skip"
		res.Reason = rt.skip
	}
	return res
}

// Summary counts results per facet: passed, failed, skipped and total.
type Summary struct {
	Passed, Failed, Skipped, Total int
	Skips                          []string // distinct skip reasons
}

// Summarize groups results by facet.
func Summarize(rs []Result) map[Facet]*Summary {
	m := make(map[Facet]*Summary)
	for _, r := range rs {
		s := m[Facet(r.Facet)]
		if s == nil {
			s = &Summary{}
			m[Facet(r.Facet)] = s
		}
		s.Total++
		switch r.Status {
		case "pass":
			s.Passed++
		case "fail":
			s.Failed++
		case "skip":
			s.Skipped++
			found := false
			for _, w := range s.Skips {
				found = found || w == r.Reason
			}
			if !found {
				s.Skips = append(s.Skips, r.Reason)
			}
		}
	}
	return m
}

// String formats a summary cell: "12/12", or "10/12 (2 skipped)".
func (s *Summary) String() string {
	out := fmt.Sprintf("%d/%d", s.Passed, s.Total)
	if s.Failed > 0 {
		out += fmt.Sprintf(" %d FAILED", s.Failed)
	}
	if s.Skipped > 0 {
		out += fmt.Sprintf(" (%d skipped)", s.Skipped)
	}
	return out
}

// missing names the first facet interface in needs that c's reactor lacks, or
// returns "".
func (c *C) missing(needs Need) string {
	have := []struct {
		need Need
		ok   bool
		name string
	}{
		{NeedClock, c.Clock != nil, "gyre.Clock"},
		{NeedThreads, c.Threads != nil, "gyre.Threads"},
		{NeedTCP, c.TCP != nil, "gyre.TCP"},
		{NeedUnix, c.Unix != nil, "gyre.Unix"},
		{NeedUDP, c.UDP != nil, "gyre.UDP"},
		{NeedMulticast, c.Multicast != nil, "gyre.Multicast"},
		{NeedUnixDgram, c.UnixDgram != nil, "gyre.UnixDatagram"},
		{NeedProcesses, c.Processes != nil, "gyre.Processes"},
		{NeedSignals, c.Signals != nil, "gyre.Signals"},
		{NeedStdio, c.Stdio != nil, "gyre.StandardIO"},
	}
	for _, h := range have {
		if needs&h.need != 0 && !h.ok {
			return h.name
		}
	}
	return ""
}
