//go:build !linux

package reactortest

import (
	"errors"
	"os"
	"runtime"
)

// stdioPTY is only written for Linux; the terminal case is skipped elsewhere.
func stdioPTY() (master, slave *os.File, err error) {
	return nil, nil, errors.New("the case opens a pseudo-terminal only on Linux, not " + runtime.GOOS)
}
