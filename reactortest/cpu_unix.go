//go:build unix

package reactortest

import (
	"syscall"
	"time"
)

// requireCPUTime skips the case if the process's CPU time cannot be read.
func requireCPUTime(c *C) {
	c.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		c.Skipf("CPU time is not measured here: getrusage: %v", err)
	}
}

// cpuTime returns the CPU time (user and system, all threads) the process
// has used so far. Call requireCPUTime first.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
