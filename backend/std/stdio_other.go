//go:build !unix && !windows

package std

import (
	"fmt"
	"os"
	"runtime"

	"github.com/gyre-go/gyre"
)

// Standard I/O needs duplicated descriptors, which this system lacks.

type stdioEnds struct{}

func openStdio(in, out *os.File) (*stdioFiles, error) {
	return nil, fmt.Errorf("%w: standard I/O transports on %s", gyre.ErrNotSupported, runtime.GOOS)
}

func (e *stdioEnds) read(f *os.File, b []byte) (int, error) { return f.Read(b) }
func (e *stdioEnds) releaseOut()                            {}
func (e *stdioEnds) releaseIn()                             {}
func (e *stdioEnds) closed()                                {}
