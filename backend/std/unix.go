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
	if path == "" {
		return nil, addressError(path, "empty path")
	}
	abstract := path[0] == '@'
	if abstract && !abstractOK {
		return nil, addressError(path, "the abstract namespace is Linux only")
	}
	cfg := gyre.ApplyListen(opts...)
	lc := net.ListenConfig{}
	ln, err := lc.Listen(context.Background(), "unix", path)
	if err != nil && !abstract && errors.Is(err, errAddrInUse) && staleSocket(path) {
		// Nothing listens there any more: replace the file.
		if rmErr := os.Remove(path); rmErr == nil || os.IsNotExist(rmErr) {
			ln, err = lc.Listen(context.Background(), "unix", path)
		}
	}
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

// staleSocket reports whether path is a socket file that nothing listens on.
func staleSocket(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return false
	}
	c, err := net.DialTimeout("unix", path, time.Second)
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
	if path == "" {
		return nil, addressError(path, "empty path")
	}
	if path[0] == '@' && !abstractOK {
		return nil, addressError(path, "the abstract namespace is Linux only")
	}
	c := r.newConnector("unix", path, &net.UnixAddr{Name: path, Net: "unix"}, f, opts)
	c.begin()
	return c, nil
}
