package harness

import (
	"os"
	"time"

	"github.com/gyre-go/gyre"
)

// SpinOption passes GYRE_SPIN_WAIT (a duration, "-1ns" for none) to a gyre
// reactor, to compare spin times; unset, the reactor's default applies.
func SpinOption() []gyre.Option {
	d, err := time.ParseDuration(os.Getenv("GYRE_SPIN_WAIT"))
	if err != nil {
		return nil
	}
	return []gyre.Option{gyre.WithSpinWait(d)}
}
