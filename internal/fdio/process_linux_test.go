package fdio_test

import (
	"strings"
	"testing"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/backend/epoll"
	"github.com/gyre-go/gyre/backend/poll"
	"github.com/gyre-go/gyre/internal/fdio"
	"github.com/gyre-go/gyre/reactortest"
)

// TestProcessesWithoutPidfds runs the process cases on Linux as they run on
// the Unix systems that have no pidfds: children reaped on SIGCHLD with
// wait4 on each one's pid.
func TestProcessesWithoutPidfds(t *testing.T) {
	defer fdio.WithoutPidfds()()
	builders := []reactortest.Builder{
		{Name: "epoll-sigchld", New: func(opts ...gyre.Option) (gyre.Core, error) { return epoll.New(opts...) }},
		{Name: "poll-sigchld", New: func(opts ...gyre.Option) (gyre.Core, error) { return poll.New(opts...) }},
	}
	for _, b := range builders {
		t.Run(b.Name, func(t *testing.T) {
			for _, k := range reactortest.Cases() {
				if k.Facet != reactortest.FacetProcess || !strings.HasPrefix(k.ID, "process.") {
					continue
				}
				t.Run(k.ID, func(t *testing.T) { reactortest.RunCase(t, b, k) })
			}
		})
	}
}
