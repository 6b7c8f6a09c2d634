//go:build linux

package main

import (
	"fmt"
	"os"
	"time"

	"github.com/gyre-go/gyre/bench/internal/harness"
	"github.com/gyre-go/gyre/bench/udpservers"
	"github.com/gyre-go/gyre/bench/udpservers/udpload"
)

func kPerSec(res *udpload.Result) float64 { return res.PerSec() / 1e3 }
func lossPct(res *udpload.Result) float64 { return res.LossPct() }
func lost(res *udpload.Result) float64    { return float64(res.Lost) }

// status says why a server has no figure for a cell, or "" if it has one.
// A figure from fewer rounds than asked gets a suffix with the count.
func status(r *run, c cell, name string) (missing, suffix string) {
	if _, gone := r.Unavailable[name]; gone {
		return "unavailable", ""
	}
	all := r.Loads[harness.Key(c, name)]
	ok := 0
	for _, res := range all {
		if res != nil {
			ok++
		}
	}
	if ok == 0 {
		return "FAILED", ""
	}
	if ok < len(all) {
		suffix = fmt.Sprintf(" (%d/%d)", ok, len(all))
	}
	return "", suffix
}

func report(r *run, took time.Duration) {
	w := os.Stdout
	fmt.Fprintf(w, "\n## UDP echo: %d round(s), %v warm-up + %v measured per cell, median of rounds\n\n",
		*fRounds, *fWarmup, *fDuration)
	fmt.Fprintf(w, "%s. Each sender has its own socket and keeps %d datagrams in flight; a datagram counts as lost if no echo came within %v after the cell's end. Run took %v.\n",
		pinNote, *fWindow, *fLostAfter, took.Round(time.Second))
	fmt.Fprintf(w, "Figures swing by up to a third between runs: compare within one table only.\n")

	var pairs []harness.RatioPair
	for _, g := range []string{"gyre-epoll", "gyre-std"} {
		if r.Has(g) && r.Has("net") {
			pairs = append(pairs, harness.RatioPair{Num: g, Dens: []string{"net"}})
		}
	}

	fmt.Fprintf(w, "\n### Throughput, thousand datagrams echoed per second\n\n")
	hdr := append([]string{"senders, size"}, r.Names...)
	for _, p := range pairs {
		hdr = append(hdr, p.Header())
	}
	fmt.Fprintln(w, harness.Row(hdr...))
	fmt.Fprintln(w, harness.SepRow(len(hdr), true))
	for _, c := range r.Cells {
		cols := []string{c.String()}
		for _, n := range r.Names {
			if miss, suf := status(r, c, n); miss != "" {
				cols = append(cols, miss)
			} else {
				v, _ := r.Med(c, n, kPerSec)
				cols = append(cols, fmt.Sprintf("%.1f%s", v, suf))
			}
		}
		for _, p := range pairs {
			cols = append(cols, r.MedianRatioText(c, p, kPerSec))
		}
		fmt.Fprintln(w, harness.Row(cols...))
	}
	r.WriteRoundRatios(w, *fRounds, "senders, size", pairs, kPerSec)

	fmt.Fprintf(w, "\n### Loss: %% of the datagrams sent in the measured window with no echo within %v of its end (median count in brackets)\n\n", *fLostAfter)
	hdr = append([]string{"senders, size"}, r.Names...)
	fmt.Fprintln(w, harness.Row(hdr...))
	fmt.Fprintln(w, harness.SepRow(len(hdr), true))
	for _, c := range r.Cells {
		cols := []string{c.String()}
		for _, n := range r.Names {
			if miss, suf := status(r, c, n); miss != "" {
				cols = append(cols, miss)
			} else {
				pct, _ := r.Med(c, n, lossPct)
				cnt, _ := r.Med(c, n, lost)
				cols = append(cols, fmt.Sprintf("%.2f%% (%.0f)%s", pct, cnt, suf))
			}
		}
		fmt.Fprintln(w, harness.Row(cols...))
	}

	r.WriteServers(w, udpservers.About)

	notes := r.FailureNotes(func(c cell, n string, round int, res *udpload.Result) []string {
		var notes []string
		if res.Starved > 0 {
			notes = append(notes, fmt.Sprintf("%s, %s, round %d: %d of %d senders received no echo in the window",
				c, n, round, res.Starved, res.Senders))
		}
		if res.Dups > 0 {
			notes = append(notes, fmt.Sprintf("%s, %s, round %d: %d duplicate echoes", c, n, round, res.Dups))
		}
		return notes
	})
	harness.WriteProblems(w, notes)

	if *fRaw && *fRounds > 1 {
		r.WriteRaw(w, "Every round: thousand echoes per second (datagrams lost), round 1, 2, ...", "senders, size",
			func(res *udpload.Result) string { return fmt.Sprintf("%.1f (%d)", res.PerSec()/1e3, res.Lost) })
	}
}
