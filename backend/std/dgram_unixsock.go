package std

import (
	"context"
	"net"
	"os"

	"github.com/gyre-go/gyre"
)

// ListenUnixDatagram implements gyre.UnixDatagram. The socket file is
// removed when the port stops; a stale one (a socket file nothing is bound
// to) is replaced.
func (r *Reactor) ListenUnixDatagram(path string, p gyre.DatagramProtocol, opts ...gyre.ListenOption) (gyre.DatagramPort, error) {
	if p == nil {
		return nil, gyre.ErrNilFunc
	}
	if r.down {
		return nil, gyre.ErrStopped
	}
	abstract, err := checkUnixPath(path)
	if err != nil {
		return nil, err
	}
	cfg := gyre.ApplyListen(opts...)
	lc := net.ListenConfig{}
	pc, err := replacingStale("unixgram", path, abstract, func() (net.PacketConn, error) {
		return lc.ListenPacket(context.Background(), "unixgram", path)
	})
	if err != nil {
		return nil, listenError(err)
	}
	if !abstract && cfg.Mode != 0 {
		if err := os.Chmod(path, cfg.Mode); err != nil {
			_ = pc.Close()
			_ = os.Remove(path)
			return nil, listenError(err)
		}
	}
	dp := r.newDgramPort(pc, p, famUnix)
	if !abstract {
		dp.path = path
	}
	dp.start()
	return dp, nil
}

// ConnectUnixDatagram implements gyre.UnixDatagram. On Linux the socket is
// bound to an automatic abstract address, so that the peer can answer.
func (r *Reactor) ConnectUnixDatagram(path string, p gyre.DatagramProtocol, opts ...gyre.ListenOption) (gyre.DatagramPort, error) {
	if p == nil {
		return nil, gyre.ErrNilFunc
	}
	if r.down {
		return nil, gyre.ErrStopped
	}
	if _, err := checkUnixPath(path); err != nil {
		return nil, err
	}
	d := net.Dialer{Control: autobindControl()}
	c, err := d.DialContext(context.Background(), "unixgram", path)
	if err != nil {
		if isRefused(err) {
			return nil, wrap(gyre.ErrConnectionRefused, err)
		}
		return nil, wrap(gyre.ErrConnectionLost, err)
	}
	uc := c.(*net.UnixConn)
	dp := r.newDgramPort(uc, p, famUnix)
	dp.raddr = &net.UnixAddr{Name: path, Net: "unixgram"}
	dp.start()
	return dp, nil
}
