//go:build !linux

package std

import (
	"net"

	"github.com/gyre-go/gyre"
)

// peerCredentials is not implemented on this platform.
func peerCredentials(*net.UnixConn) (gyre.Credentials, error) {
	return gyre.Credentials{}, gyre.ErrNotSupported
}
