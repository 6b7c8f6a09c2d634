package gyre

import (
	"log/slog"
	"time"
)

// Options are the settings every backend accepts. Build them with the With
// functions and pass them to a backend's New (or reactor.New).
type Options struct {
	// Logger receives recovered panics, failed triggers and I/O errors
	// that have no caller to return to. Nil means slog.Default().
	Logger *slog.Logger
	// PoolSize is the initial worker pool size; 0 means 10.
	PoolSize int
	// Debug makes the reactor check, while it runs, that the methods which
	// must be called on the loop goroutine (CallLater, Stop, Crash, the
	// system event methods, DeferToThread) are, and panic with a message
	// naming the method otherwise. Each check reads the calling goroutine's
	// stack header, a few microseconds: a development aid, not for
	// production. Setting the environment variable GYRE_DEBUG=1 turns it on
	// too.
	Debug bool
	// NoSignalHandlers stops Run from installing its default handlers,
	// which call Stop when SIGINT or SIGTERM arrives (on the backends that
	// provide the Signals facet). A second such signal during shutdown
	// changes nothing.
	NoSignalHandlers bool
	// SpinWait is how long the loop keeps polling, without sleeping, after
	// a pass that found I/O ready, before it blocks in the kernel. Going to
	// sleep and being woken by the next packet costs several microseconds
	// and dominates a lightly loaded request-reply server (the Go runtime
	// spins likewise before its netpoller sleeps). An idle reactor does not
	// spin. Zero means DefaultSpinWait; a negative value turns spinning off.
	// The std backend ignores it: the Go runtime spins on its behalf.
	SpinWait time.Duration
}

// DefaultSpinWait is the SpinWait of a reactor that does not set one.
const DefaultSpinWait = 50 * time.Microsecond

// Spin returns the spin time o asks for: SpinWait, DefaultSpinWait for
// zero, and zero for a negative value.
func (o Options) Spin() time.Duration {
	switch {
	case o.SpinWait < 0:
		return 0
	case o.SpinWait == 0:
		return DefaultSpinWait
	}
	return o.SpinWait
}

// Option sets one of the Options.
type Option func(*Options)

// WithLogger sends the reactor's log records to l.
func WithLogger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// WithDebug turns on the checks described at Options.Debug.
func WithDebug() Option { return func(o *Options) { o.Debug = true } }

// WithoutSignalHandlers sets NoSignalHandlers: Run leaves SIGINT and
// SIGTERM alone.
func WithoutSignalHandlers() Option { return func(o *Options) { o.NoSignalHandlers = true } }

// WithSpinWait sets SpinWait: how long the loop polls before it sleeps
// after I/O (negative: never).
func WithSpinWait(d time.Duration) Option { return func(o *Options) { o.SpinWait = d } }

// WithPoolSize sets the initial size of the worker pool.
func WithPoolSize(n int) Option { return func(o *Options) { o.PoolSize = n } }

// Apply returns the Options that opts set.
func Apply(opts ...Option) Options {
	var o Options
	for _, f := range opts {
		f(&o)
	}
	return o
}
