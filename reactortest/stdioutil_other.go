//go:build !unix

package reactortest

import "os"

// Stand-ins for stdioutil_unix.go: the checks that need them are skipped.

func stdioNonblock(*os.File) (nonblock bool, ok bool) { return false, false }

func stdioBlockingPipe() (r, w *os.File, err error) { return os.Pipe() }

// stdioEPIPE is nil: the case does not look for the system's error.
var stdioEPIPE error
