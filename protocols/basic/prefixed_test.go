package basic_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/protocols/basic"
	"github.com/gyre-go/gyre/reactortest"
)

// stringReceiver is what the three prefixed receivers and the netstring
// receiver have in common, for tests that run against each.
type stringReceiver interface {
	gyre.Protocol
	SendString(s []byte) error
	Err() error
	LoseConnection()
}

// stringKind builds one kind of string receiver with its callbacks.
type stringKind struct {
	name   string
	encode func(s string) string // the wire form of s
	build  func(max int, str func([]byte), failed func(error), lost func(error)) stringReceiver
}

func prefix(size int, s string) string {
	h := make([]byte, size)
	for i, n := size-1, len(s); i >= 0; i, n = i-1, n>>8 {
		h[i] = byte(n)
	}
	return string(h) + s
}

var prefixedKinds = []stringKind{
	{"Int8", func(s string) string { return prefix(1, s) }, func(max int, str func([]byte), failed, lost func(error)) stringReceiver {
		return &basic.Int8StringReceiver{MaxLength: max, String: str, Failed: failed, Lost: lost}
	}},
	{"Int16", func(s string) string { return prefix(2, s) }, func(max int, str func([]byte), failed, lost func(error)) stringReceiver {
		return &basic.Int16StringReceiver{MaxLength: max, String: str, Failed: failed, Lost: lost}
	}},
	{"Int32", func(s string) string { return prefix(4, s) }, func(max int, str func([]byte), failed, lost func(error)) stringReceiver {
		return &basic.Int32StringReceiver{MaxLength: max, String: str, Failed: failed, Lost: lost}
	}},
}

var netstringKind = stringKind{"Netstring", netstring, func(max int, str func([]byte), failed, lost func(error)) stringReceiver {
	return &basic.NetstringReceiver{MaxLength: max, String: str, Failed: failed, Lost: lost}
}}

var allStringKinds = append(append([]stringKind(nil), prefixedKinds...), netstringKind)

// stringClient records the events of a string receiver.
type stringClient struct {
	rec recorder
	r   stringReceiver
	tr  *reactortest.StringTransport
}

func newStringClient(k stringKind, max int) *stringClient {
	c := &stringClient{}
	c.r = k.build(max,
		func(s []byte) {
			c.rec.add("string:%s", s)
			if string(s) == "LOSE" {
				c.r.LoseConnection()
			}
		},
		func(err error) { c.rec.add("failed") },
		func(error) { c.rec.add("lost") })
	c.tr = reactortest.Connect(c.r)
	return c
}

func checkStrings(t *testing.T, k stringKind, max int, input string, want ...string) {
	t.Helper()
	for _, chunks := range chunkings([]byte(input)) {
		c := newStringClient(k, max)
		feed(c.tr, chunks)
		sameEvents(t, c.rec.events, want, chunks)
		failed := len(want) > 0 && want[len(want)-1] == "failed"
		if failed != c.tr.Disconnecting() && !strings.Contains(input, "LOSE") {
			t.Fatalf("fed as %s: failed %v but connection closed %v", describe(chunks), failed, c.tr.Disconnecting())
		}
	}
}

func TestPrefixedStrings(t *testing.T) {
	for _, k := range allStringKinds {
		t.Run(k.name, func(t *testing.T) {
			e := k.encode
			checkStrings(t, k, 0, e("hello")+e("")+e("world")+e("")+e(""),
				"string:hello", "string:", "string:world", "string:", "string:")
			checkStrings(t, k, 0, e("complete")+e("unfinished")[:5], "string:complete")
			checkStrings(t, k, 0, "")
			// A string that contains the framing itself.
			checkStrings(t, k, 0, e(e("inner")+","), "string:"+e("inner")+",")
			// LoseConnection from String: nothing more is delivered.
			checkStrings(t, k, 0, e("a")+e("LOSE")+e("b"), "string:a", "string:LOSE")
		})
	}
}

func TestPrefixedMaxLength(t *testing.T) {
	for _, k := range allStringKinds {
		t.Run(k.name, func(t *testing.T) {
			e := k.encode
			checkStrings(t, k, 5, e("12345")+e("123456")+e("x"), "string:12345", "failed")
			// Found from the prefix, before the data arrives.
			checkStrings(t, k, 5, e("ok")+e("123456")[:len(e(""))], "string:ok", "failed")
		})
	}
}

func TestPrefixedDefaultMaxLength(t *testing.T) {
	k := prefixedKinds[2]
	ok := strings.Repeat("x", basic.DefaultMaxStringLength)
	c := newStringClient(k, 0)
	c.tr.Receive([]byte(k.encode(ok)))
	c.tr.Receive([]byte(k.encode(ok + "y")))
	want := []string{"string:" + ok, "failed"}
	sameEvents(t, c.rec.events, want, nil)
	if err := c.r.Err(); !errors.Is(err, basic.ErrStringTooLong) {
		t.Fatalf("Err() = %v", err)
	}
}

func TestPrefixedErrorReporting(t *testing.T) {
	var failed, lost error
	r := &basic.Int16StringReceiver{
		MaxLength: 3,
		Failed: func(err error) {
			failed = err
		},
		Lost: func(reason error) { lost = reason },
	}
	tr := reactortest.Connect(r)
	r.Failed = func(err error) {
		failed = err
		_ = r.Transport().Write([]byte("bye"))
	}
	tr.Receive([]byte{0, 4})
	if !errors.Is(failed, basic.ErrStringTooLong) || failed != r.Err() {
		t.Fatalf("Failed got %v, Err() = %v", failed, r.Err())
	}
	if !tr.Disconnecting() || string(tr.Value()) != "bye" {
		t.Fatalf("closed %v, written %q", tr.Disconnecting(), tr.Value())
	}
	tr.Lose(nil)
	if !errors.Is(lost, basic.ErrStringTooLong) || !errors.Is(lost, gyre.ErrConnectionDone) {
		t.Fatalf("Lost reason %v", lost)
	}
}

func TestPrefixSize(t *testing.T) {
	if n := new(basic.Int8StringReceiver).PrefixSize(); n != 1 {
		t.Errorf("Int8 PrefixSize = %d", n)
	}
	if n := new(basic.Int16StringReceiver).PrefixSize(); n != 2 {
		t.Errorf("Int16 PrefixSize = %d", n)
	}
	if n := new(basic.Int32StringReceiver).PrefixSize(); n != 4 {
		t.Errorf("Int32 PrefixSize = %d", n)
	}
}

func TestSendString(t *testing.T) {
	for _, k := range allStringKinds {
		t.Run(k.name, func(t *testing.T) {
			r := k.build(0, nil, nil, nil)
			if err := r.SendString([]byte("x")); !errors.Is(err, gyre.ErrNotConnected) {
				t.Fatalf("SendString before ConnectionMade = %v", err)
			}
			tr := reactortest.Connect(r)
			for _, s := range []string{"hello", "", strings.Repeat("z", 255)} {
				if err := r.SendString([]byte(s)); err != nil {
					t.Fatal(err)
				}
			}
			want := k.encode("hello") + k.encode("") + k.encode(strings.Repeat("z", 255))
			if got := string(tr.Value()); got != want {
				t.Fatalf("written %q, want %q", got, want)
			}
			// What SendString writes, a receiver of the same kind reads.
			c := newStringClient(k, 0)
			c.tr.Receive(tr.Value())
			sameEvents(t, c.rec.events, []string{"string:hello", "string:", "string:" + strings.Repeat("z", 255)}, nil)
		})
	}
}

func TestSendStringTooLongForPrefix(t *testing.T) {
	r8 := &basic.Int8StringReceiver{}
	tr := reactortest.Connect(r8)
	if err := r8.SendString(make([]byte, 256)); !errors.Is(err, basic.ErrStringTooLong) {
		t.Fatalf("Int8 SendString(256 bytes) = %v", err)
	}
	r16 := &basic.Int16StringReceiver{}
	tr16 := reactortest.Connect(r16)
	if err := r16.SendString(make([]byte, 65536)); !errors.Is(err, basic.ErrStringTooLong) {
		t.Fatalf("Int16 SendString(65536 bytes) = %v", err)
	}
	if err := r16.SendString(make([]byte, 65535)); err != nil {
		t.Fatalf("Int16 SendString(65535 bytes) = %v", err)
	}
	if len(tr.Value()) != 0 || len(tr16.Value()) != 2+65535 {
		t.Fatalf("written %d and %d bytes", len(tr.Value()), len(tr16.Value()))
	}
}

func TestPrefixedZeroCopy(t *testing.T) {
	var got [][]byte
	r := &basic.Int32StringReceiver{String: func(s []byte) { got = append(got, s) }}
	r.ConnectionMade(reactortest.NewStringTransport())
	chunk := []byte(prefix(4, "abc") + prefix(4, "defg")[:6])
	r.DataReceived(chunk)
	if len(got) != 1 || &got[0][0] != &chunk[4] {
		t.Fatal("a string inside one chunk was not delivered in place")
	}
	copy(chunk, bytes.Repeat([]byte{0xEE}, len(chunk)))
	got = nil
	r.DataReceived([]byte("fg"))
	if len(got) != 1 || string(got[0]) != "defg" {
		t.Fatalf("got %q", got)
	}
}

func TestPrefixedReentrantData(t *testing.T) {
	var rec recorder
	var r *basic.Int8StringReceiver
	r = &basic.Int8StringReceiver{String: func(s []byte) {
		rec.add("string:%s", s)
		if string(s) == "echo" {
			buf := []byte(prefix(1, "nested"))
			r.DataReceived(buf)
			copy(buf, "XXXXXXX")
		}
	}}
	tr := reactortest.Connect(r)
	tr.Receive([]byte(prefix(1, "echo") + prefix(1, "after")))
	sameEvents(t, rec.events, []string{"string:echo", "string:after", "string:nested"}, nil)
}

func TestPrefixedHooks(t *testing.T) {
	var events []string
	r := &basic.Int32StringReceiver{
		Connected: func(gyre.Transport) { events = append(events, "connected") },
		String:    func(s []byte) { events = append(events, "string:"+string(s)) },
		Lost:      func(reason error) { events = append(events, "lost") },
	}
	tr := reactortest.Connect(r)
	if r.Transport() != gyre.Transport(tr) {
		t.Fatal("Transport() is not the transport")
	}
	tr.Receive([]byte(prefix(4, "a") + prefix(4, "bc")[:5]))
	tr.Lose(nil)
	r.DataReceived([]byte("c"))
	r.ConnectionLost(gyre.ErrConnectionDone)
	if got := strings.Join(events, ","); got != "connected,string:a,lost" {
		t.Fatalf("events %q", got)
	}
}
