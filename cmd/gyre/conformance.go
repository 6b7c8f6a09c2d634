package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/interleave"
	"github.com/gyre-go/gyre/reactor"
	"github.com/gyre-go/gyre/reactortest"
)

func init() {
	commands = append(commands, command{
		name:    "conformance",
		summary: "run the conformance suite against every backend and print the matrix",
		run:     conformance,
	})
}

// interleaved ends the name of a column whose backend is driven through
// package interleave by a minimal foreign loop (interleave.Hosted).
const interleaved = "+interleave"

// newConformanceReactor builds a reactor of the named column: a backend, or
// a backend name ending in interleaved.
func newConformanceReactor(name string, opts ...gyre.Option) (gyre.Core, error) {
	base, hosted := strings.CutSuffix(name, interleaved)
	r, err := reactor.NewBackend(base, opts...)
	if err != nil || !hosted {
		return r, err
	}
	return r, interleave.Hosted(r)
}

func conformance(args []string) int {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	backend := fs.String("backend", "", "run only this backend (default: all of "+strings.Join(reactor.Backends(), ", ")+")")
	asJSON := fs.Bool("json", false, "print one JSON array of results instead of the matrix")
	run := fs.String("run", "", "run only cases whose id matches this regular expression")
	noInterleave := fs.Bool("no-interleave", false, "leave out the BACKEND"+interleaved+" columns (each backend driven through package interleave)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	names := reactor.Backends()
	if *backend != "" {
		base := strings.TrimSuffix(*backend, interleaved)
		if _, err := reactor.Lookup(base); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		names = []string{*backend}
	} else if !*noInterleave {
		for _, n := range reactor.Backends() {
			names = append(names, n+interleaved)
		}
	}
	var match func(reactortest.Case) bool
	if *run != "" {
		re, err := regexp.Compile(*run)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gyre: bad -run pattern: %v\n", err)
			return 2
		}
		match = func(k reactortest.Case) bool { return re.MatchString(k.ID) }
	}
	var all []reactortest.Result
	for _, name := range names {
		if !*asJSON {
			fmt.Fprintf(os.Stderr, "running the suite against %s...\n", name)
		}
		all = append(all, reactortest.RunAll(reactortest.Builder{
			Name: name,
			New:  func(opts ...gyre.Option) (gyre.Core, error) { return newConformanceReactor(name, opts...) },
		}, match)...)
	}
	if len(all) == 0 {
		fmt.Fprintln(os.Stderr, "gyre: no case ran")
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	} else {
		printMatrix(os.Stdout, names, all)
	}
	for _, r := range all {
		if r.Status == "fail" {
			return 1
		}
	}
	return 0
}

func printMatrix(w io.Writer, backends []string, rs []reactortest.Result) {
	byBackend := make(map[string][]reactortest.Result)
	for _, r := range rs {
		byBackend[r.Backend] = append(byBackend[r.Backend], r)
	}
	sums := make(map[string]map[reactortest.Facet]*reactortest.Summary)
	for _, b := range backends {
		sums[b] = reactortest.Summarize(byBackend[b])
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintf(tw, "facet\t%s\t\n", strings.Join(backends, "\t"))
	total := make(map[string]*reactortest.Summary)
	for _, f := range reactortest.Facets {
		row := []string{string(f)}
		any := false
		for _, b := range backends {
			s := sums[b][f]
			if s == nil {
				row = append(row, "-")
				continue
			}
			any = true
			row = append(row, s.String())
			t := total[b]
			if t == nil {
				t = &reactortest.Summary{}
				total[b] = t
			}
			t.Passed += s.Passed
			t.Failed += s.Failed
			t.Skipped += s.Skipped
			t.Total += s.Total
		}
		if any {
			fmt.Fprintf(tw, "%s\t\n", strings.Join(row, "\t"))
		}
	}
	row := []string{"total"}
	for _, b := range backends {
		if t := total[b]; t != nil {
			row = append(row, t.String())
		} else {
			row = append(row, "-")
		}
	}
	fmt.Fprintf(tw, "%s\t\n", strings.Join(row, "\t"))
	tw.Flush()

	var skips, fails []string
	for _, r := range rs {
		switch r.Status {
		case "skip":
			skips = append(skips, fmt.Sprintf("  %s on %s: %s", r.Case, r.Backend, r.Reason))
		case "fail":
			fails = append(fails, fmt.Sprintf("  %s on %s: %s", r.Case, r.Backend, r.Reason))
		}
	}
	if len(skips) > 0 {
		fmt.Fprintf(w, "\nskipped:\n%s\n", strings.Join(skips, "\n"))
	}
	if len(fails) > 0 {
		fmt.Fprintf(w, "\nFAILED:\n%s\n", strings.Join(fails, "\n"))
	} else {
		fmt.Fprintln(w, "\nevery case passed on every backend.")
	}
}
