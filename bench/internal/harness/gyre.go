package harness

import (
	"errors"
	"fmt"

	"github.com/gyre-go/gyre"
)

// StartGyre runs the reactor r on a goroutine of its own and calls listen on
// its loop, where every reactor method is called. It returns once listen has
// returned: with a stop function that stops r and waits until Run has
// returned, or with listen's error (labelled "gyre NAME: OP") after r has
// stopped.
func StartGyre(r gyre.Reactor, name, op string, listen func() error) (stop func(), err error) {
	listened := make(chan error, 1)
	done := make(chan error, 1)
	if _, err := r.CallWhenRunning(func() {
		err := listen()
		listened <- err
		if err != nil {
			_ = r.Stop()
		}
	}); err != nil {
		return nil, err
	}
	go func() { done <- r.Run() }()

	select {
	case err := <-listened:
		if err != nil {
			<-done
			return nil, fmt.Errorf("gyre %s: %s: %w", name, op, err)
		}
	case err := <-done:
		if err == nil {
			err = errors.New("reactor returned before listening")
		}
		return nil, fmt.Errorf("gyre %s: %w", name, err)
	}
	return func() {
		if r.CallFromThread(func() { _ = r.Stop() }) == nil {
			<-done
		}
	}, nil
}
