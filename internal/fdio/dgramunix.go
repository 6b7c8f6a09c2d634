//go:build unix

package fdio

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
)

// ListenUnixDatagram implements gyre.UnixDatagram. A stale socket file (one
// nothing is bound to) is replaced; the file is removed when the port stops.
func (n *Net) ListenUnixDatagram(path string, proto gyre.DatagramProtocol, opts ...gyre.ListenOption) (gyre.DatagramPort, error) {
	if n.stopped {
		return nil, gyre.ErrStopped
	}
	if proto == nil {
		return nil, gyre.ErrNilFunc
	}
	cfg := gyre.ApplyListen(opts...)
	fd, err := dgramSocket(unix.AF_UNIX)
	if err != nil {
		return nil, err
	}
	file, err := bindUnix(fd, path, cfg.Mode)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	p, err := n.newDgramPort(fd, unix.AF_UNIX, false, proto)
	if err != nil {
		file.remove()
		return nil, err
	}
	p.local = &net.UnixAddr{Name: path, Net: "unixgram"}
	p.file = file
	if err := n.startDgram(p); err != nil {
		return nil, err
	}
	return p, nil
}

// ConnectUnixDatagram implements gyre.UnixDatagram. On Linux the socket is
// autobound to an abstract address, so that the peer can answer it.
func (n *Net) ConnectUnixDatagram(path string, proto gyre.DatagramProtocol, opts ...gyre.ListenOption) (gyre.DatagramPort, error) {
	if n.stopped {
		return nil, gyre.ErrStopped
	}
	if proto == nil {
		return nil, gyre.ErrNilFunc
	}
	if path == "" {
		return nil, fmt.Errorf("%w: empty socket path", gyre.ErrAddress)
	}
	fd, err := dgramSocket(unix.AF_UNIX)
	if err != nil {
		return nil, err
	}
	if err := autobind(fd); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: %w", gyre.ErrBind, os.NewSyscallError("bind", err))
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, connectErr(err)
	}
	p, err := n.newDgramPort(fd, unix.AF_UNIX, false, proto)
	if err != nil {
		return nil, err
	}
	p.peer = &net.UnixAddr{Name: path, Net: "unixgram"}
	if err := n.startDgram(p); err != nil {
		return nil, err
	}
	return p, nil
}
