//go:build unix && !linux

package fdio

import "github.com/gyre-go/gyre"

// PeerCredentials implements gyre.UnixTransport; only Linux is supported.
func (c *unixConn) PeerCredentials() (gyre.Credentials, error) {
	return gyre.Credentials{}, gyre.ErrNotSupported
}
