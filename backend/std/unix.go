package std

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"time"

	"github.com/gyre-go/gyre"
)

// abstractOK tells whether "@name" paths name the Linux abstract namespace.
var abstractOK = runtime.GOOS == "linux" || runtime.GOOS == "android"

// ListenUnix implements gyre.Unix.
func (r *Reactor) ListenUnix(path string, f gyre.Factory, opts ...gyre.ListenOption) (gyre.Port, error) {
	if f == nil {
		return nil, errNilFactory
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
	ln, err := replacingStale("unix", path, abstract, func() (net.Listener, error) {
		return lc.Listen(context.Background(), "unix", path)
	})
	if err != nil {
		return nil, listenError(err)
	}
	ul := ln.(*net.UnixListener)
	if !abstract {
		setUnlinkOnClose(ul)
		if cfg.Mode != 0 {
			if err := os.Chmod(path, cfg.Mode); err != nil {
				_ = ln.Close()
				return nil, listenError(err)
			}
		}
	}
	if err := setBacklog(ln, cfg.Backlog); err != nil {
		_ = ln.Close()
		return nil, listenError(err)
	}
	return r.startPort(ln, f), nil
}

// checkUnixPath checks a Unix socket path and tells whether it names the
// abstract namespace ("@name").
func checkUnixPath(path string) (abstract bool, err error) {
	if path == "" {
		return false, addressError(path, "empty path")
	}
	abstract = path[0] == '@'
	if abstract && !abstractOK {
		return false, addressError(path, "the abstract namespace is Linux only")
	}
	return abstract, nil
}

// replacingStale binds a Unix socket with bind; if the path is taken by a
// socket file that nothing is bound to any more (network "unix" or
// "unixgram"), it removes the file and binds again.
func replacingStale[T any](network, path string, abstract bool, bind func() (T, error)) (T, error) {
	s, err := bind()
	if err != nil && !abstract && errors.Is(err, errAddrInUse) && staleSocket(network, path) {
		if rmErr := os.Remove(path); rmErr == nil || os.IsNotExist(rmErr) {
			s, err = bind()
		}
	}
	return s, err
}

// staleSocket reports whether path is a socket file that nothing is bound
// to: a connection (or, for "unixgram", a connected socket) is refused.
func staleSocket(network, path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return false
	}
	c, err := net.DialTimeout(network, path, time.Second)
	if err == nil {
		_ = c.Close()
		return false
	}
	return errors.Is(err, errConnRefused)
}

// ConnectUnix implements gyre.Unix.
func (r *Reactor) ConnectUnix(path string, f gyre.ClientFactory, opts ...gyre.ConnectOption) (gyre.Connector, error) {
	if f == nil {
		return nil, errNilFactory
	}
	if r.down {
		return nil, gyre.ErrStopped
	}
	if _, err := checkUnixPath(path); err != nil {
		return nil, err
	}
	c := r.newConnector("unix", path, &net.UnixAddr{Name: path, Net: "unix"}, f, opts)
	c.begin()
	return c, nil
}
