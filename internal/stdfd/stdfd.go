//go:build unix

// Package stdfd takes the descriptors of a standard I/O transport
// (gyre.StandardIO) on Unix systems: its own close-on-exec duplicates of the
// caller's in and out, so that closing the transport leaves the caller's
// files open, made non-blocking where that means something.
//
// O_NONBLOCK belongs to the open file description, which the duplicate
// shares with the caller's descriptor and often with other processes (a
// terminal shared with the shell): Release puts the flag back as it found
// it. When in and out are one description (a terminal opened once and
// dup'ed by the shell to 0 and 1, a socket), the flag is put back only when
// the second of the two is released, so that the one still in use stays
// non-blocking.
//
// Regular files (and /dev/null, and any other file that epoll refuses)
// cannot be polled usefully: they are always ready. Regular files are left
// blocking; the backends treat them, and whatever else their poller
// refuses, as always ready.
package stdfd

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// End is one duplicate.
type End struct {
	// FD is the duplicate, or -1 once released.
	FD int
	// Regular is set for a regular file, which is left blocking.
	Regular bool

	orig  int  // F_GETFL of the description before we changed it
	setNB bool // we set O_NONBLOCK on the description
}

// Pair is the transport's two duplicates.
type Pair struct {
	In, Out End
	shared  bool // In and Out are one open file description
}

// Open duplicates in and out (never onto 0, 1 or 2) and makes the
// duplicates non-blocking unless they are regular files. in and out are not
// otherwise touched, and stay the caller's. On error nothing is left open
// and no flag changed.
func Open(in, out *os.File) (*Pair, error) {
	if in == nil || out == nil {
		return nil, errors.New("gyre: nil file")
	}
	p := &Pair{In: End{FD: -1}, Out: End{FD: -1}}
	var err error
	if p.In.FD, err = dup(in); err != nil {
		return nil, fmt.Errorf("gyre: standard input %s: %w", in.Name(), err)
	}
	if p.Out.FD, err = dup(out); err != nil {
		unix.Close(p.In.FD)
		return nil, fmt.Errorf("gyre: standard output %s: %w", out.Name(), err)
	}
	// Read both flags before changing either: they may be one description.
	for _, e := range []*End{&p.In, &p.Out} {
		var st unix.Stat_t
		if err := unix.Fstat(e.FD, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			e.Regular = true
		}
		if e.orig, err = unix.FcntlInt(uintptr(e.FD), unix.F_GETFL, 0); err != nil {
			p.closeBoth()
			return nil, os.NewSyscallError("fcntl", err)
		}
	}
	if err := p.In.nonblock(); err != nil {
		p.closeBoth()
		return nil, err
	}
	if p.In.setNB {
		// Has Out's description just become non-blocking with In's? Then
		// they are one.
		if fl, err := unix.FcntlInt(uintptr(p.Out.FD), unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK != 0 {
			p.shared = true
		}
	}
	if !p.shared {
		if err := p.Out.nonblock(); err != nil {
			p.Release(&p.In)
			p.closeBoth()
			return nil, err
		}
	}
	return p, nil
}

func (e *End) nonblock() error {
	if e.Regular || e.orig&unix.O_NONBLOCK != 0 {
		return nil
	}
	if _, err := unix.FcntlInt(uintptr(e.FD), unix.F_SETFL, e.orig|unix.O_NONBLOCK); err != nil {
		return os.NewSyscallError("fcntl", err)
	}
	e.setNB = true
	return nil
}

func (p *Pair) closeBoth() {
	for _, e := range []*End{&p.In, &p.Out} {
		if e.FD >= 0 {
			unix.Close(e.FD)
			e.FD = -1
		}
	}
}

// Release puts back the O_NONBLOCK flag of e's description (unless the
// other end, still open, shares it) and returns e's descriptor for the
// caller to close; e is released from then on. It returns -1 for an end
// already released.
func (p *Pair) Release(e *End) int {
	fd := e.FD
	if fd < 0 {
		return -1
	}
	e.FD = -1
	other := &p.Out
	if e == &p.Out {
		other = &p.In
	}
	setNB := e.setNB || (p.shared && other.setNB)
	if setNB && !(p.shared && other.FD >= 0) {
		// Only the flag we changed, in case someone changed others since.
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
			unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
		}
	}
	return fd
}

// Shared reports whether in and out are one open file description.
func (p *Pair) Shared() bool { return p.shared }

// dup duplicates f's descriptor without changing f (File.Fd would make it
// blocking).
func dup(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = dupCloexec(int(s)) }); err != nil {
		// Control fails only for a file that is closed or closing.
		return -1, fmt.Errorf("%w (%v)", os.ErrClosed, err)
	}
	if derr != nil {
		return -1, os.NewSyscallError("fcntl", derr)
	}
	return fd, nil
}
