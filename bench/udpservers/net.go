package udpservers

import (
	"errors"
	"net"
)

// netServer is the baseline, the natural Go server: one goroutine that
// loops ReadFromUDP then WriteToUDP on one socket.
func netServer(addr string) (string, func(), error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return "", nil, err
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return "", nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			_, _ = c.WriteToUDP(buf[:n], from)
		}
	}()
	stop := func() {
		_ = c.Close()
		<-done
	}
	return c.LocalAddr().String(), stop, nil
}
