//go:build !unix && !windows

package std

import (
	"fmt"
	"runtime"

	"github.com/gyre-go/gyre"
)

const minChildFiles = 0

// spawnSupported returns gyre.ErrNotSupported: child processes cannot be
// started on this platform.
func spawnSupported(*gyre.SpawnOptions) error {
	return fmt.Errorf("%w: child processes on %s", gyre.ErrNotSupported, runtime.GOOS)
}
