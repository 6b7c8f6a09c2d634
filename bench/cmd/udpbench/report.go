//go:build linux

package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gyre-go/gyre/bench/udpservers"
	"github.com/gyre-go/gyre/bench/udpservers/udpload"
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
func (r *run) figures(c cell, name string, f func(*udpload.Result) float64) []float64 {
	var out []float64
	for _, res := range r.loads[key(c, name)] {
		if res != nil {
			out = append(out, f(res))
		}
	}
	return out
}

// med returns the median of f over the successful rounds, and whether there
// was any.
func (r *run) med(c cell, name string, f func(*udpload.Result) float64) (float64, bool) {
	xs := r.figures(c, name, f)
	return median(xs), len(xs) > 0
}

func kPerSec(res *udpload.Result) float64 { return res.PerSec() / 1e3 }
func lossPct(res *udpload.Result) float64 { return res.LossPct() }
func lost(res *udpload.Result) float64    { return float64(res.Lost) }

// status says why a server has no figure for a cell, or "" if it has one.
// A figure from fewer rounds than asked gets a suffix with the count.
func (r *run) status(c cell, name string) (missing, suffix string) {
	if _, gone := r.unavailable[name]; gone {
		return "unavailable", ""
	}
	all := r.loads[key(c, name)]
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

func sepRow(n int) string {
	cols := make([]string, n)
	for i := range cols {
		cols[i] = "--:"
		if i == 0 {
			cols[i] = "---"
		}
	}
	return row(cols...)
}

func (r *run) report(took time.Duration) {
	w := os.Stdout
	fmt.Fprintf(w, "\n## UDP echo: %d round(s), %v warm-up + %v measured per cell, median of rounds\n\n",
		*fRounds, *fWarmup, *fDuration)
	fmt.Fprintf(w, "%s. Each sender has its own socket and keeps %d datagrams in flight; a datagram counts as lost if no echo came within %v after the cell's end. Run took %v.\n",
		pinNote, *fWindow, *fLostAfter, took.Round(time.Second))
	fmt.Fprintf(w, "Figures swing by up to a third between runs: compare within one table only.\n")

	var ratios [][2]string
	for _, g := range []string{"gyre-epoll", "gyre-std"} {
		if r.has(g) && r.has("net") {
			ratios = append(ratios, [2]string{g, "net"})
		}
	}

	fmt.Fprintf(w, "\n### Throughput, thousand datagrams echoed per second\n\n")
	hdr := append([]string{"senders, size"}, r.names...)
	for _, p := range ratios {
		hdr = append(hdr, p[0]+" / "+p[1])
	}
	fmt.Fprintln(w, row(hdr...))
	fmt.Fprintln(w, sepRow(len(hdr)))
	for _, c := range r.cells {
		cols := []string{c.String()}
		for _, n := range r.names {
			if miss, suf := r.status(c, n); miss != "" {
				cols = append(cols, miss)
			} else {
				v, _ := r.med(c, n, kPerSec)
				cols = append(cols, fmt.Sprintf("%.1f%s", v, suf))
			}
		}
		for _, p := range ratios {
			a, okA := r.med(c, p[0], kPerSec)
			b, okB := r.med(c, p[1], kPerSec)
			cols = append(cols, ratioText(a, okA, b, okB))
		}
		fmt.Fprintln(w, row(cols...))
	}

	fmt.Fprintf(w, "\n### Loss: %% of the datagrams sent in the measured window with no echo within %v of its end (median count in brackets)\n\n", *fLostAfter)
	hdr = append([]string{"senders, size"}, r.names...)
	fmt.Fprintln(w, row(hdr...))
	fmt.Fprintln(w, sepRow(len(hdr)))
	for _, c := range r.cells {
		cols := []string{c.String()}
		for _, n := range r.names {
			if miss, suf := r.status(c, n); miss != "" {
				cols = append(cols, miss)
			} else {
				pct, _ := r.med(c, n, lossPct)
				cnt, _ := r.med(c, n, lost)
				cols = append(cols, fmt.Sprintf("%.2f%% (%.0f)%s", pct, cnt, suf))
			}
		}
		fmt.Fprintln(w, row(cols...))
	}

	fmt.Fprintf(w, "\n### Servers\n\n")
	for _, n := range r.names {
		s := fmt.Sprintf("- %s: %s", n, udpservers.About(n))
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
				if res == nil {
					continue
				}
				if res.Starved > 0 {
					notes = append(notes, fmt.Sprintf("%s, %s, round %d: %d of %d senders received no echo in the window",
						c, n, i+1, res.Starved, res.Senders))
				}
				if res.Dups > 0 {
					notes = append(notes, fmt.Sprintf("%s, %s, round %d: %d duplicate echoes", c, n, i+1, res.Dups))
				}
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n### Problems\n\n")
		for _, s := range notes {
			fmt.Fprintln(w, "- "+s)
		}
	}

	if *fRaw && *fRounds > 1 {
		fmt.Fprintf(w, "\n### Every round: thousand echoes per second (datagrams lost), round 1, 2, ...\n\n")
		hdr = append([]string{"senders, size"}, r.names...)
		fmt.Fprintln(w, row(hdr...))
		fmt.Fprintln(w, sepRow(len(hdr)))
		for _, c := range r.cells {
			cols := []string{c.String()}
			for _, n := range r.names {
				var parts []string
				for _, res := range r.loads[key(c, n)] {
					if res == nil {
						parts = append(parts, "×")
					} else {
						parts = append(parts, fmt.Sprintf("%.1f (%d)", res.PerSec()/1e3, res.Lost))
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

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
