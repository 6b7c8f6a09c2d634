package reactor

import (
	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/backend/std"
)

func init() {
	register("std", 10, func(opts ...gyre.Option) (gyre.Reactor, error) { return std.New(opts...) })
}
