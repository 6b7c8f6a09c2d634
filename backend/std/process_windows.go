package std

import (
	"fmt"
	"runtime"

	"github.com/gyre-go/gyre"
)

// minChildFiles is the shortest descriptor list os.StartProcess takes here:
// standard input, output and error.
const minChildFiles = 3

// spawnSupported reports what opts ask for that this platform cannot do:
// a child has only descriptors 0, 1 and 2, as pipes or closed, and runs as
// the parent's user without a terminal.
func spawnSupported(opts *gyre.SpawnOptions) error {
	switch {
	case opts.PTY != nil:
		return errPTYNotSupported
	case opts.Credential != nil:
		return fmt.Errorf("%w: Credential on %s", gyre.ErrNotSupported, runtime.GOOS)
	}
	for fd, c := range opts.FDs {
		if fd > 2 {
			return fmt.Errorf("%w: child descriptor %d on %s (only 0, 1 and 2)", gyre.ErrNotSupported, fd, runtime.GOOS)
		}
		if _, ok := c.Inherited(); ok {
			return fmt.Errorf("%w: InheritFD on %s", gyre.ErrNotSupported, runtime.GOOS)
		}
	}
	return nil
}
