//go:build linux

package std

import (
	"net"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
)

// peerCredentials reads SO_PEERCRED: the peer as it was when it connected.
func peerCredentials(uc *net.UnixConn) (gyre.Credentials, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return gyre.Credentials{}, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return gyre.Credentials{}, err
	}
	if cerr != nil {
		return gyre.Credentials{}, &net.OpError{Op: "getsockopt", Net: "unix", Err: cerr}
	}
	return gyre.Credentials{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid)}, nil
}
