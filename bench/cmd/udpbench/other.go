//go:build !linux

// Command udpbench runs on Linux only: it pins processes with
// sched_setaffinity.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "udpbench: Linux only")
	os.Exit(2)
}
