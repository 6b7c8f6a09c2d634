package udpservers

import (
	"errors"
	"fmt"
	"net"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/bench/internal/harness"
	"github.com/gyre-go/gyre/reactor"
)

// echoDatagrams sends every datagram back to its sender.
type echoDatagrams struct {
	port gyre.DatagramPort
}

func (p *echoDatagrams) StartProtocol(port gyre.DatagramPort) { p.port = port }

func (p *echoDatagrams) DatagramReceived(data []byte, addr net.Addr) {
	_ = p.port.Write(data, addr)
}

func (p *echoDatagrams) StopProtocol() {}

// gyreServer serves on a reactor of the named backend through gyre's public
// API only. It fails when the backend does not exist or has no UDP facet.
func gyreServer(backend string) ServeFunc {
	return func(addr string) (string, func(), error) {
		r, err := reactor.NewBackend(backend, harness.SpinOption()...)
		if err != nil {
			return "", nil, err
		}
		udp, ok := r.(gyre.UDP)
		if !ok {
			return "", nil, fmt.Errorf("gyre backend %q has no UDP facet (%T does not implement gyre.UDP)", backend, r)
		}
		type listenResult struct {
			addr string
			err  error
		}
		listened := make(chan listenResult, 1)
		done := make(chan error, 1)
		if _, err := r.CallWhenRunning(func() {
			// On the loop, where every reactor method is called.
			port, err := udp.ListenUDP(addr, &echoDatagrams{})
			if err != nil {
				listened <- listenResult{err: err}
				_ = r.Stop()
				return
			}
			listened <- listenResult{addr: port.LocalAddr().String()}
		}); err != nil {
			return "", nil, err
		}
		go func() { done <- r.Run() }()

		select {
		case l := <-listened:
			if l.err != nil {
				<-done
				return "", nil, fmt.Errorf("gyre %s: ListenUDP: %w", backend, l.err)
			}
			stop := func() {
				if r.CallFromThread(func() { _ = r.Stop() }) == nil {
					<-done
				}
			}
			return l.addr, stop, nil
		case err := <-done:
			if err == nil {
				err = errors.New("reactor returned before listening")
			}
			return "", nil, fmt.Errorf("gyre %s: %w", backend, err)
		}
	}
}
