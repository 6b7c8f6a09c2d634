//go:build !unix

package std

import (
	"net"
	"syscall"

	"github.com/gyre-go/gyre"
)

// setBacklog does nothing here: the standard library picks the backlog.
func setBacklog(net.Listener, int) error { return nil }

// newOOB returns nil: descriptors cannot be passed on this platform.
func newOOB() []byte { return nil }

func (c *conn) readMsg(b []byte) (int, []int, error) {
	n, err := c.nc.Read(b)
	return n, nil, err
}

func (c *conn) writeMsg([]byte, []int) error { return gyre.ErrNotSupported }

func dupFDs([]int) ([]int, error) { return nil, gyre.ErrNotSupported }

func closeFDs([]int) {}

// rawConn returns nil: every write goes through the writer goroutine here.
func rawConn(net.Conn) syscall.RawConn { return nil }

func (c *conn) direct(uintptr) bool { return true }

func (c *conn) trySendFDs([]byte, []int) (int, error) { return 0, gyre.ErrNotSupported }
