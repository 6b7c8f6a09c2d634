package udpservers

import (
	"errors"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
)

// nbioServer runs nbio's UDP support with one poller goroutine that reads.
// nbio keeps a Conn per remote address (a "session") and calls OnData on
// it; Write on that Conn is a sendto to its peer. UDPReadTimeout is left at
// zero, so sessions carry no read-deadline timer (which nbio would otherwise
// reset on every datagram).
func nbioServer(addr string) (string, func(), error) {
	logging.SetLevel(logging.LevelError)
	eng := nbio.NewEngine(nbio.Config{
		Network: "udp",
		Addrs:   []string{addr},
		NPoller: 1,
	})
	eng.OnData(func(c *nbio.Conn, data []byte) {
		_, _ = c.Write(data)
	})
	if err := eng.Start(); err != nil {
		return "", nil, err
	}
	if len(eng.Addrs) != 1 {
		eng.Stop()
		return "", nil, errors.New("nbio: no bound address")
	}
	return eng.Addrs[0], eng.Stop, nil
}
