package deferred_test

import (
	"errors"
	"fmt"

	"github.com/gyre-go/gyre/deferred"
)

func ExampleDeferred() {
	d := deferred.New(nil)
	d.AddCallback(func(v any) any {
		fmt.Println("got", v)
		return v.(int) * 2
	}).AddCallback(func(v any) any {
		return fmt.Errorf("%d is too big", v)
	}).AddErrback(func(err error) any {
		fmt.Println("handled:", err)
		return 0
	})

	d.Callback(21) // runs the whole chain now

	v, err, ok := d.Result()
	fmt.Println(v, err, ok)
	// Output:
	// got 21
	// handled: 42 is too big
	// 0 <nil> true
}

func ExampleDeferred_pause() {
	lookup := deferred.New(nil)
	d := deferred.Succeed("example.org").AddCallback(func(v any) any {
		fmt.Println("resolving", v)
		return lookup // the chain waits for lookup
	}).AddCallback(func(v any) any {
		fmt.Println("address", v)
		return nil
	})

	fmt.Println("paused:", d.Paused())
	lookup.Callback("192.0.2.1")
	fmt.Println("paused:", d.Paused())
	// Output:
	// resolving example.org
	// paused: true
	// address 192.0.2.1
	// paused: false
}

func ExampleGather() {
	a, b := deferred.New(nil), deferred.New(nil)
	deferred.Gather(a, deferred.Succeed("ready"), b).AddCallback(func(v any) any {
		fmt.Println("all done:", v)
		return nil
	})
	b.Callback(2)
	a.Callback(1)

	c := deferred.New(nil)
	deferred.Gather(deferred.Succeed(1), c).AddErrback(func(err error) any {
		var ge *deferred.GatherError
		errors.As(err, &ge)
		fmt.Println("input", ge.Index, "failed:", ge.Err)
		return nil
	})
	c.Errback(errors.New("connection refused"))
	// Output:
	// all done: [1 ready 2]
	// input 1 failed: connection refused
}
