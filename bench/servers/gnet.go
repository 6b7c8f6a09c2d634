package servers

import (
	"context"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
)

type gnetEcho struct {
	gnet.BuiltinEventEngine
	booted chan gnet.Engine
}

func (h *gnetEcho) OnBoot(eng gnet.Engine) gnet.Action {
	h.booted <- eng
	return gnet.None
}

func (h *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	if _, err := c.Write(buf); err != nil {
		return gnet.Close
	}
	return gnet.None
}

// gnetServer runs gnet with one event loop (multicore false) or one per CPU.
// Without SO_REUSEPORT gnet accepts on a goroutine of its own and hands the
// connections to the loop(s).
func gnetServer(multicore bool) ServeFunc {
	return func(addr string) (func(), error) {
		h := &gnetEcho{booted: make(chan gnet.Engine, 1)}
		done := make(chan error, 1)
		go func() {
			done <- gnet.Run(h, "tcp://"+addr,
				gnet.WithMulticore(multicore),
				gnet.WithTCPNoDelay(gnet.TCPNoDelay),
				gnet.WithLogLevel(logging.ErrorLevel))
		}()
		select {
		case eng := <-h.booted:
			return func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = eng.Stop(ctx)
				<-done
			}, nil
		case err := <-done:
			return nil, err
		}
	}
}
