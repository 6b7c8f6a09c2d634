package reactor_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/backend/std"
	"github.com/gyre-go/gyre/reactor"
)

func TestDefaultBackend(t *testing.T) {
	want := "std"
	switch runtime.GOOS {
	case "linux":
		want = "epoll"
	case "windows", "js", "wasip1", "plan9":
	default:
		want = "poll"
	}
	if got := reactor.Default(); got != want {
		t.Errorf("Default() = %q, want %q", got, want)
	}
	if got := reactor.Backends()[0]; got != want {
		t.Errorf("Backends()[0] = %q, want %q", got, want)
	}
}

func TestEnvSelectsBackend(t *testing.T) {
	t.Setenv(reactor.EnvBackend, "std")
	r, err := reactor.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.(*std.Reactor); !ok {
		t.Errorf("GYRE_BACKEND=std gave %T", r)
	}
	releaseReactor(t, r)
}

func TestUnknownBackend(t *testing.T) {
	t.Setenv(reactor.EnvBackend, "kqueue-on-linux")
	r, err := reactor.New()
	if r != nil || !errors.Is(err, reactor.ErrUnknownBackend) {
		t.Fatalf("New() = %v, %v; want ErrUnknownBackend", r, err)
	}
	if !strings.Contains(err.Error(), `"kqueue-on-linux"`) || !strings.Contains(err.Error(), "std") {
		t.Errorf("error %q should name the bad backend and the available ones", err)
	}
}

func releaseReactor(t *testing.T, r gyre.Reactor) {
	t.Helper()
	if err := r.FireSystemEvent(gyre.Shutdown); err != nil {
		t.Fatal(err)
	}
}

func ExampleNew() {
	r, err := reactor.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	r.CallWhenRunning(func() { fmt.Println("running") })
	r.CallLater(10*time.Millisecond, func() {
		fmt.Println("timer fired")
		r.Stop()
	})
	fmt.Println("Run returned", r.Run())
	fmt.Println("again:", r.Run())
	// Output:
	// running
	// timer fired
	// Run returned <nil>
	// again: gyre: reactor has stopped and cannot be restarted
}
