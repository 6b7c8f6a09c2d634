// Command hello is the README's first program: a timer, a job on the worker
// pool whose result comes back to the loop as a Deferred, and a shutdown
// trigger.
package main

import (
	"fmt"
	"log"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
	"github.com/gyre-go/gyre/reactor"
)

func main() {
	r, err := reactor.New() // epoll on Linux, std elsewhere; GYRE_BACKEND overrides
	if err != nil {
		log.Fatal(err)
	}
	r.CallWhenRunning(func() { fmt.Println("running") })
	r.CallLater(100*time.Millisecond, func() {
		// Blocking work goes to the worker pool; the result comes back
		// to the loop as a Deferred.
		r.DeferToThread(func() (any, error) { return 6 * 7, nil }).
			AddCallback(func(v any) any {
				fmt.Println("answer:", v)
				r.Stop()
				return nil
			})
	})
	r.AddSystemEventTrigger(gyre.Before, gyre.Shutdown, func() *deferred.Deferred {
		fmt.Println("shutting down")
		return nil
	})
	if err := r.Run(); err != nil {
		log.Fatal(err)
	}
}
