//go:build unix

package std

import "syscall"

// acceptAndClose takes one waiting connection from the non-blocking
// listening socket fd and closes it at once. It reports false when none was
// waiting.
func acceptAndClose(fd uintptr) bool {
	syscall.ForkLock.RLock() // no child may inherit it meanwhile
	nfd, _, err := syscall.Accept(int(fd))
	if err == nil {
		syscall.Close(nfd)
	}
	syscall.ForkLock.RUnlock()
	return err == nil
}
