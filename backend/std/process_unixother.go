//go:build unix && !linux && !darwin

package std

// exitedUnreaped reports false: without waitid's WNOWAIT here, an exit is
// known once the waiter has reaped the child.
func exitedUnreaped(int) bool { return false }
