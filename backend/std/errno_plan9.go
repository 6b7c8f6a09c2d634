package std

import (
	"errors"
	"net"
)

// Plan 9 has no errno values: these never match.
var (
	errAddrInUse    = errors.New("address in use")
	errAddrNotAvail = errors.New("address not available")
	errConnRefused  = errors.New("connection refused")
	errNoEnt        = errors.New("no such file")
	errMFile        = errors.New("too many open files")
	errNFile        = errors.New("file table overflow")
	errNoBufs       = errors.New("no buffer space")
	errNoMem        = errors.New("out of memory")
)

func setUnlinkOnClose(*net.UnixListener) {}
