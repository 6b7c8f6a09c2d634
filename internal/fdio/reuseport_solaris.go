//go:build solaris || illumos

package fdio

import "github.com/gyre-go/gyre"

func setReusePortOpt(int) error { return gyre.ErrNotSupported }
