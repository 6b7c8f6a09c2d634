//go:build unix && !(aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package std

// setReusePortMC does nothing: SO_REUSEADDR lets multicast sockets share a
// port here.
func setReusePortMC(int) error { return nil }
