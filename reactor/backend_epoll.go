//go:build linux

package reactor

import (
	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/backend/epoll"
)

func init() {
	register("epoll", 0, func(opts ...gyre.Option) (gyre.Reactor, error) { return epoll.New(opts...) })
}
