//go:build !unix

package loop

import "os"

// uncatchable reports whether no program can catch sig.
func uncatchable(sig os.Signal) bool { return sig == os.Kill }
