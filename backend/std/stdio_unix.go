//go:build unix

package std

import (
	"os"

	"github.com/gyre-go/gyre/internal/stdfd"
)

// stdioEnds keeps the flags to put back (package stdfd).
type stdioEnds struct{ p *stdfd.Pair }

func openStdio(in, out *os.File) (*stdioFiles, error) {
	p, err := stdfd.Open(in, out)
	if err != nil {
		return nil, err
	}
	return &stdioFiles{
		in:   os.NewFile(uintptr(p.In.FD), in.Name()),
		out:  os.NewFile(uintptr(p.Out.FD), out.Name()),
		ends: stdioEnds{p: p},
	}, nil
}

func (e *stdioEnds) read(f *os.File, b []byte) (int, error) { return f.Read(b) }

// releaseOut and releaseIn put the flags back before the file is closed.
func (e *stdioEnds) releaseOut() { e.p.Release(&e.p.Out) }
func (e *stdioEnds) releaseIn()  { e.p.Release(&e.p.In) }
func (e *stdioEnds) closed()     {}
