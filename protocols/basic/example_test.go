package basic_test

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/gyre-go/gyre/protocols/basic"
	"github.com/gyre-go/gyre/reactortest"
)

// A line protocol that answers each line with the line in upper case, tested
// with a StringTransport: the lines may arrive cut anywhere.
func Example() {
	var r *basic.LineReceiver
	r = &basic.LineReceiver{
		Line: func(line []byte) { r.SendLine(bytes.ToUpper(line)) },
	}
	tr := reactortest.Connect(r)
	tr.Receive([]byte("hello\r\nwor"))
	tr.Receive([]byte("ld\r\n"))
	fmt.Printf("%q\n", tr.Value())
	// Output:
	// "HELLO\r\nWORLD\r\n"
}

// A header line announces a binary body of a given size: the receiver
// switches to raw mode for the body and hands back what follows it.
func ExampleLineReceiver_SetRawMode() {
	var r *basic.LineReceiver
	var body []byte
	want := 0
	r = &basic.LineReceiver{
		Delimiter: []byte("\n"),
		Line: func(line []byte) {
			if n, ok := bytes.CutPrefix(line, []byte("SIZE ")); ok {
				want, _ = strconv.Atoi(string(n))
				body = body[:0]
				r.SetRawMode()
				return
			}
			fmt.Printf("line %q\n", line)
		},
		Raw: func(data []byte) {
			k := min(want-len(body), len(data))
			body = append(body, data[:k]...)
			if len(body) == want {
				fmt.Printf("body %q\n", body)
				r.SetLineMode(data[k:])
			}
		},
	}
	tr := reactortest.Connect(r)
	tr.Receive([]byte("first\nSIZE 6\nab\ncd"))
	tr.Receive([]byte("\nlast\n"))
	// Output:
	// line "first"
	// body "ab\ncd\n"
	// line "last"
}

// A peer sending a line longer than MaxLength gets an answer and is
// disconnected; the protocol learns why from Lost.
func ExampleLineReceiver_tooLong() {
	var r *basic.LineReceiver
	r = &basic.LineReceiver{
		MaxLength:   8,
		Line:        func(line []byte) { fmt.Printf("line %q\n", line) },
		LineTooLong: func([]byte) { r.SendLine([]byte("ERR line too long")) },
		Lost: func(reason error) {
			fmt.Println("lost; line too long:", errors.Is(reason, basic.ErrLineTooLong))
		},
	}
	tr := reactortest.Connect(r)
	tr.Receive([]byte("short\r\nthis one is far too long\r\nignored\r\n"))
	fmt.Printf("wrote %q, closing: %v\n", tr.Value(), tr.Disconnecting())
	tr.Lose(nil) // the reactor would report the close
	// Output:
	// line "short"
	// wrote "ERR line too long\r\n", closing: true
	// lost; line too long: true
}

func ExampleInt32StringReceiver() {
	r := &basic.Int32StringReceiver{
		String: func(s []byte) { fmt.Printf("got %q\n", s) },
	}
	tr := reactortest.Connect(r)
	r.SendString([]byte("ping"))
	fmt.Printf("wrote %q\n", tr.Value())
	tr.Receive([]byte("\x00\x00\x00\x04pong\x00\x00"))
	tr.Receive([]byte("\x00\x00"))
	// Output:
	// wrote "\x00\x00\x00\x04ping"
	// got "pong"
	// got ""
}

func ExampleNetstringReceiver() {
	r := &basic.NetstringReceiver{
		String: func(s []byte) { fmt.Printf("got %q\n", s) },
		Failed: func(err error) { fmt.Println("error:", err) },
	}
	tr := reactortest.Connect(r)
	r.SendString([]byte("hello"))
	fmt.Printf("wrote %q\n", tr.Value())
	tr.Receive([]byte("3:abc,0:,05:hello,"))
	fmt.Println("closing:", tr.Disconnecting())
	// Output:
	// wrote "5:hello,"
	// got "abc"
	// got ""
	// error: basic: malformed netstring: leading zero in length
	// closing: true
}
