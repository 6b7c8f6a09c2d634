// Package spawn holds what the process backends (internal/fdio for epoll and
// poll, backend/std) share to start a child: resetting the signals this
// program ignores to their default in the child, and opening a
// pseudo-terminal.
//
// Go's fork resets in the child only the signals whose handlers the runtime
// installed; a signal this program ignores (ignored when the program
// started, as nohup does with SIGHUP, or through signal.Ignore) would stay
// ignored in the child, across exec. WithDefaultSignals closes that gap
// without a helper program: for the moment of the fork it lets the runtime
// catch those signals (so the fork resets them to the default), then ignores
// them again.
package spawn
