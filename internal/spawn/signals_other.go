//go:build !unix

package spawn

// WithDefaultSignals calls start. Signal dispositions are not inherited
// through exec on this platform.
func WithDefaultSignals(start func() error) error { return start() }
