package std

import (
	"context"
	"errors"
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
	if path == "" {
		return nil, addressError(path, "empty path")
	}
	abstract := path[0] == '@'
	if abstract && !abstractOK {
		return nil, addressError(path, "the abstract namespace is Linux only")
	}
	cfg := gyre.ApplyListen(opts...)
	lc := net.ListenConfig{}
	pc, err := lc.ListenPacket(context.Background(), "unixgram", path)
	if err != nil && !abstract && errors.Is(err, errAddrInUse) && staleDgramSocket(path) {
		if rmErr := os.Remove(path); rmErr == nil || os.IsNotExist(rmErr) {
			pc, err = lc.ListenPacket(context.Background(), "unixgram", path)
		}
	}
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

// staleDgramSocket reports whether path is a socket file that nothing is
// bound to.
func staleDgramSocket(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return false
	}
	c, err := net.Dial("unixgram", path)
	if err == nil {
		_ = c.Close()
		return false
	}
	return errors.Is(err, errConnRefused)
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
	if path == "" {
		return nil, addressError(path, "empty path")
	}
	if path[0] == '@' && !abstractOK {
		return nil, addressError(path, "the abstract namespace is Linux only")
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
