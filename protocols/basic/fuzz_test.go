package basic_test

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/gyre-go/gyre/protocols/basic"
)

// The fuzz targets feed each input to a receiver cut in many ways (see
// chunkings) and check that:
//   - nothing panics and every way of cutting gives the same events;
//   - those events are what a straightforward model of the format, written
//     independently of the receivers, predicts from the whole input;
//   - re-encoding what was delivered gives back a prefix of the input;
//   - nothing longer than MaxLength is delivered;
//   - the connection is closed, and Err reports the right error, exactly
//     when the input breaks the format.

// fuzzDelimiters are the delimiters FuzzLineReceiver picks from; some repeat
// their own start, which makes finding them across chunks harder.
var fuzzDelimiters = []string{"\r\n", "\n", "aab", "abab", "\r\n\r\n", "x", "aaa"}

// lineModel predicts the events of a lineClient (see line_test.go) fed input
// whole.
func lineModel(input, delim []byte, limit int) []string {
	var rec recorder
	pos := 0
	for pos < len(input) {
		i := bytes.Index(input[pos:], delim)
		if i < 0 {
			if sureTooLong(input[pos:], delim, limit) {
				rec.add("toolong")
			}
			break
		}
		line := input[pos : pos+i]
		if len(line) > limit {
			rec.add("toolong")
			break
		}
		rec.add("line:%s", line)
		pos += i + len(delim)
		if string(line) == "LOSE" {
			break
		}
		if s, ok := strings.CutPrefix(string(line), "R"); ok {
			if n, err := strconv.Atoi(s); err == nil && n > 0 {
				k := min(n, len(input)-pos)
				if k > 0 {
					rec.raw(input[pos : pos+k])
				}
				pos += k
			}
		}
	}
	return rec.events
}

// sureTooLong reports whether every stream that starts with partial (which
// holds no delimiter) has its first line longer than limit: that is, no
// position p <= limit leaves a tail partial[p:] that could begin a delimiter.
func sureTooLong(partial, delim []byte, limit int) bool {
	for p := 0; p <= limit && p <= len(partial); p++ {
		if bytes.HasPrefix(delim, partial[p:]) {
			return false
		}
	}
	return true
}

// reencodeLines rebuilds the bytes a lineClient's events stand for.
func reencodeLines(events []string, delim []byte) ([]byte, error) {
	var out []byte
	for _, e := range events {
		switch {
		case strings.HasPrefix(e, "line:"):
			out = append(append(out, e[len("line:"):]...), delim...)
		case strings.HasPrefix(e, "raw:"):
			out = append(out, e[len("raw:"):]...)
		case e == "toolong":
		default:
			return nil, fmt.Errorf("unexpected event %q", e)
		}
	}
	return out, nil
}

func FuzzLineReceiver(f *testing.F) {
	f.Add([]byte("hello\r\nworld\r\n"), uint8(10), uint8(0))
	f.Add([]byte("a\r\nR3\r\nxyzb\r\nR5\r\n12\r\n3c\r\n"), uint8(5), uint8(0))
	f.Add([]byte("12345\r\r\n"), uint8(4), uint8(0))
	f.Add([]byte("abc\nLOSE\nmore\n"), uint8(3), uint8(1))
	f.Add([]byte("xaaab|aabaab"), uint8(3), uint8(2))
	f.Add([]byte("ababab.abababab"), uint8(3), uint8(3))
	f.Add([]byte("head\r\n\r\nR4\r\n\r\nbody\r\n\r\n"), uint8(8), uint8(4))
	f.Add([]byte("aaaaaaab"), uint8(2), uint8(6))
	f.Add([]byte(""), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, input []byte, maxLen, delimChoice uint8) {
		delim := fuzzDelimiters[int(delimChoice)%len(fuzzDelimiters)]
		limit := int(maxLen)%40 + 1
		want := lineModel(input, []byte(delim), limit)
		tooLong := len(want) > 0 && want[len(want)-1] == "toolong"
		lose := false
		for _, e := range want {
			lose = lose || e == "line:LOSE"
		}
		for _, chunks := range chunkings(input) {
			c := newLineClient(delim, limit)
			feed(c.tr, chunks)
			sameEvents(t, c.rec.events, want, chunks)
			for _, e := range c.rec.events {
				if l, ok := strings.CutPrefix(e, "line:"); ok && len(l) > limit {
					t.Fatalf("delivered a line of %d bytes, MaxLength %d", len(l), limit)
				}
			}
			if re, err := reencodeLines(c.rec.events, []byte(delim)); err != nil || !bytes.HasPrefix(input, re) {
				t.Fatalf("re-encoded events %q are not a prefix of the input (%v)", re, err)
			}
			if c.tr.Disconnecting() != (tooLong || lose) {
				t.Fatalf("connection closed: %v; want %v", c.tr.Disconnecting(), tooLong || lose)
			}
			if errors.Is(c.r.Err(), basic.ErrLineTooLong) != tooLong {
				t.Fatalf("Err() = %v, line too long: %v", c.r.Err(), tooLong)
			}
		}
	})
}

// prefixedModel predicts the events of a stringClient for a receiver with a
// size-byte prefix fed input whole.
func prefixedModel(input []byte, size, limit int) []string {
	var rec recorder
	for len(input) >= size {
		n := 0
		for _, b := range input[:size] {
			n = n*256 + int(b)
		}
		if n > limit {
			rec.add("failed")
			break
		}
		if len(input) < size+n {
			break
		}
		s := input[size : size+n]
		rec.add("string:%s", s)
		input = input[size+n:]
		if string(s) == "LOSE" {
			break
		}
	}
	return rec.events
}

// checkStringEvents checks what stringClient recorded against the model and
// the invariants, given how to re-encode one string.
func checkStringEvents(t *testing.T, c *stringClient, chunks [][]byte, input []byte, want []string, limit int, encode func(string) string, tooLongErr error) {
	t.Helper()
	sameEvents(t, c.rec.events, want, chunks)
	var re []byte
	lose := false
	for _, e := range c.rec.events {
		if s, ok := strings.CutPrefix(e, "string:"); ok {
			if len(s) > limit {
				t.Fatalf("delivered a string of %d bytes, MaxLength %d", len(s), limit)
			}
			re = append(re, encode(s)...)
			lose = lose || s == "LOSE"
		}
	}
	if !bytes.HasPrefix(input, re) {
		t.Fatalf("re-encoded strings %q are not a prefix of the input", re)
	}
	failed := len(want) > 0 && want[len(want)-1] == "failed"
	if c.tr.Disconnecting() != (failed || lose) {
		t.Fatalf("connection closed: %v; want %v", c.tr.Disconnecting(), failed || lose)
	}
	if (c.r.Err() != nil) != failed {
		t.Fatalf("Err() = %v, want an error: %v", c.r.Err(), failed)
	}
	if failed && tooLongErr != nil && !errors.Is(c.r.Err(), tooLongErr) {
		t.Fatalf("Err() = %v, want %v", c.r.Err(), tooLongErr)
	}
}

func FuzzInt32String(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x05hello\x00\x00\x00\x00\x00\x00\x00\x01x"), uint16(0))
	f.Add([]byte("\x00\x00\x00\x04LOSE\x00\x00\x00\x01x"), uint16(10))
	f.Add([]byte("\x00\x00\x00\x03abc\x00\x00\x00\x04abcd"), uint16(3))
	f.Add([]byte("\xff\xff\xff\xff"), uint16(0))
	f.Add([]byte("\x00\x01\x86\x9f"), uint16(0))
	f.Add([]byte("\x00\x01\x86\xa0"), uint16(0))
	f.Add([]byte("\x00\x00"), uint16(1))
	k := prefixedKinds[2]
	f.Fuzz(func(t *testing.T, input []byte, maxLen uint16) {
		limit := int(maxLen)
		if limit == 0 {
			limit = basic.DefaultMaxStringLength
		}
		want := prefixedModel(input, 4, limit)
		for _, chunks := range chunkings(input) {
			c := newStringClient(k, int(maxLen))
			feed(c.tr, chunks)
			checkStringEvents(t, c, chunks, input, want, limit, k.encode, basic.ErrStringTooLong)
		}
	})
}

// netstringModel predicts the events of a stringClient for a
// NetstringReceiver fed input whole, and the error it ends with.
func netstringModel(input []byte, limit int) ([]string, error) {
	var rec recorder
	for len(input) > 0 {
		digits := 0
		for digits < len(input) && input[digits] >= '0' && input[digits] <= '9' {
			digits++
		}
		// The receiver judges the length digit by digit, so the first
		// fault in stream order wins.
		if digits >= 2 && input[0] == '0' {
			rec.add("failed")
			return rec.events, basic.ErrBadNetstring
		}
		for d := 1; d <= digits; d++ {
			if v, err := strconv.ParseUint(string(input[:d]), 10, 64); err != nil || v > uint64(limit) {
				rec.add("failed")
				return rec.events, basic.ErrStringTooLong
			}
		}
		if digits == len(input) {
			break // the length is not finished
		}
		if digits == 0 || input[digits] != ':' {
			rec.add("failed")
			return rec.events, basic.ErrBadNetstring
		}
		n, _ := strconv.Atoi(string(input[:digits]))
		body := input[digits+1:]
		if len(body) <= n {
			break // the string or its comma has not arrived
		}
		if body[n] != ',' {
			rec.add("failed")
			return rec.events, basic.ErrBadNetstring
		}
		rec.add("string:%s", body[:n])
		input = body[n+1:]
		if string(body[:n]) == "LOSE" {
			break
		}
	}
	return rec.events, nil
}

func FuzzNetstring(f *testing.F) {
	f.Add([]byte("5:hello,0:,1:x,"), uint16(0))
	f.Add([]byte("4:LOSE,1:x,"), uint16(0))
	f.Add([]byte("01:a,"), uint16(0))
	f.Add([]byte("00:,"), uint16(0))
	f.Add([]byte(":,"), uint16(0))
	f.Add([]byte("3:abc;"), uint16(0))
	f.Add([]byte("12:hello"), uint16(5))
	f.Add([]byte("99999:"), uint16(0))
	f.Add([]byte("100000:"), uint16(0))
	f.Add([]byte("18446744073709551616:"), uint16(0))
	f.Add([]byte("1x"), uint16(0))
	f.Fuzz(func(t *testing.T, input []byte, maxLen uint16) {
		limit := int(maxLen)
		if limit == 0 {
			limit = basic.DefaultMaxStringLength
		}
		want, wantErr := netstringModel(input, limit)
		for _, chunks := range chunkings(input) {
			c := newStringClient(netstringKind, int(maxLen))
			feed(c.tr, chunks)
			checkStringEvents(t, c, chunks, input, want, limit, netstring, wantErr)
		}
	})
}
