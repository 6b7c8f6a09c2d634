package gyre

import (
	"fmt"
	"os"
	"syscall"
)

// Processes is the facet that starts child processes and talks to them
// through pipes or a pseudo-terminal.
type Processes interface {
	// SpawnProcess starts the program at path with the argument vector
	// args (args[0] is the program's name, as with os.StartProcess; no
	// shell is involved, path is not looked up in PATH, and an empty args
	// means {path}) and returns its transport at once. p's
	// ConnectionMade runs before SpawnProcess returns. A program that
	// cannot be started (missing, not executable, a bad directory) is
	// reported by the returned error, which wraps ErrSpawn and the
	// system's error, with nothing left behind. A nil opts means the
	// defaults described at SpawnOptions.
	SpawnProcess(p ProcessProtocol, path string, args []string, opts *SpawnOptions) (ProcessTransport, error)
}

// SpawnOptions describe how a child is started. The zero value starts the
// child with the parent's environment and working directory, as the
// parent's user, with pipes on its descriptors 0 (the child reads), 1 and 2
// (the child writes).
type SpawnOptions struct {
	// Env is the child's environment: nil gives it the parent's
	// environment; any other slice, even an empty one, gives it exactly
	// those entries and nothing else.
	Env []string
	// Dir is the child's working directory; "" means the parent's.
	Dir string
	// Credential runs the child as another user and group (which needs
	// the privilege to do so, usually root). Nil keeps the parent's.
	Credential *ProcessCredential
	// FDs maps each of the child's descriptors to what it is connected to.
	// The child gets exactly these descriptors and no other. Nil means
	// {0: ChildReads, 1: ChildWrites, 2: ChildWrites}. FDs and PTY cannot
	// be combined.
	FDs map[int]ChildFD
	// PTY, if not nil, runs the child on a new pseudo-terminal: its
	// descriptors 0, 1 and 2 are the terminal, it leads a new session
	// with the terminal as its controlling terminal, its output arrives
	// as ChildDataReceived(1, ...) and Write sends it input.
	PTY *PTYOptions
}

// ProcessCredential is the user a child runs as.
type ProcessCredential struct {
	UID, GID uint32
	// Groups are the supplementary groups; nil means none.
	Groups []uint32
}

// PTYOptions configure a child's pseudo-terminal.
type PTYOptions struct {
	// Rows and Cols are the window size; zero leaves the system's default.
	Rows, Cols uint16
}

// ChildFD says what one of a child's descriptors is connected to. Build it
// with ChildReads, ChildWrites or InheritFD.
type ChildFD struct {
	kind childFDKind
	fd   int
}

type childFDKind uint8

const (
	childReads childFDKind = iota + 1
	childWrites
	childInherits
)

var (
	// ChildReads is a pipe the child reads and the parent writes with
	// WriteToChild (fd 0 also with Write).
	ChildReads = ChildFD{kind: childReads}
	// ChildWrites is a pipe the child writes; what it writes arrives as
	// ChildDataReceived.
	ChildWrites = ChildFD{kind: childWrites}
)

// InheritFD gives the child the parent's open descriptor fd (which stays
// open in the parent, and belongs to the caller).
func InheritFD(fd int) ChildFD { return ChildFD{kind: childInherits, fd: fd} }

// IsChildReads reports whether c is ChildReads.
func (c ChildFD) IsChildReads() bool { return c.kind == childReads }

// IsChildWrites reports whether c is ChildWrites.
func (c ChildFD) IsChildWrites() bool { return c.kind == childWrites }

// Inherited returns the parent's descriptor and true if c was made by
// InheritFD.
func (c ChildFD) Inherited() (fd int, ok bool) { return c.fd, c.kind == childInherits }

// Valid reports whether c is one of the three kinds (the zero ChildFD is
// not).
func (c ChildFD) Valid() bool { return c.kind >= childReads && c.kind <= childInherits }

// String describes c: "reads", "writes" or "inherit(N)".
func (c ChildFD) String() string {
	switch c.kind {
	case childReads:
		return "reads"
	case childWrites:
		return "writes"
	case childInherits:
		return fmt.Sprintf("inherit(%d)", c.fd)
	}
	return "ChildFD(invalid)"
}

// ProcessProtocol receives a child's output and its end. Methods are called
// on the loop goroutine.
type ProcessProtocol interface {
	// ConnectionMade is called with the child's transport as soon as it
	// has started, before SpawnProcess returns.
	ConnectionMade(t ProcessTransport)
	// ChildDataReceived is called with what the child wrote on its
	// descriptor fd. data is valid only until the call returns.
	ChildDataReceived(fd int, data []byte)
	// ChildConnectionLost is called once for each pipe when it closes:
	// end of file on a pipe the child writes, or the parent's side of a
	// pipe the child reads being closed or broken. It is not called for a
	// PTY.
	ChildConnectionLost(fd int)
	// ProcessExited is called as soon as the child has exited and been
	// reaped, even while some pipe is still open (held by a grandchild,
	// say).
	ProcessExited(status ExitStatus)
	// ProcessEnded is called once, last of all: after the child has
	// exited and every pipe has closed, so all the output the child wrote
	// has been delivered.
	ProcessEnded(status ExitStatus)
}

// ProcessTransport is the parent's side of a child process. Methods are
// called on the loop goroutine.
type ProcessTransport interface {
	// Pid returns the child's process id, or 0 once ProcessEnded has been
	// called or the reactor has stopped while the child ran (it then no
	// longer tracks the child).
	Pid() int
	// Write sends data to the child's descriptor 0 (its standard input,
	// or the terminal). The caller may reuse data as soon as it returns.
	Write(data []byte) error
	// WriteSequence writes the slices to descriptor 0, in order.
	WriteSequence(data [][]byte) error
	// WriteToChild sends data to the child's descriptor fd, which must be
	// mapped with ChildReads; any other fd returns ErrUnknownChildFD.
	WriteToChild(fd int, data []byte) error
	// CloseChildFD closes the parent's end of the pipe on the child's
	// descriptor fd (after sending what is buffered, for a pipe the child
	// reads). ChildConnectionLost(fd) follows. An unknown or already
	// closed fd returns ErrUnknownChildFD.
	CloseChildFD(fd int) error
	// CloseStdin is CloseChildFD(0).
	CloseStdin() error
	// Signal sends sig to the child. Once the child has exited (even if
	// gyre has not yet noticed) it returns ErrProcessExited; once the
	// reactor has stopped while the child ran, an error wrapping
	// ErrStopped.
	Signal(sig syscall.Signal) error
	// LoseConnection closes every pipe to the child (sending what is
	// buffered first); it does not signal the child.
	LoseConnection()
	// PauseProducing stops reading the child's output until
	// ResumeProducing.
	PauseProducing()
	// ResumeProducing starts reading the child's output again.
	ResumeProducing()
}

// ExitStatus is how a child ended: an exit code, or the signal that killed
// it.
type ExitStatus struct {
	// Code is the exit code, or -1 if a signal killed the child.
	Code int
	// Signal is the signal that killed the child, or 0.
	Signal syscall.Signal
	// CoreDumped is whether the killed child dumped core.
	CoreDumped bool
}

// Success reports whether the child exited with code 0.
func (s ExitStatus) Success() bool { return s.Code == 0 && s.Signal == 0 }

// Err returns nil for a clean exit, and otherwise an *ExitError describing
// the status.
func (s ExitStatus) Err() error {
	if s.Success() {
		return nil
	}
	return &ExitError{Status: s}
}

// String reads "exit status N" or "signal: NAME".
func (s ExitStatus) String() string {
	if s.Signal != 0 {
		str := "signal: " + s.Signal.String()
		if s.CoreDumped {
			str += " (core dumped)"
		}
		return str
	}
	return fmt.Sprintf("exit status %d", s.Code)
}

// ExitError is a child's unsuccessful end. errors.Is(err, ErrProcessFailed)
// holds for it.
type ExitError struct{ Status ExitStatus }

func (e *ExitError) Error() string { return "gyre: child process ended: " + e.Status.String() }

// Is makes errors.Is(err, ErrProcessFailed) true.
func (e *ExitError) Is(target error) bool { return target == ErrProcessFailed }

// BaseProcessProtocol does nothing on each ProcessProtocol call except keep
// the transport. Embed it to implement only the methods you need.
type BaseProcessProtocol struct {
	// Transport is set by ConnectionMade.
	Transport ProcessTransport
}

// ConnectionMade keeps t in b.Transport.
func (b *BaseProcessProtocol) ConnectionMade(t ProcessTransport) { b.Transport = t }

// ChildDataReceived does nothing.
func (b *BaseProcessProtocol) ChildDataReceived(fd int, data []byte) {}

// ChildConnectionLost does nothing.
func (b *BaseProcessProtocol) ChildConnectionLost(fd int) {}

// ProcessExited does nothing.
func (b *BaseProcessProtocol) ProcessExited(status ExitStatus) {}

// ProcessEnded does nothing.
func (b *BaseProcessProtocol) ProcessEnded(status ExitStatus) {}

// Signals is the facet that delivers operating-system signals as loop
// callbacks.
type Signals interface {
	// HandleSignal arranges for f to run on the loop each time one of sigs
	// arrives, from the moment it returns until cancel is called (cancel
	// is idempotent). Signals that arrive close together may be delivered
	// once. While a handler for a signal is installed the signal no longer
	// has its default effect (SIGINT no longer ends the program). Handlers
	// are removed when the reactor stops.
	HandleSignal(f func(sig os.Signal), sigs ...os.Signal) (cancel func(), err error)
}

// StandardIO is the facet that connects a Protocol to the program's own
// standard input and output.
type StandardIO interface {
	// ConnectStdio connects p to in (read) and out (written); nil means
	// os.Stdin and os.Stdout. It works whether they are pipes, terminals,
	// sockets or regular files: pipes, terminals and sockets are used
	// without blocking (their O_NONBLOCK flag, shared with the caller's
	// descriptor, is put back when the transport closes), and regular
	// files, which are always ready, as they are.
	// The transport uses its own duplicates of the descriptors: closing it
	// does not close in or out. End of file on in calls the protocol's
	// ReadConnectionLost if it is a HalfCloseableProtocol, and otherwise
	// ConnectionLost. RemoteAddr and LocalAddr return a StdioAddr.
	ConnectStdio(p Protocol, in, out *os.File) (Transport, error)
}

// StdioAddr is the address of a standard I/O transport.
type StdioAddr struct{}

// Network returns "stdio".
func (StdioAddr) Network() string { return "stdio" }

// String returns "stdio".
func (StdioAddr) String() string { return "stdio" }
