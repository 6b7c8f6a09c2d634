package deferred

import (
	"log/slog"
	"runtime"
	"sync/atomic"
)

var logger atomic.Pointer[slog.Logger]

// SetLogger sets the logger that reports unhandled failures: a Deferred
// that is garbage-collected while its result is a failure that no errback
// consumed and that was not read with [Deferred.Result] is logged at
// [slog.LevelError] with the message "unhandled error in Deferred" and the
// error in the attribute "err". A nil l restores the default,
// [slog.Default]. SetLogger is safe to call from any goroutine.
func SetLogger(l *slog.Logger) {
	logger.Store(l)
}

func currentLogger() *slog.Logger {
	if l := logger.Load(); l != nil {
		return l
	}
	return slog.Default()
}

// failState is the part of a Deferred that its cleanup needs. It must not
// point back to the Deferred, or the Deferred could never be collected.
type failState struct {
	err error // unhandled failure at the end of the chain, or nil
}

func reportUnhandled(fs *failState) {
	if fs.err != nil {
		currentLogger().Error("unhandled error in Deferred", "err", fs.err)
	}
}

// settle records whether d currently ends in an unhandled failure. The
// cleanup that reports it is registered the first time that happens, so
// Deferreds that never fail pay nothing for it.
func (d *Deferred) settle() {
	err, failed := d.result.(error)
	if !failed || d.handled || d.paused || d.running {
		if d.fs != nil {
			d.fs.err = nil
		}
		return
	}
	if d.fs == nil {
		d.fs = &failState{}
		runtime.AddCleanup(d, reportUnhandled, d.fs)
	}
	d.fs.err = err
}
