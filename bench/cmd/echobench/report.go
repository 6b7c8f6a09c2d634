//go:build linux

package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gyre-go/gyre/bench/loadgen"
	"github.com/gyre-go/gyre/bench/servers"
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// figures returns f of every successful round of one cell and server.
func (r *run) figures(c cell, name string, f func(*loadgen.Result) float64) []float64 {
	var out []float64
	for _, res := range r.loads[key(c, name)] {
		if res != nil {
			out = append(out, f(res))
		}
	}
	return out
}

// med returns the median of f over the successful rounds, and whether
// there was any.
func (r *run) med(c cell, name string, f func(*loadgen.Result) float64) (float64, bool) {
	xs := r.figures(c, name, f)
	return median(xs), len(xs) > 0
}

func msgsPerSec(res *loadgen.Result) float64 { return res.MsgsPerSec() }
func mbPerSec(res *loadgen.Result) float64   { return res.MBPerSec() }

// cellText formats one server's figure for one cell, or says why there is
// none. A figure from fewer rounds than asked is marked with the count.
func (r *run) cellText(c cell, name string, f func(*loadgen.Result) float64, format string) string {
	if _, gone := r.unavailable[name]; gone {
		return "unavailable"
	}
	xs := r.figures(c, name, f)
	if len(xs) == 0 {
		return "FAILED"
	}
	s := fmt.Sprintf(format, median(xs))
	if n := len(r.loads[key(c, name)]); len(xs) < n {
		s += fmt.Sprintf(" (%d/%d)", len(xs), n)
	}
	return s
}

func ratioText(num float64, okNum bool, den float64, okDen bool) string {
	if !okNum || !okDen || den == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", num/den)
}

func (r *run) has(name string) bool {
	_, gone := r.unavailable[name]
	return slices.Contains(r.names, name) && !gone
}

func row(cols ...string) string { return "| " + strings.Join(cols, " | ") + " |" }

func sepRow(n int, firstLeft bool) string {
	cols := make([]string, n)
	for i := range cols {
		cols[i] = "--:"
		if i == 0 && firstLeft {
			cols[i] = "---"
		}
	}
	return row(cols...)
}

func (r *run) report(took time.Duration) {
	w := os.Stdout
	fmt.Fprintf(w, "\n## TCP echo: %d round(s), %v warm-up + %v measured per cell, median of rounds\n\n",
		*fRounds, *fWarmup, *fDuration)
	fmt.Fprintf(w, "%s. Pipelined keeps %d messages in flight per connection. Run took %v.\n",
		pinNote, *fDepth, took.Round(time.Second))
	fmt.Fprintf(w, "Figures swing by up to a third between runs: compare within one table only.\n")

	// Throughput with ratios.
	hasGyreEpoll := r.has("gyre-epoll")
	var evPeers []string
	for _, n := range []string{"gnet", "gnet-mc", "nbio"} {
		if r.has(n) {
			evPeers = append(evPeers, n)
		}
	}
	showEv := hasGyreEpoll && len(evPeers) > 0
	showStd := r.has("gyre-std") && r.has("net")

	fmt.Fprintf(w, "\n### Throughput, thousand echoes per second\n\n")
	hdr := append([]string{"mode, size, conns"}, r.names...)
	if showEv {
		hdr = append(hdr, "gyre-epoll / best of "+strings.Join(evPeers, ", "))
	}
	if showStd {
		hdr = append(hdr, "gyre-std / net")
	}
	fmt.Fprintln(w, row(hdr...))
	fmt.Fprintln(w, sepRow(len(hdr), true))
	for _, c := range r.cells {
		cols := []string{c.String()}
		for _, n := range r.names {
			cols = append(cols, r.cellText(c, n, func(res *loadgen.Result) float64 { return res.MsgsPerSec() / 1e3 }, "%.1f"))
		}
		if showEv {
			g, okG := r.med(c, "gyre-epoll", msgsPerSec)
			best, okB := 0.0, false
			for _, p := range evPeers {
				if v, ok := r.med(c, p, msgsPerSec); ok && v > best {
					best, okB = v, true
				}
			}
			cols = append(cols, ratioText(g, okG, best, okB))
		}
		if showStd {
			g, okG := r.med(c, "gyre-std", msgsPerSec)
			n, okN := r.med(c, "net", msgsPerSec)
			cols = append(cols, ratioText(g, okG, n, okN))
		}
		fmt.Fprintln(w, row(cols...))
	}

	fmt.Fprintf(w, "\n### Throughput, MB/s of echoed payload (one direction)\n\n")
	hdr = append([]string{"mode, size, conns"}, r.names...)
	fmt.Fprintln(w, row(hdr...))
	fmt.Fprintln(w, sepRow(len(hdr), true))
	for _, c := range r.cells {
		cols := []string{c.String()}
		for _, n := range r.names {
			cols = append(cols, r.cellText(c, n, mbPerSec, "%.1f"))
		}
		fmt.Fprintln(w, row(cols...))
	}

	// Latency at 100 connections (or the connection count nearest it).
	latConns := 0
	for _, c := range r.cells {
		if latConns == 0 || abs(c.conns-100) < abs(latConns-100) {
			latConns = c.conns
		}
	}
	var latCells []cell
	for _, c := range r.cells {
		if c.conns == latConns {
			latCells = append(latCells, c)
		}
	}
	fmt.Fprintf(w, "\n### Latency at %d connections, µs: p50 / p99 / p999 (from the write of a message to the read that completes its echo)\n\n", latConns)
	hdr = []string{"server"}
	for _, c := range latCells {
		hdr = append(hdr, c.mode+" "+sizeName(c.size))
	}
	fmt.Fprintln(w, row(hdr...))
	fmt.Fprintln(w, sepRow(len(hdr), true))
	for _, n := range r.names {
		cols := []string{n}
		for _, c := range latCells {
			if _, gone := r.unavailable[n]; gone {
				cols = append(cols, "unavailable")
				continue
			}
			p50, ok := r.med(c, n, func(res *loadgen.Result) float64 { return us(res.P50) })
			if !ok {
				cols = append(cols, "FAILED")
				continue
			}
			p99, _ := r.med(c, n, func(res *loadgen.Result) float64 { return us(res.P99) })
			p999, _ := r.med(c, n, func(res *loadgen.Result) float64 { return us(res.P999) })
			cols = append(cols, fmt.Sprintf("%s / %s / %s", fmtUs(p50), fmtUs(p99), fmtUs(p999)))
		}
		fmt.Fprintln(w, row(cols...))
	}

	if *fIdle > 0 {
		fmt.Fprintf(w, "\n### Idle memory: server RSS with %d idle connections (each echoed one byte, then went quiet)\n\n", *fIdle)
		fmt.Fprintln(w, row("server", "RSS before, MiB", "RSS after, MiB", "bytes/conn"))
		fmt.Fprintln(w, sepRow(4, true))
		for _, n := range r.names {
			if _, gone := r.unavailable[n]; gone {
				fmt.Fprintln(w, row(n, "unavailable", "", ""))
				continue
			}
			irs := r.idle[n]
			if len(irs) == 0 {
				fmt.Fprintln(w, row(n, "FAILED", "", ""))
				continue
			}
			var b, a, p []float64
			for _, ir := range irs {
				b = append(b, float64(ir.before)/(1<<20))
				a = append(a, float64(ir.after)/(1<<20))
				p = append(p, ir.perConn())
			}
			fmt.Fprintln(w, row(n, fmt.Sprintf("%.1f", median(b)), fmt.Sprintf("%.1f", median(a)), fmt.Sprintf("%.0f", median(p))))
		}
	}

	fmt.Fprintf(w, "\n### Servers\n\n")
	for _, n := range r.names {
		s := fmt.Sprintf("- %s: %s", n, servers.About(n))
		if why, gone := r.unavailable[n]; gone {
			s += ". **Unavailable**: " + why
		}
		fmt.Fprintln(w, s)
	}

	var notes []string
	for _, c := range r.cells {
		for _, n := range r.names {
			if msg, ok := r.failures[key(c, n)]; ok {
				notes = append(notes, fmt.Sprintf("%s, %s: failed: %s", c, n, oneLine(msg)))
			}
			for i, res := range r.loads[key(c, n)] {
				if res != nil && res.Starved > 0 {
					notes = append(notes, fmt.Sprintf("%s, %s, round %d: %d of %d connections completed no echo in the window",
						c, n, i+1, res.Starved, res.Conns))
				}
			}
		}
	}
	for _, n := range r.names {
		if msg, ok := r.idleFail[n]; ok {
			notes = append(notes, fmt.Sprintf("idle, %s: failed: %s", n, oneLine(msg)))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n### Problems\n\n")
		for _, s := range notes {
			fmt.Fprintln(w, "- "+s)
		}
	}

	if *fRaw && *fRounds > 1 {
		fmt.Fprintf(w, "\n### Every round, thousand echoes per second (round 1, 2, ...)\n\n")
		hdr = append([]string{"mode, size, conns"}, r.names...)
		fmt.Fprintln(w, row(hdr...))
		fmt.Fprintln(w, sepRow(len(hdr), true))
		for _, c := range r.cells {
			cols := []string{c.String()}
			for _, n := range r.names {
				var parts []string
				for _, res := range r.loads[key(c, n)] {
					if res == nil {
						parts = append(parts, "×")
					} else {
						parts = append(parts, fmt.Sprintf("%.1f", res.MsgsPerSec()/1e3))
					}
				}
				if len(parts) == 0 {
					parts = []string{"–"}
				}
				cols = append(cols, strings.Join(parts, ", "))
			}
			fmt.Fprintln(w, row(cols...))
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func fmtUs(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
