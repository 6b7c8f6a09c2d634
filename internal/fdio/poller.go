//go:build unix

// Package fdio implements gyre's descriptor transports (TCP and Unix stream
// connections, listeners and connectors, datagram ports, and the pipes and
// terminals of child processes) over any readiness poller, so that the epoll
// and poll backends share every line of descriptor code and differ only in
// how they wait.
//
// Everything here runs on the loop goroutine. A read uses one buffer shared
// by every connection of the loop, so an idle connection holds no read
// buffer; a write goes straight to the socket when nothing is queued, and
// only what the socket does not take is copied into a per-connection buffer,
// which is given back once it drains.
package fdio

// Interest is the set of readiness events a descriptor is watched for.
type Interest uint8

// Readiness events.
const (
	In  Interest = 1 << iota // readable (or end of file, or an error)
	Out                      // writable (or an error)
)

// Handler receives readiness events for one descriptor.
type Handler interface {
	// Ready is called on the loop with the events that occurred. Errors and
	// hang-ups are reported as In|Out of what was asked for, so that the
	// handler finds them by reading or writing.
	Ready(ev Interest)
}

// Poller is the registration side of a readiness backend.
type Poller interface {
	// Add starts watching fd for in and sends its events to h.
	Add(fd int, h Handler, in Interest) error
	// Modify changes what fd is watched for; 0 watches for nothing.
	Modify(fd int, in Interest) error
	// Remove stops watching fd. Call it before closing fd.
	Remove(fd int) error
	// Each calls f with every registered handler, in no particular order.
	// f may remove descriptors.
	Each(f func(h Handler))
}

// BusyPoller is implemented by pollers that can watch a descriptor more
// cheaply while the loop is busy. A descriptor marked busy is one that most
// of a loop's traffic may arrive on (a datagram port): each datagram that
// arrives wakes every watcher on the socket's wait queue, so a poller that
// stays registered there (epoll) adds a call to the sending side of every
// datagram, even while the loop is busy and would find it anyway. A busy
// descriptor's events are the same; only how they are found changes.
type BusyPoller interface {
	// MarkBusy marks fd, added with Add, as busy, until it is removed.
	MarkBusy(fd int)
}
