//go:build !windows

package std

func isRefusedOS(error) bool { return false }
