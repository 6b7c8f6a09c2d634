//go:build unix

package fdio

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre"
)

// sockFile is the socket file a Unix listening or datagram port created:
// removed when the port stops, but only while it is still the same file, so
// that a port never removes a file someone else has put there since.
type sockFile struct {
	path string // empty for an abstract address, or once removed
	ino  uint64
}

// bindUnix binds fd to path ("@name" is the Linux abstract namespace). A
// stale socket file (nothing bound to it) is replaced; a live one, or any
// other file, is an error wrapping gyre.ErrBind. With mode set, the file
// gets that mode. On error fd is left open for the caller to close.
func bindUnix(fd int, path string, mode os.FileMode) (sockFile, error) {
	if path == "" {
		return sockFile{}, fmt.Errorf("%w: empty socket path", gyre.ErrAddress)
	}
	abstract := strings.HasPrefix(path, "@")
	sa := &unix.SockaddrUnix{Name: path}
	err := unix.Bind(fd, sa)
	if err == unix.EADDRINUSE && !abstract && staleSocket(path) {
		os.Remove(path)
		err = unix.Bind(fd, sa)
	}
	if err != nil {
		return sockFile{}, fmt.Errorf("%w: %w", gyre.ErrBind, os.NewSyscallError("bind", err))
	}
	if abstract {
		return sockFile{}, nil
	}
	f := sockFile{path: path}
	var st unix.Stat_t
	if unix.Stat(path, &st) == nil {
		f.ino = uint64(st.Ino)
	}
	if mode != 0 {
		if err := os.Chmod(path, mode); err != nil {
			f.remove()
			return sockFile{}, err
		}
	}
	return f, nil
}

// staleSocket reports whether path is a socket file nothing listens on.
func staleSocket(path string) bool {
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return false
	}
	fd, err := socket(unix.AF_UNIX, unix.SOCK_STREAM)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrUnix{Name: path}) == unix.ECONNREFUSED
}

// remove removes the file if it is still the one the port created.
func (f *sockFile) remove() {
	if f.path == "" {
		return
	}
	var st unix.Stat_t
	if unix.Stat(f.path, &st) == nil && uint64(st.Ino) == f.ino {
		os.Remove(f.path)
	}
	f.path = ""
}
