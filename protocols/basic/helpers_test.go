package basic_test

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gyre-go/gyre/reactortest"
)

// chunkings returns ways of cutting data into the chunks DataReceived might
// get: all at once, one byte at a time, cut at every single point (for short
// inputs; at a sample of points otherwise), at every pair of points (for very
// short inputs), and at random points. The random cuts depend only on data, so
// a failure can be replayed.
func chunkings(data []byte) [][][]byte {
	n := len(data)
	out := [][][]byte{{data}}
	if n == 0 {
		return out
	}
	bytewise := make([][]byte, n)
	for i := range data {
		bytewise[i] = data[i : i+1]
	}
	out = append(out, bytewise)

	h := fnv.New64a()
	h.Write(data)
	rng := rand.New(rand.NewPCG(h.Sum64(), uint64(n)))

	if n <= 128 {
		for i := 1; i < n; i++ {
			out = append(out, [][]byte{data[:i], data[i:]})
		}
	} else {
		for range 64 {
			i := 1 + rng.IntN(n-1)
			out = append(out, [][]byte{data[:i], data[i:]})
		}
	}
	if n <= 24 {
		for i := 1; i < n; i++ {
			for j := i + 1; j < n; j++ {
				out = append(out, [][]byte{data[:i], data[i:j], data[j:]})
			}
		}
	}
	for range 8 {
		var cuts [][]byte
		rest := data
		for len(rest) > 0 {
			k := 1 + rng.IntN(min(len(rest), 1+rng.IntN(16)))
			cuts = append(cuts, rest[:k])
			rest = rest[k:]
		}
		out = append(out, cuts)
	}
	return out
}

// describe shows the chunk boundaries in a failure message.
func describe(chunks [][]byte) string {
	parts := make([]string, len(chunks))
	for i, c := range chunks {
		parts[i] = fmt.Sprintf("%q", c)
	}
	s := strings.Join(parts, " | ")
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

// feed hands the chunks to the protocol attached to tr, through Receive, so
// that each chunk's memory is overwritten after its DataReceived returns.
func feed(tr *reactortest.StringTransport, chunks [][]byte) {
	for _, c := range chunks {
		tr.Receive(c)
	}
}

// recorder collects a receiver's events as strings. Consecutive raw events
// are merged, since how raw data is cut depends on how it arrives.
type recorder struct {
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) raw(data []byte) {
	if n := len(r.events); n > 0 && strings.HasPrefix(r.events[n-1], "raw:") {
		r.events[n-1] += string(data)
		return
	}
	r.events = append(r.events, "raw:"+string(data))
}

func sameEvents(t testing.TB, got, want []string, chunks [][]byte) {
	t.Helper()
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Fatalf("fed as %s\ngot  events %q\nwant events %q", describe(chunks), got, want)
	}
}
