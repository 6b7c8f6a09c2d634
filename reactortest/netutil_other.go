//go:build !unix

package reactortest

import (
	"errors"
	"net"
	"runtime"
)

// Stand-ins for the system-level helpers of netutil_unix.go: the cases that
// need them are skipped.

var errNetNotUnix = errors.New("not available on " + runtime.GOOS)

func netCloseFD(int) {}

type netReservedPort struct{ addr string }

func netReserve(c *C) *netReservedPort {
	c.Helper()
	c.Skipf("needs a bound socket that does not listen, made with Unix system calls (not on %s)", runtime.GOOS)
	return nil
}

func (r *netReservedPort) listen() error { return errNetNotUnix }
func (r *netReservedPort) close()        {}

type netBlackhole struct{ addr string }

func netNewBlackhole(c *C) *netBlackhole {
	c.Helper()
	c.Skipf("needs a listen queue filled with Unix system calls (not on %s)", runtime.GOOS)
	return nil
}

func (b *netBlackhole) close() {}

func netMaxBacklog(c *C, port int) int {
	c.Helper()
	c.Skipf("the listen queue length is only read on Linux, not on %s", runtime.GOOS)
	return 0
}

func netSomaxconn(c *C) int {
	c.Helper()
	c.Skipf("the listen queue limit is only read on Linux, not on %s", runtime.GOOS)
	return 0
}

func netSocketpair(c *C) [2]int {
	c.Helper()
	c.Skipf("descriptor passing needs Unix sockets (not on %s)", runtime.GOOS)
	return [2]int{}
}

func netPipe(c *C) (r, w int) {
	c.Helper()
	c.Skipf("descriptor passing needs Unix pipes (not on %s)", runtime.GOOS)
	return 0, 0
}

func netWriteFD(int, string) error                 { return errNetNotUnix }
func netReadFD(int) (string, bool, error)          { return "", false, errNetNotUnix }
func netLimitFDs() (func(), error)                 { return nil, errNetNotUnix }
func netPreSocket() (int, error)                   { return 0, errNetNotUnix }
func netConnectFD(fd int, addr *net.TCPAddr) error { return errNetNotUnix }
func netLowestFreeFD() (int, error)                { return 0, errNetNotUnix }
