package std

import (
	"net"
	"os"
	"sync"
	"time"
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

// deadliner is a listener whose Accept can be made not to wait.
type deadliner interface {
	net.Listener
	SetDeadline(time.Time) error
}

// shed accepts and closes the connections waiting on ln, using the reserve
// descriptor, and reports whether it closed any.
func (r *reserve) shed(ln net.Listener) bool {
	dl, ok := ln.(deadliner)
	if !ok {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	shed := false
	for r.f != nil {
		r.f.Close()
		r.f = nil
		dl.SetDeadline(time.Now())
		nc, err := dl.Accept()
		dl.SetDeadline(time.Time{})
		if f, ferr := os.Open(os.DevNull); ferr == nil {
			r.f = f
		}
		if err != nil {
			break
		}
		nc.Close()
		shed = true
	}
	return shed
}
