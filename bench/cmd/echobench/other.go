//go:build !linux

// Command echobench runs on Linux only: it pins processes with
// sched_setaffinity and reads their memory from /proc.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "echobench: Linux only")
	os.Exit(2)
}
