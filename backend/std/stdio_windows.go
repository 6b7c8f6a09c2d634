//go:build windows

package std

import (
	"fmt"
	"os"
	"syscall"
)

// On Windows the transport uses duplicated handles. A read from a console or
// a pipe cannot be interrupted by closing the handle, so reads run on a
// goroutine of their own that the transport does not wait for: closing the
// transport returns at once, and that goroutine ends with the next input or
// error.

type stdioEnds struct {
	done    chan struct{}
	results chan stdioRead
	reading bool
}

type stdioRead struct {
	buf []byte
	err error
}

func openStdio(in, out *os.File) (*stdioFiles, error) {
	hin, err := dupHandle(in)
	if err != nil {
		return nil, err
	}
	hout, err := dupHandle(out)
	if err != nil {
		syscall.CloseHandle(hin)
		return nil, err
	}
	return &stdioFiles{
		in:   os.NewFile(uintptr(hin), in.Name()),
		out:  os.NewFile(uintptr(hout), out.Name()),
		ends: stdioEnds{done: make(chan struct{}), results: make(chan stdioRead, 1)},
	}, nil
}

func dupHandle(f *os.File) (syscall.Handle, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var h syscall.Handle
	var derr error
	if err := rc.Control(func(s uintptr) {
		p, _ := syscall.GetCurrentProcess()
		derr = syscall.DuplicateHandle(p, syscall.Handle(s), p, &h, 0, false, syscall.DUPLICATE_SAME_ACCESS)
	}); err != nil {
		// Control fails only for a file that is closed or closing.
		return 0, fmt.Errorf("%w (%v)", os.ErrClosed, err)
	}
	if derr != nil {
		return 0, os.NewSyscallError("DuplicateHandle", derr)
	}
	return h, nil
}

// read is called by the connection's reader goroutine only.
func (e *stdioEnds) read(f *os.File, b []byte) (int, error) {
	if !e.reading {
		e.reading = true
		buf := make([]byte, len(b))
		go func() {
			n, err := f.Read(buf)
			e.results <- stdioRead{buf[:n], err}
		}()
	}
	select {
	case r := <-e.results:
		e.reading = false
		return copy(b, r.buf), r.err
	case <-e.done:
		return 0, os.ErrClosed
	}
}

func (e *stdioEnds) releaseOut() {}
func (e *stdioEnds) releaseIn()  {}
func (e *stdioEnds) closed()     { close(e.done) }
