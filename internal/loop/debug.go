package loop

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
)

// The debug mode: a reactor's methods, other than those documented as safe
// from any goroutine, belong to the loop goroutine while the loop runs.
// Calling one from elsewhere is a data race that -race may or may not catch;
// with Options.Debug (or GYRE_DEBUG=1) the loop records its goroutine when it
// starts and every such method checks the caller against it.

func debugFromEnv() bool { return os.Getenv("GYRE_DEBUG") == "1" }

// goid returns the current goroutine's id, read from its stack header
// ("goroutine 7 [running]:"). Slow; used only in debug mode.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}

// onLoop panics, in debug mode, when a loop-only method is called from
// another goroutine while the loop runs.
func (l *Loop) onLoop(method string) {
	if !l.debug || !l.inLoop {
		return
	}
	if g := goid(); g != l.loopG {
		panic(fmt.Sprintf("gyre: %s called on goroutine %d while the reactor runs on goroutine %d; "+
			"only CallFromThread and CallInThread may be called from other goroutines (use CallFromThread to get onto the loop)",
			method, g, l.loopG))
	}
}

// enter records the loop goroutine, in debug mode.
func (l *Loop) enter() {
	if l.debug {
		l.loopG = goid()
	}
}
