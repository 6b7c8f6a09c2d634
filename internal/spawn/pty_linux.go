//go:build linux

package spawn

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// PTYSupported tells whether OpenPTY works on this platform.
const PTYSupported = true

// OpenPTY opens a new pseudo-terminal pair: the master (non-blocking, for
// the parent) and the slave (blocking, for the child), both close-on-exec
// and neither becoming this program's controlling terminal. Non-zero rows
// and cols set the window size.
func OpenPTY(rows, cols uint16) (master, slave int, err error) {
	master, err = unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, -1, os.NewSyscallError("open /dev/ptmx", err)
	}
	fail := func(op string, e error) (int, int, error) {
		_ = unix.Close(master)
		return -1, -1, os.NewSyscallError(op, e)
	}
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return fail("ioctl TIOCSPTLCK", err)
	}
	// TIOCGPTPEER (Linux 4.13) opens the slave without a path lookup;
	// older kernels take the path from TIOCGPTN.
	slave, err = peer(master)
	if err != nil {
		n, err := unix.IoctlGetUint32(master, unix.TIOCGPTN)
		if err != nil {
			return fail("ioctl TIOCGPTN", err)
		}
		slave, err = unix.Open("/dev/pts/"+strconv.FormatUint(uint64(n), 10), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail("open /dev/pts/"+strconv.FormatUint(uint64(n), 10), err)
		}
	}
	if rows != 0 || cols != 0 {
		if err := SetPTYSize(slave, rows, cols); err != nil {
			_ = unix.Close(slave)
			_ = unix.Close(master)
			return -1, -1, err
		}
	}
	return master, slave, nil
}

// SetPTYSize sets the window size of the terminal open on fd.
func SetPTYSize(fd int, rows, cols uint16) error {
	ws := unix.Winsize{Row: rows, Col: cols}
	if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &ws); err != nil {
		return os.NewSyscallError("ioctl TIOCSWINSZ", err)
	}
	return nil
}

// peer opens the slave of master with TIOCGPTPEER.
func peer(master int) (int, error) {
	fd, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER,
		uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}
