// Package harness holds the machinery the benchmark commands share:
// server and load generator children pinned to CPUs, rounds of
// measurements over cells with the servers taking turns, their medians,
// and the markdown tables that report them.
package harness

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Harness holds what the process machinery of a benchmark command needs.
type Harness struct {
	Prog      string // the command's name, which prefixes its messages
	Self      string // path of this binary, run again for the children
	Verbose   bool   // pass the children's stderr through
	ServerCPU int    // CPU the server processes are pinned to; -1 leaves them unpinned
	ClientCPU int    // CPU the load generator processes are pinned to; -1 leaves them unpinned
}

// Fatalf prints a message prefixed with the command's name and exits 1.
func (h *Harness) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, h.Prog+": "+format+"\n", args...)
	os.Exit(1)
}

// ErrUnavailable marks a server that cannot serve at all (a gyre backend
// without the facet measured, say): it is left out of the rest of the run.
type ErrUnavailable struct{ Reason string }

func (e ErrUnavailable) Error() string { return "unavailable: " + e.Reason }

// SplitList splits a comma-separated list, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// IntList parses a comma-separated list of positive numbers given to the
// flag name.
func IntList(name, s string) ([]int, error) {
	var out []int
	for _, f := range SplitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-%s: bad number %q", name, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// Defaults sets each flag named in values that was not given on the
// command line.
func Defaults(values map[string]string) error {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, v := range values {
		if !set[name] {
			if err := flag.Set(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Rotate returns names rotated left by round, so that the order of the
// servers changes from round to round.
func Rotate(names []string, round int) []string {
	order := slices.Clone(names)
	rot := round % len(order)
	return append(order[rot:], order[:rot]...)
}

// Run holds the load results of every cell and server.
type Run[C fmt.Stringer, R any] struct {
	Names       []string
	Cells       []C
	Unavailable map[string]string
	Loads       map[string][]*R   // key: cell|server; nil entries for failed rounds
	Failures    map[string]string // key: cell|server
}

// NewRun returns an empty Run of names over cells.
func NewRun[C fmt.Stringer, R any](names []string, cells []C) *Run[C, R] {
	return &Run[C, R]{
		Names: names, Cells: cells,
		Unavailable: map[string]string{},
		Loads:       map[string][]*R{},
		Failures:    map[string]string{},
	}
}

// Key is the key of one cell and server in Loads and Failures.
func Key(c fmt.Stringer, name string) string { return c.String() + "|" + name }

// Round measures cell c for every server of order still available, and
// prints one progress line on stderr: label padded to width, then each
// server's figure as given by show.
func (r *Run[C, R]) Round(label string, width int, c C, order []string, measure func(name string, c C) (*R, error), show func(*R) string, start time.Time) {
	fmt.Fprintf(os.Stderr, "%s %-*s", label, width, c.String()+":")
	for _, name := range order {
		if _, gone := r.Unavailable[name]; gone {
			continue
		}
		res, err := measure(name, c)
		var u ErrUnavailable
		switch {
		case errors.As(err, &u):
			r.Unavailable[name] = u.Reason
			fmt.Fprintf(os.Stderr, " %s=unavailable", name)
			continue
		case err != nil:
			r.Failures[Key(c, name)] = err.Error()
			fmt.Fprintf(os.Stderr, " %s=FAILED", name)
		default:
			fmt.Fprintf(os.Stderr, " %s=%s", name, show(res))
		}
		r.Loads[Key(c, name)] = append(r.Loads[Key(c, name)], res)
	}
	fmt.Fprintf(os.Stderr, " (%.0fs)\n", time.Since(start).Seconds())
}

// Figures returns f of every successful round of one cell and server.
func (r *Run[C, R]) Figures(c C, name string, f func(*R) float64) []float64 {
	var out []float64
	for _, res := range r.Loads[Key(c, name)] {
		if res != nil {
			out = append(out, f(res))
		}
	}
	return out
}

// Med returns the median of f over the successful rounds, and whether there
// was any.
func (r *Run[C, R]) Med(c C, name string, f func(*R) float64) (float64, bool) {
	xs := r.Figures(c, name, f)
	return Median(xs), len(xs) > 0
}

// PairedRatios returns, for every round in which a and each of bs have a
// figure for cell c, f(a) over the best (largest) f of bs in that round. The
// servers of one round run within seconds of each other, so a drift of the
// machine's speed over a run (often a fifth or more on a shared machine)
// touches every figure of a round alike; a ratio of two medians taken over
// the whole run does not cancel it.
func (r *Run[C, R]) PairedRatios(c C, a string, bs []string, f func(*R) float64) []float64 {
	as := r.Loads[Key(c, a)]
	var out []float64
rounds:
	for i, res := range as {
		if res == nil {
			continue
		}
		best := 0.0
		for _, b := range bs {
			loads := r.Loads[Key(c, b)]
			if i >= len(loads) || loads[i] == nil {
				continue rounds
			}
			best = max(best, f(loads[i]))
		}
		if best > 0 {
			out = append(out, f(res)/best)
		}
	}
	return out
}

// RatioPair is one column of ratios: Num's figure over the best of Dens'.
type RatioPair struct {
	Num  string
	Dens []string
}

// Header names the column: "a / b", or "a / best of b, c".
func (p RatioPair) Header() string {
	if len(p.Dens) == 1 {
		return p.Num + " / " + p.Dens[0]
	}
	return p.Num + " / best of " + strings.Join(p.Dens, ", ")
}

// MedianRatioText formats the ratio of the medians of p for cell c: Num's
// median over the best median of Dens.
func (r *Run[C, R]) MedianRatioText(c C, p RatioPair, f func(*R) float64) string {
	num, okNum := r.Med(c, p.Num, f)
	best, okBest := 0.0, false
	for _, d := range p.Dens {
		if v, ok := r.Med(c, d, f); ok && v > best {
			best, okBest = v, true
		}
	}
	return RatioText(num, okNum, best, okBest)
}

// WriteRoundRatios writes the table of ratios taken round by round, one
// column per pair (see PairedRatios), when there is more than one round.
func (r *Run[C, R]) WriteRoundRatios(w io.Writer, rounds int, firstCol string, pairs []RatioPair, f func(*R) float64) {
	if rounds < 2 || len(pairs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### Ratios round by round: median (lowest–highest, rounds at or above 1)\n\n")
	fmt.Fprintf(w, "Each round's ratio is taken between figures measured seconds apart (against the best of several peers in that round), so a drift of the machine's speed over the run cancels out; prefer these to the ratios of the medians above when the two differ.\n\n")
	hdr := []string{firstCol}
	for _, p := range pairs {
		hdr = append(hdr, p.Header())
	}
	fmt.Fprintln(w, Row(hdr...))
	fmt.Fprintln(w, SepRow(len(hdr), true))
	for _, c := range r.Cells {
		cols := []string{c.String()}
		for _, p := range pairs {
			cols = append(cols, PairedText(r.PairedRatios(c, p.Num, p.Dens, f)))
		}
		fmt.Fprintln(w, Row(cols...))
	}
}

// PairedText formats paired ratios: their median, their range, and in how
// many rounds the first server was at least as fast, or "–" if there are
// none.
func PairedText(xs []float64) string {
	if len(xs) == 0 {
		return "–"
	}
	atLeast := 0
	for _, x := range xs {
		if x >= 1 {
			atLeast++
		}
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f, ≥1 in %d/%d)", Median(xs), slices.Min(xs), slices.Max(xs), atLeast, len(xs))
}

// Has reports whether name is measured and available.
func (r *Run[C, R]) Has(name string) bool {
	_, gone := r.Unavailable[name]
	return slices.Contains(r.Names, name) && !gone
}

// WriteServers writes the section that describes the servers.
func (r *Run[C, R]) WriteServers(w io.Writer, about func(string) string) {
	fmt.Fprintf(w, "\n### Servers\n\n")
	for _, n := range r.Names {
		s := fmt.Sprintf("- %s: %s", n, about(n))
		if why, gone := r.Unavailable[n]; gone {
			s += ". **Unavailable**: " + why
		}
		fmt.Fprintln(w, s)
	}
}

// FailureNotes returns a note for every failed cell and server, and those
// more gives for each round's result.
func (r *Run[C, R]) FailureNotes(more func(c C, name string, round int, res *R) []string) []string {
	var notes []string
	for _, c := range r.Cells {
		for _, n := range r.Names {
			if msg, ok := r.Failures[Key(c, n)]; ok {
				notes = append(notes, fmt.Sprintf("%s, %s: failed: %s", c, n, OneLine(msg)))
			}
			for i, res := range r.Loads[Key(c, n)] {
				if res != nil {
					notes = append(notes, more(c, n, i+1, res)...)
				}
			}
		}
	}
	return notes
}

// WriteProblems writes the notes, if any, under a heading.
func WriteProblems(w io.Writer, notes []string) {
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n### Problems\n\n")
		for _, s := range notes {
			fmt.Fprintln(w, "- "+s)
		}
	}
}

// WriteRaw writes the table of every round's figure, as format gives it.
func (r *Run[C, R]) WriteRaw(w io.Writer, title, firstCol string, format func(*R) string) {
	fmt.Fprintf(w, "\n### %s\n\n", title)
	hdr := append([]string{firstCol}, r.Names...)
	fmt.Fprintln(w, Row(hdr...))
	fmt.Fprintln(w, SepRow(len(hdr), true))
	for _, c := range r.Cells {
		cols := []string{c.String()}
		for _, n := range r.Names {
			var parts []string
			for _, res := range r.Loads[Key(c, n)] {
				if res == nil {
					parts = append(parts, "×")
				} else {
					parts = append(parts, format(res))
				}
			}
			if len(parts) == 0 {
				parts = []string{"–"}
			}
			cols = append(cols, strings.Join(parts, ", "))
		}
		fmt.Fprintln(w, Row(cols...))
	}
}

// Median returns the median of xs, 0 if there is none.
func Median(xs []float64) float64 {
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

// RatioText formats num/den, or "–" if either is missing or den is 0.
func RatioText(num float64, okNum bool, den float64, okDen bool) string {
	if !okNum || !okDen || den == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", num/den)
}

// Row formats a markdown table row.
func Row(cols ...string) string { return "| " + strings.Join(cols, " | ") + " |" }

// SepRow formats the separator row of a markdown table of n columns, all
// right-aligned but the first if firstLeft.
func SepRow(n int, firstLeft bool) string {
	cols := make([]string, n)
	for i := range cols {
		cols[i] = "--:"
		if i == 0 && firstLeft {
			cols[i] = "---"
		}
	}
	return Row(cols...)
}

// OneLine squeezes s onto one line of at most 300 bytes.
func OneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// Flags are the flags every benchmark command has, with the same meaning.
type Flags struct {
	Rounds    *int
	ServerCPU *int
	ClientCPU *int
	Verbose   *bool
	Raw       *bool
	ChildLoad *bool   // internal: this process is a load child
	Addr      *string // internal: the server's address
}

// RegisterFlags defines the common flags on the command line.
func RegisterFlags() Flags {
	return Flags{
		Rounds:    flag.Int("rounds", 3, "rounds; each figure is the median over them"),
		ServerCPU: flag.Int("server-cpu", 0, "CPU the server processes are pinned to; -1 leaves them unpinned"),
		ClientCPU: flag.Int("client-cpu", 1, "CPU the load generator processes are pinned to; -1 leaves them unpinned"),
		Verbose:   flag.Bool("v", false, "pass the children's stderr through"),
		Raw:       flag.Bool("raw", true, "print every round's figure after the tables"),
		ChildLoad: flag.Bool("child-load", false, "internal: run one load against -addr and print it as JSON"),
		Addr:      flag.String("addr", "", "internal: the server's address"),
	}
}

// ServerList parses the comma-separated list of servers to measure, and
// exits if one of them is not known.
func (h *Harness) ServerList(s string, known func(string) bool, all []string) []string {
	names := SplitList(s)
	for _, n := range names {
		if !known(n) {
			h.Fatalf("unknown server %q (known: %s)", n, strings.Join(all, ", "))
		}
	}
	return names
}
