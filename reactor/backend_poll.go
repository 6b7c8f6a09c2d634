//go:build unix

package reactor

import (
	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/backend/poll"
)

func init() {
	// Ranked after epoll (0) and before std (10): the default on the Unix
	// systems other than Linux.
	register("poll", 5, func(opts ...gyre.Option) (gyre.Reactor, error) { return poll.New(opts...) })
}
