package loop_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/backend/std"
)

// TestDebugCatchesOffLoopCalls: with the debug mode on, a loop-only method
// called from another goroutine while the loop runs panics with a message
// that names the method and the way out.
func TestDebugCatchesOffLoopCalls(t *testing.T) {
	r, err := std.New(gyre.WithDebug())
	if err != nil {
		t.Fatal(err)
	}
	caught := make(chan string, 1)
	r.CallWhenRunning(func() {
		// On the loop: allowed.
		if _, err := r.CallLater(time.Hour, func() {}); err != nil {
			t.Error(err)
		}
		go func() {
			defer func() {
				msg, _ := recover().(string)
				caught <- msg
				r.CallFromThread(func() { r.Stop() })
			}()
			r.CallLater(0, func() {})
		}()
	})
	if err := r.Run(); err != nil {
		t.Fatal(err)
	}
	for _, dc := range r.DelayedCalls() {
		dc.Cancel()
	}
	msg := <-caught
	for _, want := range []string{"CallLater called on goroutine", "CallFromThread"} {
		if !strings.Contains(msg, want) {
			t.Errorf("panic message %q does not say %q", msg, want)
		}
	}
}
