package basic

import (
	"bytes"
	"fmt"

	"github.com/gyre-go/gyre"
)

// Defaults of LineReceiver.
const (
	// DefaultDelimiter ends lines when LineReceiver.Delimiter is empty.
	DefaultDelimiter = "\r\n"
	// DefaultMaxLineLength is the longest line accepted when
	// LineReceiver.MaxLength is 0.
	DefaultMaxLineLength = 16384
)

// LineReceiver is a gyre.Protocol that splits the bytes received into lines
// ending with Delimiter and hands each line, without its delimiter, to Line.
// It can switch to raw mode, where bytes go to Raw as they come, and back,
// at any point of the stream (see SetRawMode and SetLineMode).
//
// Use it as it is, with the fields set, or embed it in a type of your own and
// set the fields when building that type's value. The fields must not change
// once the connection is made.
//
// A line longer than MaxLength is an error: as soon as the receiver knows
// that the line being received is too long (the line is complete, or the
// bytes of it received so far leave no way for it to end in time), it stops
// delivering anything, calls LineTooLong, and closes the connection with the
// transport's LoseConnection. Err then returns an error wrapping
// ErrLineTooLong, and the reason passed to Lost wraps it too.
//
// Line gets a slice that is valid only until Line returns: when the whole line
// was inside one chunk of received data, it points into that chunk, which the
// reactor reuses; otherwise into the receiver's buffer, which is reused for
// the next line. Copy what must be kept. The same holds for Raw.
//
// Like any protocol, a LineReceiver is used on the loop goroutine only.
type LineReceiver struct {
	// Delimiter ends each line. Empty means DefaultDelimiter ("\r\n").
	Delimiter []byte
	// MaxLength is the longest line, delimiter not included, accepted. 0
	// (or less) means DefaultMaxLineLength.
	MaxLength int

	// Line is called with each line, without its delimiter. nil discards
	// lines.
	Line func(line []byte)
	// Raw is called with the bytes received in raw mode. nil discards them.
	Raw func(data []byte)
	// LineTooLong, if not nil, is called once when a line exceeds
	// MaxLength, with the bytes of that line received so far (delimiter
	// excluded), just before the connection is closed; it may still write
	// to the transport (a reply saying what went wrong, say). The slice is
	// valid only during the call.
	LineTooLong func(line []byte)
	// Connected, if not nil, is called by ConnectionMade with the transport.
	Connected func(t gyre.Transport)
	// Lost, if not nil, is called by ConnectionLost with the reason, which
	// also wraps the receiver's error if the receiver closed the
	// connection because of one.
	Lost func(reason error)

	transport gyre.Transport

	raw     bool     // in raw mode
	buf     []byte   // the start of a line whose end has not arrived (line mode only)
	pending [][]byte // input not yet handled; the next bytes are at the end
	pushes  int      // counts additions to pending, to notice them across callbacks
	running bool     // inside the delivery loop
	stopped bool     // deliver nothing more
	lost    bool     // ConnectionLost has been called
	err     error
}

var _ gyre.Protocol = (*LineReceiver)(nil)

// defaultDelimiter is DefaultDelimiter as bytes; never modified.
var defaultDelimiter = []byte(DefaultDelimiter)

func (r *LineReceiver) delimiter() []byte {
	if len(r.Delimiter) == 0 {
		return defaultDelimiter
	}
	return r.Delimiter
}

func (r *LineReceiver) maxLength() int {
	if r.MaxLength <= 0 {
		return DefaultMaxLineLength
	}
	return r.MaxLength
}

// ConnectionMade implements gyre.Protocol: it keeps t (see Transport) and
// calls Connected.
func (r *LineReceiver) ConnectionMade(t gyre.Transport) {
	r.transport = t
	if r.Connected != nil {
		r.Connected(t)
	}
}

// DataReceived implements gyre.Protocol: it hands the lines (or raw data)
// that data completes to Line (or Raw), and keeps the start of an unfinished
// line for the next call. It does nothing once the receiver has stopped
// (after an error, LoseConnection or ConnectionLost).
func (r *LineReceiver) DataReceived(data []byte) {
	if r.stopped || len(data) == 0 {
		return
	}
	if r.running {
		// Called from inside one of our own callbacks: these bytes come
		// after everything not yet handled. They must outlive this call.
		r.pending = append(r.pending, nil)
		copy(r.pending[1:], r.pending)
		r.pending[0] = bytes.Clone(data)
		r.pushes++
		return
	}
	r.push(data)
	r.run()
}

// ConnectionLost implements gyre.Protocol: it stops the receiver, drops an
// unfinished line and calls Lost.
func (r *LineReceiver) ConnectionLost(reason error) {
	if r.lost {
		return
	}
	r.lost = true
	r.stop()
	r.buf = nil
	if r.Lost != nil {
		r.Lost(lostReason(r.err, reason))
	}
}

// Transport returns the transport given to ConnectionMade, or nil before it.
func (r *LineReceiver) Transport() gyre.Transport { return r.transport }

// Err returns the error that made the receiver close the connection (one
// wrapping ErrLineTooLong), or nil.
func (r *LineReceiver) Err() error { return r.err }

// SendLine writes line followed by the delimiter to the transport. It
// returns gyre.ErrNotConnected before ConnectionMade, and otherwise what the
// transport's WriteSequence returns. line should not contain the delimiter:
// the peer would see two lines.
func (r *LineReceiver) SendLine(line []byte) error {
	if r.transport == nil {
		return gyre.ErrNotConnected
	}
	return r.transport.WriteSequence([][]byte{line, r.delimiter()})
}

// LoseConnection stops the receiver, so that no more lines or raw data are
// delivered, not even those already received, and closes the connection with
// the transport's LoseConnection (what was written is still sent).
func (r *LineReceiver) LoseConnection() {
	r.stop()
	if r.transport != nil {
		r.transport.LoseConnection()
	}
}

// RawMode reports whether the receiver is in raw mode.
func (r *LineReceiver) RawMode() bool { return r.raw }

// SetRawMode switches to raw mode: the bytes that follow the current point of
// the stream go to Raw instead of being split into lines. Called from Line, it
// makes the bytes received after that line's delimiter go to Raw, in the same
// DataReceived call. Called from outside the receiver's callbacks, it hands
// the start of an unfinished line, if any, to Raw at once.
func (r *LineReceiver) SetRawMode() {
	r.raw = true
	if len(r.buf) > 0 {
		b := r.buf
		r.buf = nil
		r.push(b)
	}
	if !r.running {
		r.run()
	}
}

// SetLineMode switches to line mode: the bytes that follow the current point
// of the stream are split into lines again. extra holds bytes that are to be
// handled as if they had just been received, ahead of any received bytes not
// yet handled: typically, Raw passes the part of its data that it does not
// consume. Called from Raw, the lines in extra are delivered after Raw
// returns, in the same DataReceived call; called from outside the receiver's
// callbacks, they are delivered before SetLineMode returns. extra must stay
// unchanged until then; the receiver keeps no reference to it afterwards.
func (r *LineReceiver) SetLineMode(extra []byte) {
	r.raw = false
	if r.stopped {
		return
	}
	if len(extra) > 0 {
		r.push(extra)
	}
	if !r.running {
		r.run()
	}
}

// ClearLineBuffer returns every byte received but not yet delivered (the
// start of an unfinished line and, when called from a callback, the rest of
// the received data) and forgets them, so that they are not delivered. It is
// meant for handing the connection over to another protocol. The returned
// slice belongs to the caller.
func (r *LineReceiver) ClearLineBuffer() []byte {
	out := append([]byte(nil), r.buf...)
	r.buf = nil
	for i := len(r.pending) - 1; i >= 0; i-- {
		out = append(out, r.pending[i]...)
	}
	clear(r.pending)
	r.pending = r.pending[:0]
	return out
}

func (r *LineReceiver) push(b []byte) {
	r.pending = append(r.pending, b)
	r.pushes++
}

// consume drops the first n bytes of the next pending slice.
func (r *LineReceiver) consume(n int) {
	last := len(r.pending) - 1
	if n == len(r.pending[last]) {
		r.pending[last] = nil
		r.pending = r.pending[:last]
		return
	}
	r.pending[last] = r.pending[last][n:]
}

func (r *LineReceiver) stop() {
	r.stopped = true
	r.buf = nil
	clear(r.pending)
	r.pending = r.pending[:0]
}

// run handles pending input until there is none left or the receiver stops.
func (r *LineReceiver) run() {
	if r.stopped || r.running {
		return
	}
	r.running = true
	done := false
	defer func() {
		r.running = false
		if !done {
			// A callback panicked: the input may be half handled and the
			// reactor is closing the connection. Deliver nothing more.
			r.stop()
		}
	}()
	for len(r.pending) > 0 && !r.stopped {
		if r.raw {
			r.rawStep()
		} else {
			r.lineStep()
		}
	}
	if r.stopped {
		r.stop()
	}
	done = true
}

// rawStep hands the next pending slice to Raw.
func (r *LineReceiver) rawStep() {
	last := len(r.pending) - 1
	data := r.pending[last]
	r.pending[last] = nil
	r.pending = r.pending[:last]
	if r.Raw != nil {
		r.Raw(data)
	}
}

// lineStep delivers at most one line from the next pending slice, or moves
// that slice into the line buffer.
func (r *LineReceiver) lineStep() {
	delim := r.delimiter()
	limit := r.maxLength()
	data := r.pending[len(r.pending)-1]

	if len(r.buf) == 0 {
		i := bytes.Index(data, delim)
		if i < 0 {
			if len(data) > limit && tooLongSoFar(data, delim, limit) {
				r.tooLong(data)
				return
			}
			r.buf = append(r.buf[:0], data...)
			r.consume(len(data))
			return
		}
		line := data[:i]
		r.consume(i + len(delim))
		if len(line) > limit {
			r.tooLong(line)
			return
		}
		if r.Line != nil {
			r.Line(line)
		}
		return
	}

	// A line has started in an earlier chunk. Its delimiter may straddle
	// the buffer and data: the earliest such position has the most bytes
	// in the buffer.
	for k := min(len(delim)-1, len(r.buf)); k >= 1; k-- {
		rest := delim[k:]
		if bytes.HasSuffix(r.buf, delim[:k]) && bytes.HasPrefix(data, rest) {
			r.consume(len(rest))
			r.deliverBuffered(len(r.buf) - k)
			return
		}
	}
	i := bytes.Index(data, delim)
	if i < 0 {
		r.buf = append(r.buf, data...)
		r.consume(len(data))
		if len(r.buf) > limit && tooLongSoFar(r.buf, delim, limit) {
			r.tooLong(r.buf)
		}
		return
	}
	r.buf = append(r.buf, data[:i]...)
	r.consume(i + len(delim))
	r.deliverBuffered(len(r.buf))
}

// deliverBuffered delivers the first n bytes of the line buffer as a line and
// empties the buffer, keeping its memory for the next line when that is safe.
func (r *LineReceiver) deliverBuffered(n int) {
	line := r.buf[:n]
	r.buf = nil
	if n > r.maxLength() {
		r.tooLong(line)
		return
	}
	pushes := r.pushes
	if r.Line != nil {
		r.Line(line)
	}
	// Reuse the memory unless the callback may have queued a slice of it
	// (SetLineMode(extra) with extra taken from line) or the buffer was
	// set meanwhile.
	if r.buf == nil && r.pushes == pushes && !r.stopped {
		r.buf = line[:0]
	}
}

// tooLong stops the receiver because of an over-long line, of which data is
// the start, and closes the connection.
func (r *LineReceiver) tooLong(data []byte) {
	r.err = fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, r.maxLength())
	r.stop()
	if r.LineTooLong != nil {
		r.LineTooLong(data)
	}
	r.buf = nil
	if r.transport != nil {
		r.transport.LoseConnection()
	}
}

// tooLongSoFar reports whether a line that starts with partial (which holds
// no delimiter) is sure to be longer than max, however the stream goes on:
// the line can end no sooner than where the longest suffix of partial that
// begins the delimiter starts.
func tooLongSoFar(partial, delim []byte, limit int) bool {
	end := len(partial)
	for k := min(len(delim)-1, len(partial)); k >= 1; k-- {
		if bytes.HasSuffix(partial, delim[:k]) {
			end -= k
			break
		}
	}
	return end > limit
}
