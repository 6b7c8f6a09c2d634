//go:build unix

package loop_test

import (
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/backend/std"
)

// TestSignalsSeveralReactors: each of two reactors running in one process
// gets its own copy of a signal: a handler on each hears SIGUSR1, and one
// SIGTERM stops both.
func TestSignalsSeveralReactors(t *testing.T) {
	safety := make(chan os.Signal, 8)
	signal.Notify(safety, syscall.SIGTERM, syscall.SIGUSR1)
	defer signal.Stop(safety)

	const n = 2
	var ready, heard sync.WaitGroup
	ready.Add(n)
	heard.Add(n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		r, err := std.New()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.HandleSignal(func(os.Signal) { heard.Done() }, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		r.CallWhenRunning(ready.Done)
		go func() { errs <- r.Run() }()
	}
	ready.Wait()
	raise(t, safety, syscall.SIGUSR1)
	heard.Wait()
	raise(t, safety, syscall.SIGTERM)
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("SIGTERM did not stop both reactors")
		}
	}
}

// TestSignalsForwarderEnds: the goroutine that forwards signals exists only
// while a handler is installed.
func TestSignalsForwarderEnds(t *testing.T) {
	r, err := std.New(gyre.WithoutSignalHandlers())
	if err != nil {
		t.Fatal(err)
	}
	defer r.FireSystemEvent(gyre.Shutdown)
	if forwarders() != 0 {
		t.Fatal("a forwarder runs before any handler is installed")
	}
	cancel1, err := r.HandleSignal(func(os.Signal) {}, syscall.SIGUSR1)
	if err != nil {
		t.Fatal(err)
	}
	cancel2, err := r.HandleSignal(func(os.Signal) {}, syscall.SIGUSR2)
	if err != nil {
		t.Fatal(err)
	}
	if got := forwarders(); got != 1 {
		t.Fatalf("%d forwarders with two handlers installed, want 1", got)
	}
	cancel1() // the set shrinks: a new channel and forwarder replace the old
	waitForwarders(t, 1)
	cancel2()
	waitForwarders(t, 0)
}

func raise(t *testing.T, safety <-chan os.Signal, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), sig); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case got := <-safety:
			if got == sig {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%v never arrived", sig)
		}
	}
}

func forwarders() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "(*Loop).forwardSignals")
}

func waitForwarders(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for forwarders() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d forwarders, want %d", forwarders(), want)
		}
		time.Sleep(time.Millisecond)
	}
}
