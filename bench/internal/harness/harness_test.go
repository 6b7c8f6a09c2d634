package harness

import (
	"slices"
	"testing"
)

type cellName string

func (c cellName) String() string { return string(c) }

func TestPairedRatios(t *testing.T) {
	c := cellName("cell")
	r := NewRun[cellName, float64]([]string{"a", "b", "d"}, []cellName{c})
	v := func(x float64) *float64 { return &x }
	// Round 2 of b failed, round 3 of a failed.
	r.Loads[Key(c, "a")] = []*float64{v(10), v(20), v(30), nil}
	r.Loads[Key(c, "b")] = []*float64{v(5), v(40), nil, v(1)}
	r.Loads[Key(c, "d")] = []*float64{v(8), v(10), v(10), v(1)}
	id := func(x *float64) float64 { return *x }

	got := r.PairedRatios(c, "a", []string{"b", "d"}, id)
	// Round 0: 10 over the best of 5 and 8; round 1: 20/40; round 2 has no
	// figure for b and round 3 none for a, so both are left out.
	if want := []float64{10.0 / 8, 0.5}; !slices.Equal(got, want) {
		t.Errorf("PairedRatios = %v, want %v", got, want)
	}
	if got := PairedText(got); got != "0.88 (0.50–1.25, ≥1 in 1/2)" {
		t.Errorf("PairedText = %q", got)
	}
	if got := PairedText(nil); got != "–" {
		t.Errorf("PairedText(nil) = %q, want –", got)
	}
}

func TestRatioPair(t *testing.T) {
	c := cellName("cell")
	r := NewRun[cellName, float64]([]string{"a", "b", "d"}, []cellName{c})
	v := func(x float64) *float64 { return &x }
	r.Loads[Key(c, "a")] = []*float64{v(9), v(12), v(30)}
	r.Loads[Key(c, "b")] = []*float64{v(5), v(6), v(7)}
	r.Loads[Key(c, "d")] = []*float64{v(8), v(10), nil}
	id := func(x *float64) float64 { return *x }

	one := RatioPair{Num: "a", Dens: []string{"b"}}
	two := RatioPair{Num: "a", Dens: []string{"b", "d"}}
	if got := one.Header(); got != "a / b" {
		t.Errorf("Header = %q", got)
	}
	if got := two.Header(); got != "a / best of b, d" {
		t.Errorf("Header = %q", got)
	}
	// Medians: a 12, b 6, d 9 (of 8 and 10).
	if got := r.MedianRatioText(c, one, id); got != "2.00" {
		t.Errorf("MedianRatioText(a / b) = %q, want 2.00", got)
	}
	if got := r.MedianRatioText(c, two, id); got != "1.33" {
		t.Errorf("MedianRatioText(a / best of b, d) = %q, want 1.33", got)
	}
	if got := r.MedianRatioText(c, RatioPair{Num: "a", Dens: []string{"missing"}}, id); got != "–" {
		t.Errorf("MedianRatioText against a server with no figures = %q, want –", got)
	}
}
