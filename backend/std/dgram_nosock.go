//go:build !unix && !windows

package std

import "github.com/gyre-go/gyre"

func isResetOS(error) bool { return false }

func setBroadcastOS(*dgramPort, bool) error { return gyre.ErrNotSupported }
