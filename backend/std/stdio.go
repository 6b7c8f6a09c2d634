package std

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gyre-go/gyre"
)

// Standard I/O (gyre.StandardIO). The transport is an ordinary connection
// (conn.go) over a net.Conn made of two files: the transport's own
// duplicates of the caller's in and out, which it reads and writes with its
// reader and writer goroutines as it does a socket. On Unix the duplicates
// of pipes, terminals and sockets are non-blocking, so that the runtime's
// netpoller waits for them and closing the transport ends a read or write
// under way; regular files are read and written as they are (they never
// keep a goroutine waiting). See stdio_unix.go and stdio_windows.go.

var errNilProtocol = errors.New("gyre: nil protocol")

// ConnectStdio implements gyre.StandardIO.
func (r *Reactor) ConnectStdio(p gyre.Protocol, in, out *os.File) (gyre.Transport, error) {
	if p == nil {
		return nil, errNilProtocol
	}
	if r.down {
		return nil, gyre.ErrStopped
	}
	if in == nil {
		in = os.Stdin
	}
	if out == nil {
		out = os.Stdout
	}
	files, err := openStdio(in, out)
	if err != nil {
		return nil, err
	}
	c := r.newConn(files, p, nil)
	c.start()
	return c.self, nil
}

// stdioFiles is the net.Conn of a standard I/O transport.
type stdioFiles struct {
	in, out *os.File
	ends    stdioEnds // what the platform keeps to close the files

	mu        sync.Mutex // closes happen on the loop; Read and Write elsewhere
	outClosed bool
	closed    bool
}

var _ net.Conn = (*stdioFiles)(nil)

func (f *stdioFiles) Read(b []byte) (int, error)  { return f.ends.read(f.in, b) }
func (f *stdioFiles) Write(b []byte) (int, error) { return f.out.Write(b) }

// CloseWrite closes the duplicate of out: the transport's
// LoseWriteConnection, once everything is written.
func (f *stdioFiles) CloseWrite() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closeOut()
}

func (f *stdioFiles) closeOut() error {
	if f.outClosed {
		return nil
	}
	f.outClosed = true
	f.ends.releaseOut()
	return f.out.Close()
}

// Close closes both duplicates, putting back what was changed on them.
func (f *stdioFiles) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	err := f.closeOut()
	f.ends.releaseIn()
	if e := f.in.Close(); err == nil {
		err = e
	}
	f.ends.closed()
	return err
}

func (f *stdioFiles) LocalAddr() net.Addr              { return gyre.StdioAddr{} }
func (f *stdioFiles) RemoteAddr() net.Addr             { return gyre.StdioAddr{} }
func (f *stdioFiles) SetDeadline(time.Time) error      { return nil }
func (f *stdioFiles) SetReadDeadline(time.Time) error  { return nil }
func (f *stdioFiles) SetWriteDeadline(time.Time) error { return nil }
