//go:build !plan9

package std

import (
	"net"
	"syscall"
)

// The system errors the backend looks for.
var (
	errAddrInUse    error = syscall.EADDRINUSE
	errAddrNotAvail error = syscall.EADDRNOTAVAIL
	errConnRefused  error = syscall.ECONNREFUSED
	errNoEnt        error = syscall.ENOENT
	errMFile        error = syscall.EMFILE
	errNFile        error = syscall.ENFILE
	errNoBufs       error = syscall.ENOBUFS
	errNoMem        error = syscall.ENOMEM
)

func setUnlinkOnClose(ul *net.UnixListener) { ul.SetUnlinkOnClose(true) }
