package basic_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/protocols/basic"
	"github.com/gyre-go/gyre/reactortest"
)

// lineClient is a LineReceiver with a small command language, used to drive
// mode switches from the data itself: the line "R<n>" switches to raw mode
// for the next n bytes (Raw then hands back the rest with SetLineMode), and
// "LOSE" closes the connection.
type lineClient struct {
	rec     recorder
	r       *basic.LineReceiver
	tr      *reactortest.StringTransport
	rawLeft int
}

func newLineClient(delim string, max int) *lineClient {
	c := &lineClient{}
	c.r = &basic.LineReceiver{
		Delimiter: []byte(delim),
		MaxLength: max,
		Line: func(line []byte) {
			c.rec.add("line:%s", line)
			switch s := string(line); {
			case s == "LOSE":
				c.r.LoseConnection()
			case strings.HasPrefix(s, "R"):
				if n, err := strconv.Atoi(s[1:]); err == nil && n > 0 {
					c.rawLeft = n
					c.r.SetRawMode()
				}
			}
		},
		Raw: func(data []byte) {
			k := min(c.rawLeft, len(data))
			c.rec.raw(data[:k])
			c.rawLeft -= k
			if c.rawLeft == 0 {
				c.r.SetLineMode(data[k:])
			}
		},
		LineTooLong: func(line []byte) { c.rec.add("toolong") },
		Lost:        func(reason error) { c.rec.add("lost") },
	}
	c.tr = reactortest.Connect(c.r)
	return c
}

// checkLines feeds input to a fresh lineClient cut in every way chunkings
// knows, and checks that the events are want each time.
func checkLines(t *testing.T, delim string, max int, input string, want ...string) {
	t.Helper()
	for _, chunks := range chunkings([]byte(input)) {
		c := newLineClient(delim, max)
		feed(c.tr, chunks)
		sameEvents(t, c.rec.events, want, chunks)
	}
}

func TestLineReceiverLines(t *testing.T) {
	checkLines(t, "", 0, "hello\r\nworld\r\n\r\npartial", "line:hello", "line:world", "line:")
	checkLines(t, "\n", 0, "a\nb\r\n\nc", "line:a", "line:b\r", "line:")
	checkLines(t, "", 0, "")
	checkLines(t, "", 0, "\r\r\n\r\n\n\r\n", "line:\r", "line:", "line:\n")
}

func TestLineReceiverOverlappingDelimiter(t *testing.T) {
	// A delimiter whose start repeats inside it: the first complete
	// occurrence ends the line.
	checkLines(t, "aab", 0, "xaaab|aabaab", "line:xa", "line:|", "line:")
	checkLines(t, "abab", 0, "ababab.abababab", "line:", "line:ab.", "line:")
	checkLines(t, "--", 0, "a---b--", "line:a", "line:-b")
}

func TestLineReceiverMaxLength(t *testing.T) {
	// Exactly MaxLength is fine, one byte more is not.
	checkLines(t, "", 5, "12345\r\n123456\r\nnext\r\n", "line:12345", "toolong")
	// A line without its delimiter is refused as soon as it cannot end in
	// time, and a partial delimiter at its end counts as a possible end.
	checkLines(t, "", 5, "ok\r\n123456", "line:ok", "toolong")
	checkLines(t, "", 5, "ok\r\n12345\r", "line:ok")
	checkLines(t, "", 5, "ok\r\n12345\r\n", "line:ok", "line:12345")
	checkLines(t, "", 5, "12345\r\r\n", "toolong")
	checkLines(t, "abc", 3, "xyzab", []string{}...)
	checkLines(t, "abc", 3, "xyzaba", "toolong")
	checkLines(t, "abc", 1, "", []string{}...)
}

func TestLineReceiverTooLongDetails(t *testing.T) {
	var hooked []string
	var lost error
	r := &basic.LineReceiver{
		MaxLength: 4,
		Line:      func(line []byte) { hooked = append(hooked, "line:"+string(line)) },
		LineTooLong: func(line []byte) {
			hooked = append(hooked, "toolong:"+string(line))
		},
		Lost: func(reason error) { lost = reason },
	}
	tr := reactortest.Connect(r)
	r.LineTooLong = func(line []byte) {
		hooked = append(hooked, "toolong:"+string(line))
		// The hook may still write: the connection closes after it.
		if err := r.Transport().Write([]byte("too long\r\n")); err != nil {
			t.Errorf("Write from LineTooLong: %v", err)
		}
	}
	tr.Receive([]byte("abc\r\nabcdefgh"))
	if got, want := strings.Join(hooked, ","), "line:abc,toolong:abcdefgh"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	if !tr.Disconnecting() {
		t.Fatal("connection not closed after a line too long")
	}
	if got := string(tr.Value()); got != "too long\r\n" {
		t.Fatalf("written %q", got)
	}
	if !errors.Is(r.Err(), basic.ErrLineTooLong) {
		t.Fatalf("Err() = %v", r.Err())
	}
	tr.Receive([]byte("\r\nmore\r\n"))
	if len(hooked) != 2 {
		t.Fatalf("delivered after the error: %q", hooked)
	}
	tr.Lose(nil)
	if !errors.Is(lost, basic.ErrLineTooLong) || !errors.Is(lost, gyre.ErrConnectionDone) {
		t.Fatalf("Lost reason %v does not wrap both ErrLineTooLong and ErrConnectionDone", lost)
	}
}

func TestLineReceiverDefaults(t *testing.T) {
	var lines []string
	r := &basic.LineReceiver{Line: func(l []byte) { lines = append(lines, string(l)) }}
	tr := reactortest.Connect(r)
	long := strings.Repeat("x", basic.DefaultMaxLineLength)
	tr.Receive([]byte(long + "\r\n"))
	if len(lines) != 1 || lines[0] != long {
		t.Fatalf("a line of DefaultMaxLineLength bytes was not delivered")
	}
	tr.Receive([]byte(long))
	tr.Receive([]byte("\r"))
	if r.Err() != nil {
		t.Fatalf("error before the line is known too long: %v", r.Err())
	}
	tr.Receive([]byte("y"))
	if !errors.Is(r.Err(), basic.ErrLineTooLong) || !tr.Disconnecting() {
		t.Fatalf("line of DefaultMaxLineLength+2 bytes: Err() = %v, closed %v", r.Err(), tr.Disconnecting())
	}
}

func TestLineReceiverRawMode(t *testing.T) {
	// Switching from Line and back from Raw, in the middle of chunks.
	checkLines(t, "", 0, "a\r\nR3\r\nxyzb\r\nR5\r\n12\r\n3c\r\nR1\r\n\r\r\n",
		"line:a", "line:R3", "raw:xyz", "line:b", "line:R5", "raw:12\r\n3", "line:c", "line:R1", "raw:\r", "line:")
	// Raw mode to the end of the input.
	checkLines(t, "\n", 0, "R100\nabc\ndef", "line:R100", "raw:abc\ndef")
	// A line closes the connection: nothing after it is delivered.
	checkLines(t, "\n", 0, "a\nLOSE\nb\nR2\nxy", "line:a", "line:LOSE")
	// Raw data does not count against MaxLength.
	checkLines(t, "\n", 3, "R9\n123456789abc\n", "line:R9", "raw:123456789", "line:abc")
}

func TestLineReceiverSetRawModeOutsideCallbacks(t *testing.T) {
	var rec recorder
	r := &basic.LineReceiver{
		Line: func(l []byte) { rec.add("line:%s", l) },
		Raw:  rec.raw,
	}
	tr := reactortest.Connect(r)
	tr.Receive([]byte("one\r\ntw"))
	if r.RawMode() {
		t.Fatal("RawMode() before SetRawMode")
	}
	r.SetRawMode() // the unfinished line goes to Raw at once
	if !r.RawMode() {
		t.Fatal("RawMode() after SetRawMode")
	}
	sameEvents(t, rec.events, []string{"line:one", "raw:tw"}, nil)
	tr.Receive([]byte("o\r\nthree"))
	r.SetLineMode([]byte("four\r\nfi")) // lines in extra are delivered at once
	sameEvents(t, rec.events, []string{"line:one", "raw:two\r\nthree", "line:four"}, nil)
	tr.Receive([]byte("ve\r\n"))
	sameEvents(t, rec.events, []string{"line:one", "raw:two\r\nthree", "line:four", "line:five"}, nil)
}

func TestLineReceiverRawFromConnected(t *testing.T) {
	var rec recorder
	var r *basic.LineReceiver
	r = &basic.LineReceiver{
		Connected: func(gyre.Transport) { r.SetRawMode() },
		Line:      func(l []byte) { rec.add("line:%s", l) },
		Raw:       rec.raw,
	}
	tr := reactortest.Connect(r)
	tr.Receive([]byte("a\r\nb"))
	sameEvents(t, rec.events, []string{"raw:a\r\nb"}, nil)
}

func TestLineReceiverSetLineModeFromLine(t *testing.T) {
	// SetLineMode(extra) while in line mode: extra comes before the rest
	// of the chunk.
	var rec recorder
	var r *basic.LineReceiver
	r = &basic.LineReceiver{
		Delimiter: []byte("\n"),
		Line: func(l []byte) {
			rec.add("line:%s", l)
			if string(l) == "inject" {
				r.SetLineMode([]byte("x\ny"))
			}
		},
	}
	tr := reactortest.Connect(r)
	tr.Receive([]byte("inject\nz\n"))
	sameEvents(t, rec.events, []string{"line:inject", "line:x", "line:yz"}, nil)
}

func TestLineReceiverClearLineBuffer(t *testing.T) {
	var got []byte
	var r *basic.LineReceiver
	var lines []string
	r = &basic.LineReceiver{
		Delimiter: []byte("\n"),
		Line: func(l []byte) {
			lines = append(lines, string(l))
			if string(l) == "switch" {
				got = r.ClearLineBuffer()
			}
		},
	}
	tr := reactortest.Connect(r)
	tr.Receive([]byte("a\nswitch\nb\nc"))
	if string(got) != "b\nc" || strings.Join(lines, ",") != "a,switch" {
		t.Fatalf("ClearLineBuffer from Line = %q, lines %q", got, lines)
	}
	tr.Receive([]byte("d\npartial"))
	if got := r.ClearLineBuffer(); string(got) != "partial" {
		t.Fatalf("ClearLineBuffer = %q", got)
	}
	tr.Receive([]byte("\n"))
	if strings.Join(lines, ",") != "a,switch,d," {
		t.Fatalf("lines %q", lines)
	}
}

func TestLineReceiverZeroCopy(t *testing.T) {
	var r basic.LineReceiver
	var lines [][]byte
	r.Line = func(l []byte) { lines = append(lines, l) }
	r.ConnectionMade(reactortest.NewStringTransport())
	chunk := []byte("one\r\ntwo\r\nthr")
	r.DataReceived(chunk)
	for i, l := range lines {
		if cap(l) == 0 || &l[:1][0] != &chunk[i*5] {
			t.Fatalf("line %d is not a slice of the received chunk", i)
		}
	}
	// The unfinished line was copied: changing the chunk does not matter.
	copy(chunk, "XXXXXXXXXXXXXX")
	lines = nil
	r.DataReceived([]byte("ee\r\n"))
	if len(lines) != 1 || string(lines[0]) != "three" {
		t.Fatalf("lines %q", lines)
	}
}

func TestLineReceiverSendLine(t *testing.T) {
	r := &basic.LineReceiver{Delimiter: []byte("\n")}
	if err := r.SendLine([]byte("x")); !errors.Is(err, gyre.ErrNotConnected) {
		t.Fatalf("SendLine before ConnectionMade = %v", err)
	}
	tr := reactortest.Connect(r)
	if r.Transport() != gyre.Transport(tr) {
		t.Fatal("Transport() is not the transport")
	}
	if err := r.SendLine([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := r.SendLine(nil); err != nil {
		t.Fatal(err)
	}
	if got := string(tr.Value()); got != "hello\n\n" {
		t.Fatalf("written %q", got)
	}
	r.LoseConnection()
	if !tr.Disconnecting() {
		t.Fatal("LoseConnection did not close the transport")
	}
	if err := r.SendLine([]byte("late")); !errors.Is(err, gyre.ErrNotConnected) {
		t.Fatalf("SendLine after LoseConnection = %v", err)
	}
}

func TestLineReceiverHooks(t *testing.T) {
	var events []string
	r := &basic.LineReceiver{
		Connected: func(t gyre.Transport) { events = append(events, "connected") },
		Line:      func(l []byte) { events = append(events, "line:"+string(l)) },
		Lost:      func(reason error) { events = append(events, "lost:"+reason.Error()) },
	}
	tr := reactortest.Connect(r)
	tr.Receive([]byte("a\r\nunfinished"))
	tr.Lose(nil)
	r.ConnectionLost(gyre.ErrConnectionDone) // a second call is ignored
	r.DataReceived([]byte("b\r\n"))          // and data after the end too
	want := "connected,line:a,lost:" + gyre.ErrConnectionDone.Error()
	if got := strings.Join(events, ","); got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	if r.Err() != nil {
		t.Fatalf("Err() = %v after a clean close", r.Err())
	}
}

func TestLineReceiverReentrantData(t *testing.T) {
	// DataReceived called from Line: its bytes are handled after the
	// rest of the current ones.
	var rec recorder
	var r *basic.LineReceiver
	r = &basic.LineReceiver{
		Delimiter: []byte("\n"),
		Line: func(l []byte) {
			rec.add("line:%s", l)
			if string(l) == "echo" {
				buf := []byte("nested\n")
				r.DataReceived(buf)
				copy(buf, "XXXXXXX") // the receiver must have copied it
			}
		},
	}
	tr := reactortest.Connect(r)
	tr.Receive([]byte("echo\nafter\n"))
	sameEvents(t, rec.events, []string{"line:echo", "line:after", "line:nested"}, nil)
}

func TestLineReceiverPanicStops(t *testing.T) {
	var n int
	r := &basic.LineReceiver{Line: func(l []byte) {
		n++
		panic("boom")
	}}
	tr := reactortest.Connect(r)
	func() {
		defer func() { _ = recover() }()
		tr.Receive([]byte("a\r\nb\r\n"))
	}()
	tr.Receive([]byte("c\r\n"))
	if n != 1 {
		t.Fatalf("Line called %d times; want 1 (the receiver stops after a panic)", n)
	}
}

// A protocol type that embeds LineReceiver and sets its hooks to methods.
type upper struct {
	basic.LineReceiver
}

func newUpper() *upper {
	u := &upper{}
	u.Line = u.line
	return u
}

func (u *upper) line(l []byte) { _ = u.SendLine(bytes.ToUpper(l)) }

func TestLineReceiverEmbedded(t *testing.T) {
	u := newUpper()
	tr := reactortest.Connect(u)
	tr.Receive([]byte("abc\r\nd"))
	tr.Receive([]byte("ef\r\n"))
	if got := string(tr.Value()); got != "ABC\r\nDEF\r\n" {
		t.Fatalf("written %q", got)
	}
}
