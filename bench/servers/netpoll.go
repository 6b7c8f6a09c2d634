package servers

import (
	"context"
	"io"
	"time"

	"github.com/cloudwego/netpoll"
)

// netpollServer runs cloudwego/netpoll with its defaults (GOMAXPROCS/20+1
// pollers, so one here; OnRequest on its goroutine pool).
func netpollServer(addr string) (func(), error) {
	netpoll.SetLoggerOutput(io.Discard)
	ln, err := netpoll.CreateListener("tcp", addr)
	if err != nil {
		return nil, err
	}
	loop, err := netpoll.NewEventLoop(func(_ context.Context, c netpoll.Connection) error {
		r, w := c.Reader(), c.Writer()
		n := r.Len()
		if n == 0 {
			return nil
		}
		buf, err := r.Next(n)
		if err != nil {
			return err
		}
		if _, err := w.WriteBinary(buf); err != nil {
			return err
		}
		err = w.Flush() // sends before returning, so buf may be released after
		_ = r.Release()
		return err
	})
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- loop.Serve(ln) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = loop.Shutdown(ctx)
		<-done
	}, nil
}
