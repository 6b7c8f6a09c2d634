package std

import (
	"net"
	"os"
	"sync"
	"syscall"
)

// reserve is a descriptor held back so that, when accept fails for lack of
// descriptors, a listener can still take a waiting connection in order to
// close it: the peer is told at once instead of being left hanging.
type reserve struct {
	mu sync.Mutex
	f  *os.File
}

// hold opens the reserve if it is not held.
func (r *reserve) hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		if f, err := os.Open(os.DevNull); err == nil {
			r.f = f
		}
	}
}

// release closes the reserve for good.
func (r *reserve) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// shed accepts and closes the connections waiting on ln, using the reserve
// descriptor, and reports whether it closed any.
func (r *reserve) shed(ln net.Listener) bool {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	shed := false
	rc.Control(func(fd uintptr) {
		for r.f != nil {
			r.f.Close()
			r.f = nil
			ok := acceptAndClose(fd)
			if f, err := os.Open(os.DevNull); err == nil {
				r.f = f
			}
			if !ok {
				return
			}
			shed = true
		}
	})
	return shed
}
