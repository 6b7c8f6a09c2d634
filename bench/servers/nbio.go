package servers

import (
	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
)

// nbioServer runs nbio with one poller goroutine that also reads (its
// default level-triggered mode). nbio accepts on a goroutine of its own with
// Go's net.Listen and moves each connection onto the poller.
func nbioServer(addr string) (func(), error) {
	logging.SetLevel(logging.LevelError)
	eng := nbio.NewEngine(nbio.Config{
		Network: "tcp",
		Addrs:   []string{addr},
		NPoller: 1,
	})
	eng.OnData(func(c *nbio.Conn, data []byte) {
		if _, err := c.Write(data); err != nil {
			_ = c.Close()
		}
	})
	if err := eng.Start(); err != nil {
		return nil, err
	}
	return eng.Stop, nil
}
