//go:build unix && !linux

package fdio

import "golang.org/x/sys/unix"

// setIPv4McastOpt sets IP_MULTICAST_TTL or IP_MULTICAST_LOOP, which the BSDs,
// macOS and Solaris take as a single byte.
func setIPv4McastOpt(fd, opt, v int) error {
	return unix.SetsockoptByte(fd, unix.IPPROTO_IP, opt, byte(v))
}

// ownGroupsOnly does nothing: outside Linux a socket receives only the
// groups it joined.
func ownGroupsOnly(int, int) {}
