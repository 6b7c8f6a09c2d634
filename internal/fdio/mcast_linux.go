//go:build linux

package fdio

import "golang.org/x/sys/unix"

// setIPv4McastOpt sets IP_MULTICAST_TTL or IP_MULTICAST_LOOP, which Linux
// takes as an int.
func setIPv4McastOpt(fd, opt, v int) error {
	return unix.SetsockoptInt(fd, unix.IPPROTO_IP, opt, v)
}

// ownGroupsOnly turns off IP_MULTICAST_ALL, by which Linux delivers to a
// socket bound to a wildcard address the datagrams of every group any
// socket of the host joined: a port then receives only its own groups, and
// LeaveGroup really stops them. (IPV6_MULTICAST_ALL needs Linux 4.20; on
// older kernels it fails and is left as it is.)
func ownGroupsOnly(fd, family int) {
	if family == unix.AF_INET6 {
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0)
		return
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
}
