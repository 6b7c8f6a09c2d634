//go:build linux

package fdio

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
)

// PeerCredentials implements gyre.UnixTransport.
func (c *unixConn) PeerCredentials() (gyre.Credentials, error) {
	if c.fd < 0 {
		return gyre.Credentials{}, gyre.ErrNotConnected
	}
	u, err := unix.GetsockoptUcred(c.fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return gyre.Credentials{}, os.NewSyscallError("getsockopt", err)
	}
	return gyre.Credentials{PID: int(u.Pid), UID: int(u.Uid), GID: int(u.Gid)}, nil
}
