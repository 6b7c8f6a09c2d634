//go:build linux

package main

import (
	"fmt"
	"os"
	"time"

	"github.com/gyre-go/gyre/bench/internal/harness"
	"github.com/gyre-go/gyre/bench/loadgen"
	"github.com/gyre-go/gyre/bench/servers"
)

func msgsPerSec(res *loadgen.Result) float64 { return res.MsgsPerSec() }
func mbPerSec(res *loadgen.Result) float64   { return res.MBPerSec() }

// cellText formats one server's figure for one cell, or says why there is
// none. A figure from fewer rounds than asked is marked with the count.
func (r *run) cellText(c cell, name string, f func(*loadgen.Result) float64, format string) string {
	if _, gone := r.Unavailable[name]; gone {
		return "unavailable"
	}
	xs := r.Figures(c, name, f)
	if len(xs) == 0 {
		return "FAILED"
	}
	s := fmt.Sprintf(format, harness.Median(xs))
	if n := len(r.Loads[harness.Key(c, name)]); len(xs) < n {
		s += fmt.Sprintf(" (%d/%d)", len(xs), n)
	}
	return s
}

func (r *run) report(took time.Duration) {
	w := os.Stdout
	fmt.Fprintf(w, "\n## TCP echo: %d round(s), %v warm-up + %v measured per cell, median of rounds\n\n",
		*fRounds, *fWarmup, *fDuration)
	fmt.Fprintf(w, "%s. Pipelined keeps %d messages in flight per connection. Run took %v.\n",
		pinNote, *fDepth, took.Round(time.Second))
	fmt.Fprintf(w, "Figures swing by up to a third between runs: compare within one table only.\n")

	// Throughput with ratios.
	hasGyreEpoll := r.Has("gyre-epoll")
	var evPeers []string
	for _, n := range []string{"gnet", "gnet-mc", "nbio"} {
		if r.Has(n) {
			evPeers = append(evPeers, n)
		}
	}
	var pairs []harness.RatioPair
	if hasGyreEpoll && len(evPeers) > 0 {
		pairs = append(pairs, harness.RatioPair{Num: "gyre-epoll", Dens: evPeers})
	}
	if r.Has("gyre-std") && r.Has("net") {
		pairs = append(pairs, harness.RatioPair{Num: "gyre-std", Dens: []string{"net"}})
	}

	fmt.Fprintf(w, "\n### Throughput, thousand echoes per second\n\n")
	hdr := append([]string{"mode, size, conns"}, r.Names...)
	for _, p := range pairs {
		hdr = append(hdr, p.Header())
	}
	fmt.Fprintln(w, harness.Row(hdr...))
	fmt.Fprintln(w, harness.SepRow(len(hdr), true))
	for _, c := range r.Cells {
		cols := []string{c.String()}
		for _, n := range r.Names {
			cols = append(cols, r.cellText(c, n, func(res *loadgen.Result) float64 { return res.MsgsPerSec() / 1e3 }, "%.1f"))
		}
		for _, p := range pairs {
			cols = append(cols, r.MedianRatioText(c, p, msgsPerSec))
		}
		fmt.Fprintln(w, harness.Row(cols...))
	}
	r.WriteRoundRatios(w, *fRounds, "mode, size, conns", pairs, msgsPerSec)

	fmt.Fprintf(w, "\n### Throughput, MB/s of echoed payload (one direction)\n\n")
	hdr = append([]string{"mode, size, conns"}, r.Names...)
	fmt.Fprintln(w, harness.Row(hdr...))
	fmt.Fprintln(w, harness.SepRow(len(hdr), true))
	for _, c := range r.Cells {
		cols := []string{c.String()}
		for _, n := range r.Names {
			cols = append(cols, r.cellText(c, n, mbPerSec, "%.1f"))
		}
		fmt.Fprintln(w, harness.Row(cols...))
	}

	// Latency at 100 connections (or the connection count nearest it).
	latConns := 0
	for _, c := range r.Cells {
		if latConns == 0 || abs(c.conns-100) < abs(latConns-100) {
			latConns = c.conns
		}
	}
	var latCells []cell
	for _, c := range r.Cells {
		if c.conns == latConns {
			latCells = append(latCells, c)
		}
	}
	fmt.Fprintf(w, "\n### Latency at %d connections, µs: p50 / p99 / p999 (from the write of a message to the read that completes its echo)\n\n", latConns)
	hdr = []string{"server"}
	for _, c := range latCells {
		hdr = append(hdr, c.mode+" "+sizeName(c.size))
	}
	fmt.Fprintln(w, harness.Row(hdr...))
	fmt.Fprintln(w, harness.SepRow(len(hdr), true))
	for _, n := range r.Names {
		cols := []string{n}
		for _, c := range latCells {
			if _, gone := r.Unavailable[n]; gone {
				cols = append(cols, "unavailable")
				continue
			}
			p50, ok := r.Med(c, n, func(res *loadgen.Result) float64 { return us(res.P50) })
			if !ok {
				cols = append(cols, "FAILED")
				continue
			}
			p99, _ := r.Med(c, n, func(res *loadgen.Result) float64 { return us(res.P99) })
			p999, _ := r.Med(c, n, func(res *loadgen.Result) float64 { return us(res.P999) })
			cols = append(cols, fmt.Sprintf("%s / %s / %s", fmtUs(p50), fmtUs(p99), fmtUs(p999)))
		}
		fmt.Fprintln(w, harness.Row(cols...))
	}

	if *fIdle > 0 {
		fmt.Fprintf(w, "\n### Idle memory: server RSS with %d idle connections (each echoed one byte, then went quiet)\n\n", *fIdle)
		fmt.Fprintln(w, harness.Row("server", "RSS before, MiB", "RSS after, MiB", "bytes/conn"))
		fmt.Fprintln(w, harness.SepRow(4, true))
		for _, n := range r.Names {
			if _, gone := r.Unavailable[n]; gone {
				fmt.Fprintln(w, harness.Row(n, "unavailable", "", ""))
				continue
			}
			irs := r.idle[n]
			if len(irs) == 0 {
				fmt.Fprintln(w, harness.Row(n, "FAILED", "", ""))
				continue
			}
			var b, a, p []float64
			for _, ir := range irs {
				b = append(b, float64(ir.before)/(1<<20))
				a = append(a, float64(ir.after)/(1<<20))
				p = append(p, ir.perConn())
			}
			fmt.Fprintln(w, harness.Row(n, fmt.Sprintf("%.1f", harness.Median(b)), fmt.Sprintf("%.1f", harness.Median(a)), fmt.Sprintf("%.0f", harness.Median(p))))
		}
	}

	r.WriteServers(w, servers.About)

	notes := r.FailureNotes(func(c cell, n string, round int, res *loadgen.Result) []string {
		if res.Starved > 0 {
			return []string{fmt.Sprintf("%s, %s, round %d: %d of %d connections completed no echo in the window",
				c, n, round, res.Starved, res.Conns)}
		}
		return nil
	})
	for _, n := range r.Names {
		if msg, ok := r.idleFail[n]; ok {
			notes = append(notes, fmt.Sprintf("idle, %s: failed: %s", n, harness.OneLine(msg)))
		}
	}
	harness.WriteProblems(w, notes)

	if *fRaw && *fRounds > 1 {
		r.WriteRaw(w, "Every round, thousand echoes per second (round 1, 2, ...)", "mode, size, conns",
			func(res *loadgen.Result) string { return fmt.Sprintf("%.1f", res.MsgsPerSec()/1e3) })
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
