// Command gyre runs gyre's conformance report and its demo programs.
//
// Usage:
//
//	gyre conformance [-backend NAME] [-json] [-run REGEXP]
//
// conformance runs the reactor conformance suite in this process against
// every backend available on this platform (or the one named) and prints a
// matrix: one row per facet, one column per backend, each cell "passed/total"
// with skipped cases named below. The exit status is 1 if any case failed.
//
//	gyre exec [-backend NAME] [-c 'CMD ARGS'...] [-- CMD ARGS...]
//
// exec runs several commands at once and prints their output line by line,
// each line prefixed with the command ("[1 ls] ..."), then their exit
// statuses; gyre exec -h says more. The other commands are demo servers.
package main

import (
	"fmt"
	"os"
)

type command struct {
	name    string
	summary string
	run     func(args []string) int
}

var commands []command

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	for _, c := range commands {
		if c.name == os.Args[1] {
			os.Exit(c.run(os.Args[2:]))
		}
	}
	fmt.Fprintf(os.Stderr, "gyre: unknown command %q\n", os.Args[1])
	usage()
	os.Exit(2)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gyre COMMAND [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", c.name, c.summary)
	}
}
