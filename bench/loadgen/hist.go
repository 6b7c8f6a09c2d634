package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the precision of a Histogram: each power of two is split
// into 1<<subBits buckets, so a recorded value is known to within 1/32
// (about 3%). Values below 1<<subBits are exact.
const subBits = 5

// maxBits caps the values a Histogram keeps: anything from 1<<maxBits ns
// (about 69 s) up is counted in the last bucket.
const maxBits = 36

const nBuckets = (maxBits - subBits + 1) << subBits

// Histogram is a log-bucketed histogram of durations in nanoseconds, in the
// manner of HdrHistogram: recording is an index computation and an
// increment, with no allocation. It is not safe for concurrent use; give
// each goroutine its own and Merge them.
type Histogram struct {
	counts [nBuckets]uint64
	total  uint64
	max    int64
}

func bucketOf(v int64) int {
	if v < 1<<subBits {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	if v >= 1<<maxBits {
		v = 1<<maxBits - 1
	}
	msb := bits.Len64(uint64(v)) - 1 // >= subBits
	shift := msb - subBits
	sub := int(v>>shift) & (1<<subBits - 1)
	return (shift+1)<<subBits + sub
}

// bucketRange returns the lowest value of bucket i and its width.
func bucketRange(i int) (lo, width int64) {
	if i < 1<<subBits {
		return int64(i), 1
	}
	shift := i>>subBits - 1
	sub := int64(i & (1<<subBits - 1))
	return (1<<subBits + sub) << shift, 1 << shift
}

// Record counts one value.
func (h *Histogram) Record(ns int64) {
	h.counts[bucketOf(ns)]++
	h.total++
	if ns > h.max {
		h.max = ns
	}
}

// RecordN counts n occurrences of one value.
func (h *Histogram) RecordN(ns int64, n uint64) {
	h.counts[bucketOf(ns)] += n
	h.total += n
	if ns > h.max {
		h.max = ns
	}
}

// Merge adds the counts of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	if o.max > h.max {
		h.max = o.max
	}
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Max returns the largest value recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Quantile returns the value below which a fraction q of the recorded values
// fall: the middle of the bucket holding the ceil(q*count)-th smallest value
// (never more than the largest value recorded).
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := bucketRange(i)
			v := lo + w/2
			if v > h.max {
				v = h.max
			}
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}
