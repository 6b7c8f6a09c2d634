//go:build unix && !linux

package std

// exitedUnreaped reports false: without waitid's WNOWAIT here, an exit is
// known once the waiter has reaped the child.
func exitedUnreaped(int) bool { return false }
