package std

import (
	"errors"
	"os"
	"syscall"

	"github.com/gyre-go/gyre"
)

// wsaeconnreset is Winsock's "connection reset", which a UDP read returns
// after an ICMP port-unreachable reply.
const wsaeconnreset = syscall.Errno(10054)

func isResetOS(err error) bool { return errors.Is(err, wsaeconnreset) }

func setBroadcastOS(p *dgramPort, on bool) error {
	if p.rc == nil {
		return gyre.ErrNotSupported
	}
	v := 0
	if on {
		v = 1
	}
	var serr error
	if err := p.rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, v)
	}); err != nil {
		return err
	}
	if serr != nil {
		return os.NewSyscallError("setsockopt", serr)
	}
	return nil
}
