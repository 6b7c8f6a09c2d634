package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	prev := -1
	for v := int64(0); v < 1<<20; v++ {
		b := bucketOf(v)
		if b < prev || b > prev+1 {
			t.Fatalf("bucketOf(%d) = %d after %d", v, b, prev)
		}
		lo, w := bucketRange(b)
		if v < lo || v >= lo+w {
			t.Fatalf("value %d in bucket %d = [%d,%d)", v, b, lo, lo+w)
		}
		prev = b
	}
	if b := bucketOf(1 << 62); b != nBuckets-1 {
		t.Fatalf("huge value in bucket %d, want %d", b, nBuckets-1)
	}
}

func TestQuantile(t *testing.T) {
	var h Histogram
	vals := make([]int64, 100000)
	for i := range vals {
		vals[i] = int64(rand.ExpFloat64() * 50000)
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := float64(vals[int(q*float64(len(vals)))-1])
		got := float64(h.Quantile(q))
		if got < want*0.96 || got > want*1.04 {
			t.Errorf("q%v = %v, exact %v", q, time.Duration(got), time.Duration(want))
		}
	}
}

func BenchmarkRecord(b *testing.B) {
	var h Histogram
	for i := range b.N {
		h.Record(int64(i&0xfffff) * 37)
	}
}
