//go:build !unix

package reactortest

import (
	"runtime"
	"time"
)

// requireCPUTime skips the case: the process's CPU time is only read on Unix.
func requireCPUTime(c *C) {
	c.Helper()
	c.Skipf("CPU time is not measured on this OS (%s)", runtime.GOOS)
}

// cpuTime is never reached: requireCPUTime skips first.
func cpuTime() time.Duration { return 0 }
