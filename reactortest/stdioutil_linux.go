//go:build linux

package reactortest

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// stdioPTY opens a pseudo-terminal pair: the master (the terminal's
// keyboard and screen, for the case to drive) and the slave (what a program
// sees as its terminal), in raw mode so that bytes pass unchanged.
func stdioPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*os.File, *os.File, error) {
		master.Close()
		return nil, nil, err
	}
	var n uint32
	var ierr error
	rc, err := master.SyscallConn()
	if err != nil {
		return fail(err)
	}
	if err := rc.Control(func(fd uintptr) {
		if ierr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ierr != nil {
			return
		}
		n, ierr = unix.IoctlGetUint32(int(fd), unix.TIOCGPTN)
	}); err != nil {
		return fail(err)
	}
	if ierr != nil {
		return fail(os.NewSyscallError("ioctl", ierr))
	}
	// Opened blocking, as a terminal is when a shell hands it over.
	fd, err := unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(os.NewSyscallError("open", err))
	}
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err == nil {
		// cfmakeraw
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		err = unix.IoctlSetTermios(fd, unix.TCSETS, t)
	}
	if err != nil {
		unix.Close(fd)
		return fail(os.NewSyscallError("ioctl", err))
	}
	return master, os.NewFile(uintptr(fd), "/dev/pts/"+fmt.Sprint(n)), nil
}
