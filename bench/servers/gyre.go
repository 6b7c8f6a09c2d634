package servers

import (
	"fmt"
	"net"
	"slices"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/bench/internal/harness"
	"github.com/gyre-go/gyre/reactor"
)

// echoProtocol writes back whatever it receives.
type echoProtocol struct {
	t gyre.Transport
}

func (p *echoProtocol) ConnectionMade(t gyre.Transport) {
	p.t = t
	if tt, ok := t.(gyre.TCPTransport); ok {
		_ = tt.SetNoDelay(true) // the peers all run with TCP_NODELAY on
	}
}

func (p *echoProtocol) DataReceived(data []byte) { _ = p.t.Write(data) }

func (p *echoProtocol) ConnectionLost(error) { p.t = nil }

// gyreServer serves on a reactor of the named backend, through gyre's public
// API only. It fails when the backend does not exist or has no TCP facet yet.
func gyreServer(backend string, opts ...gyre.Option) ServeFunc {
	return func(addr string) (func(), error) {
		r, err := reactor.NewBackend(backend, slices.Concat(opts, harness.SpinOption())...)
		if err != nil {
			return nil, err
		}
		tcp, ok := r.(gyre.TCP)
		if !ok {
			return nil, fmt.Errorf("gyre backend %q has no TCP facet (%T does not implement gyre.TCP)", backend, r)
		}
		factory := gyre.FactoryFunc(func(net.Addr) gyre.Protocol { return &echoProtocol{} })

		return harness.StartGyre(r, backend, "ListenTCP", func() error {
			_, err := tcp.ListenTCP(addr, factory)
			return err
		})
	}
}
