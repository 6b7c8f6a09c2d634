package std

import (
	"errors"
	"syscall"
)

// wsaeconnrefused is Winsock's "connection refused".
const wsaeconnrefused = syscall.Errno(10061)

func isRefusedOS(err error) bool { return errors.Is(err, wsaeconnrefused) }
