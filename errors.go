package gyre

import "errors"

// Errors returned by reactors. Compare with errors.Is: implementations may wrap
// them with more detail.
var (
	// ErrNotRunning is returned by Stop and Crash when the reactor is not
	// running.
	ErrNotRunning = errors.New("gyre: reactor is not running")
	// ErrAlreadyRunning is returned by Run and Iterate called while the
	// reactor's loop is already active (a nested call).
	ErrAlreadyRunning = errors.New("gyre: reactor is already running")
	// ErrNotRestartable is returned by Run and Iterate after the reactor
	// has stopped: Stop is final.
	ErrNotRestartable = errors.New("gyre: reactor has stopped and cannot be restarted")
	// ErrCrashed is returned by Run when the loop was left through Crash.
	// The reactor may be run again.
	ErrCrashed = errors.New("gyre: reactor crashed")
	// ErrStopped is returned when work is handed to a reactor that has
	// stopped, or whose shutdown has gone too far to honour it.
	ErrStopped = errors.New("gyre: reactor has stopped")
	// ErrNilFunc is returned when a callback argument is nil.
	ErrNilFunc = errors.New("gyre: nil callback")
	// ErrNegativeDelay is returned by CallLater, Reset and Delay for a delay
	// below zero.
	ErrNegativeDelay = errors.New("gyre: negative delay")
	// ErrUnknownPhase is returned for a Phase other than Before, During and
	// After.
	ErrUnknownPhase = errors.New("gyre: unknown trigger phase")
	// ErrUnknownTrigger is returned when removing a trigger that is not
	// registered (never was, was already removed, or has already run).
	ErrUnknownTrigger = errors.New("gyre: unknown system event trigger")
	// ErrReservedEvent is returned by FireSystemEvent("startup"): only the
	// reactor fires it.
	ErrReservedEvent = errors.New("gyre: system event is fired by the reactor")
	// ErrAlreadyCalled is returned by a DelayedCall method after the call
	// has run.
	ErrAlreadyCalled = errors.New("gyre: delayed call has already run")
	// ErrAlreadyCancelled is returned by a DelayedCall method after the call
	// was cancelled.
	ErrAlreadyCancelled = errors.New("gyre: delayed call was cancelled")
	// ErrPoolStopped is returned by CallInThread once the worker pool has
	// been shut down.
	ErrPoolStopped = errors.New("gyre: worker pool has stopped")
	// ErrInvalidPoolSize is returned by SetThreadPoolSize for a size below 1.
	ErrInvalidPoolSize = errors.New("gyre: worker pool size must be at least 1")
	// ErrNotSupported is returned by a facet method that a backend cannot
	// provide on this platform.
	ErrNotSupported = errors.New("gyre: not supported by this backend")
)

// Reasons a connection ends or fails, passed to ConnectionLost,
// ClientConnectionFailed and ClientConnectionLost. The value passed wraps one
// of these and, where there is one, the system's error (errors.Is works for
// both, for example errors.Is(err, syscall.ECONNRESET)).
var (
	// ErrConnectionDone: the connection was closed cleanly, by either side.
	ErrConnectionDone = errors.New("gyre: connection closed cleanly")
	// ErrConnectionLost: the connection broke (reset by the peer, a write
	// to a vanished peer, ...).
	ErrConnectionLost = errors.New("gyre: connection lost")
	// ErrConnectionRefused: nothing listens at the address.
	ErrConnectionRefused = errors.New("gyre: connection refused")
	// ErrTimeout: the attempt took longer than its timeout.
	ErrTimeout = errors.New("gyre: connection attempt timed out")
	// ErrDNSLookup: the host name could not be resolved.
	ErrDNSLookup = errors.New("gyre: host name lookup failed")
	// ErrBind: the local address could not be bound.
	ErrBind = errors.New("gyre: could not bind the local address")
	// ErrConnectionAborted: AbortConnection closed the connection.
	ErrConnectionAborted = errors.New("gyre: connection aborted")
	// ErrUserCancelled: StopConnecting or Disconnect abandoned the attempt.
	ErrUserCancelled = errors.New("gyre: connection attempt cancelled")
	// ErrNotConnected is returned by Write once the connection has started
	// closing.
	ErrNotConnected = errors.New("gyre: not connected")
	// ErrProducerRegistered is returned by RegisterProducer when a
	// producer is already registered.
	ErrProducerRegistered = errors.New("gyre: a producer is already registered")
	// ErrAlreadyConnecting is returned by Connector.Connect while an attempt
	// is under way or the connection is up.
	ErrAlreadyConnecting = errors.New("gyre: already connecting or connected")
	// ErrNotConnecting is returned by Connector.StopConnecting when no
	// attempt is under way.
	ErrNotConnecting = errors.New("gyre: not connecting")
	// ErrAddress is returned for an address that cannot be used as given,
	// such as a host name where a literal IP is required.
	ErrAddress = errors.New("gyre: bad address")
)

// Datagram errors.
var (
	// ErrDatagramTooLarge is returned by a datagram port's Write for a
	// datagram larger than its MaxDatagramSize.
	ErrDatagramTooLarge = errors.New("gyre: datagram too large")
	// ErrAlreadyConnected is returned by a second Connect of a datagram
	// port.
	ErrAlreadyConnected = errors.New("gyre: datagram port already connected")
)

// Process errors.
var (
	// ErrSpawn is wrapped by the error SpawnProcess returns when the child
	// cannot be started; the system's error is wrapped too (so
	// errors.Is(err, fs.ErrNotExist) holds for a missing program).
	ErrSpawn = errors.New("gyre: cannot start child process")
	// ErrSpawnOptions is returned by SpawnProcess for options that
	// contradict each other or are malformed (FDs together with PTY, an
	// invalid ChildFD, a negative descriptor).
	ErrSpawnOptions = errors.New("gyre: invalid spawn options")
	// ErrUnknownChildFD is returned by WriteToChild and CloseChildFD for a
	// descriptor that is not an open pipe of that direction.
	ErrUnknownChildFD = errors.New("gyre: no such child descriptor")
	// ErrProcessExited is returned by Signal once the child has exited.
	ErrProcessExited = errors.New("gyre: child process has exited")
	// ErrProcessFailed is matched (errors.Is) by the *ExitError of a child
	// that exited with a non-zero code or was killed by a signal.
	ErrProcessFailed = errors.New("gyre: child process failed")
	// ErrInvalidSignal is returned by HandleSignal given no signal, a nil
	// one, or one that no program can catch (SIGKILL, SIGSTOP).
	ErrInvalidSignal = errors.New("gyre: invalid signal")
)
