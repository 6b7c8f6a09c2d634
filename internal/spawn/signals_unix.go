//go:build unix

package spawn

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// maxSignal bounds the signal numbers looked at: the real-time signals end
// at 64 on Linux, and the classic ones at 31 or 32 elsewhere.
const maxSignal = 65

// mu serialises the forks that have to re-route ignored signals, so that one
// does not ignore again a signal another is still forking with.
var mu sync.Mutex

// WithDefaultSignals calls start, which forks and executes a child, so that
// the signals this program ignores are at their default disposition in the
// child; this program's own dispositions are the same afterwards. When no
// signal is ignored (the usual case) it simply calls start.
//
// A signal that arrives during the fork while it is re-routed is dropped, as
// it would have been ignored anyway. Code that calls signal.Notify for a
// signal that was ignored, at the very moment of a fork, may see that signal
// ignored again afterwards.
func WithDefaultSignals(start func() error) error {
	var buf [maxSignal]os.Signal
	ignored := buf[:0]
	for s := 1; s < maxSignal; s++ {
		if signal.Ignored(syscall.Signal(s)) {
			ignored = append(ignored, syscall.Signal(s))
		}
	}
	if len(ignored) == 0 {
		return start()
	}
	mu.Lock()
	defer mu.Unlock()
	// Re-check under the lock: another fork may have been re-routing.
	ignored = ignored[:0]
	for s := 1; s < maxSignal; s++ {
		if signal.Ignored(syscall.Signal(s)) {
			ignored = append(ignored, syscall.Signal(s))
		}
	}
	if len(ignored) == 0 {
		return start()
	}
	// While the runtime handles a signal, the child's side of the fork
	// resets it to the default before exec; what arrives meanwhile lands
	// in sink and is dropped.
	sink := make(chan os.Signal, 1)
	signal.Notify(sink, ignored...)
	defer signal.Ignore(ignored...)
	return start()
}
