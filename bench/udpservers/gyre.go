package udpservers

import (
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
		var bound string
		stop, err := harness.StartGyre(r, backend, "ListenUDP", func() error {
			port, err := udp.ListenUDP(addr, &echoDatagrams{})
			if err == nil {
				bound = port.LocalAddr().String()
			}
			return err
		})
		return bound, stop, err
	}
}
