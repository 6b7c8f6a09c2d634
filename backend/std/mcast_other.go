//go:build !unix

package std

import (
	"net/netip"
	"syscall"

	"github.com/gyre-go/gyre"
)

// mcastControl returns nil: the ports do not share their address here.
func mcastControl(gyre.ListenConfig) func(network, address string, c syscall.RawConn) error {
	return nil
}

func (m *mcastPort) membershipSys(netip.Addr, mcastIface, bool) error { return gyre.ErrNotSupported }

func (m *mcastPort) loopbackSys(bool) error { return gyre.ErrNotSupported }

func (m *mcastPort) ttlSys(int) error { return gyre.ErrNotSupported }

func (m *mcastPort) outIfaceSys(mcastIface) error { return gyre.ErrNotSupported }
