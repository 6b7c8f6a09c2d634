package basic_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/protocols/basic"
	"github.com/gyre-go/gyre/reactortest"
)

func netstring(s string) string { return strconv.Itoa(len(s)) + ":" + s + "," }

func TestNetstringMalformed(t *testing.T) {
	for _, tc := range []struct {
		input string
		want  error
	}{
		{"01:a,", basic.ErrBadNetstring},
		{"00:,", basic.ErrBadNetstring},
		{":,", basic.ErrBadNetstring},
		{"a:,", basic.ErrBadNetstring},
		{"-1:a,", basic.ErrBadNetstring},
		{"+1:a,", basic.ErrBadNetstring},
		{" 1:a,", basic.ErrBadNetstring},
		{"1 :a,", basic.ErrBadNetstring},
		{"1:ab", basic.ErrBadNetstring},
		{"5:hello;", basic.ErrBadNetstring},
		{"0:;", basic.ErrBadNetstring},
		{"1:a,,", basic.ErrBadNetstring},
		{"1:a,\n", basic.ErrBadNetstring},
		{"1e3:", basic.ErrBadNetstring},
		{"100000:", basic.ErrStringTooLong},
		{"999999999999999999999999999999", basic.ErrStringTooLong},
		{"6:", basic.ErrStringTooLong}, // with MaxLength 5 below
	} {
		t.Run(tc.input, func(t *testing.T) {
			for _, chunks := range chunkings([]byte(tc.input)) {
				var rec recorder
				var failed error
				max := 0
				if tc.input == "6:" {
					max = 5
				}
				r := &basic.NetstringReceiver{
					MaxLength: max,
					String:    func(s []byte) { rec.add("string:%s", s) },
					Failed:    func(err error) { failed = err },
				}
				tr := reactortest.Connect(r)
				feed(tr, chunks)
				if !errors.Is(failed, tc.want) || !errors.Is(r.Err(), tc.want) {
					t.Fatalf("fed as %s: Failed got %v, Err() = %v; want %v", describe(chunks), failed, r.Err(), tc.want)
				}
				if !tr.Disconnecting() {
					t.Fatalf("fed as %s: connection not closed", describe(chunks))
				}
				want := []string(nil)
				if strings.HasPrefix(tc.input, "1:a,") {
					want = []string{"string:a"}
				}
				sameEvents(t, rec.events, want, chunks)
			}
		})
	}
}

func TestNetstringGoodAfterBad(t *testing.T) {
	// The strings before the malformed one are delivered, none after.
	checkStrings(t, netstringKind, 0, "1:a,0:,2:bc,02:xy,1:z,", "string:a", "string:", "string:bc", "failed")
	checkStrings(t, netstringKind, 0, "3:abc,3:abcd,3:xyz,", "string:abc", "failed")
}

func TestNetstringZeroCopy(t *testing.T) {
	var got [][]byte
	r := &basic.NetstringReceiver{String: func(s []byte) { got = append(got, s) }}
	r.ConnectionMade(reactortest.NewStringTransport())
	chunk := []byte("3:abc,4:defg")
	r.DataReceived(chunk)
	if len(got) != 1 || &got[0][0] != &chunk[2] {
		t.Fatal("a netstring inside one chunk was not delivered in place")
	}
	copy(chunk, "XXXXXXXXXXXX")
	got = nil
	r.DataReceived([]byte(","))
	if len(got) != 1 || string(got[0]) != "defg" {
		t.Fatalf("got %q", got)
	}
}

func TestNetstringHooks(t *testing.T) {
	var events []string
	r := &basic.NetstringReceiver{
		Connected: func(gyre.Transport) { events = append(events, "connected") },
		String:    func(s []byte) { events = append(events, "string:"+string(s)) },
		Lost:      func(reason error) { events = append(events, "lost:"+reason.Error()) },
	}
	tr := reactortest.Connect(r)
	if r.Transport() != gyre.Transport(tr) {
		t.Fatal("Transport() is not the transport")
	}
	tr.Receive([]byte("1:a,2:b"))
	tr.Lose(nil)
	r.DataReceived([]byte("c,"))
	r.ConnectionLost(gyre.ErrConnectionDone)
	want := "connected,string:a,lost:" + gyre.ErrConnectionDone.Error()
	if got := strings.Join(events, ","); got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
}

func TestNetstringReentrantData(t *testing.T) {
	var rec recorder
	var r *basic.NetstringReceiver
	r = &basic.NetstringReceiver{String: func(s []byte) {
		rec.add("string:%s", s)
		if string(s) == "echo" {
			buf := []byte("6:nested,")
			r.DataReceived(buf)
			copy(buf, "XXXXXXXXX")
		}
	}}
	tr := reactortest.Connect(r)
	tr.Receive([]byte("4:echo,5:after,"))
	sameEvents(t, rec.events, []string{"string:echo", "string:after", "string:nested"}, nil)
}

func TestStringReceiversStopAfterPanic(t *testing.T) {
	for _, k := range allStringKinds {
		t.Run(k.name, func(t *testing.T) {
			n := 0
			r := k.build(0, func([]byte) { n++; panic("boom") }, nil, nil)
			tr := reactortest.Connect(r)
			func() {
				defer func() { _ = recover() }()
				tr.Receive([]byte(k.encode("a") + k.encode("b")))
			}()
			tr.Receive([]byte(k.encode("c")))
			if n != 1 {
				t.Fatalf("String called %d times; want 1 (the receiver stops after a panic)", n)
			}
		})
	}
}
