package basic_test

import (
	"bytes"
	"testing"

	"github.com/gyre-go/gyre/protocols/basic"
	"github.com/gyre-go/gyre/reactortest"
)

// benchChunk returns nearly 64 KiB of copies of msg: a chunk as a reactor
// might read it, holding only whole messages, so that the stream stays in
// step when the chunk is received again and again.
func benchChunk(msg string) []byte {
	var b bytes.Buffer
	for b.Len()+len(msg) <= 64<<10 {
		b.WriteString(msg)
	}
	return b.Bytes()
}

func BenchmarkLineReceiver(b *testing.B) {
	data := benchChunk("0123456789012345678901234567890123456789012345678901234567890\r\n")
	n := 0
	r := &basic.LineReceiver{Line: func(l []byte) { n += len(l) }}
	r.ConnectionMade(reactortest.NewStringTransport())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.DataReceived(data)
	}
	if r.Err() != nil || n == 0 {
		b.Fatalf("Err() = %v after %d bytes", r.Err(), n)
	}
}

func BenchmarkInt32StringReceiver(b *testing.B) {
	data := benchChunk("\x00\x00\x00\x3b01234567890123456789012345678901234567890123456789012345678")
	n := 0
	r := &basic.Int32StringReceiver{String: func(s []byte) { n += len(s) }}
	r.ConnectionMade(reactortest.NewStringTransport())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.DataReceived(data)
	}
	if r.Err() != nil || n == 0 {
		b.Fatalf("Err() = %v after %d bytes", r.Err(), n)
	}
}

func BenchmarkNetstringReceiver(b *testing.B) {
	data := benchChunk("58:0123456789012345678901234567890123456789012345678901234567,")
	n := 0
	r := &basic.NetstringReceiver{String: func(s []byte) { n += len(s) }}
	r.ConnectionMade(reactortest.NewStringTransport())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.DataReceived(data)
	}
	if r.Err() != nil || n == 0 {
		b.Fatalf("Err() = %v after %d bytes", r.Err(), n)
	}
}
