package main

import (
	"math"
	"testing"
)

func TestSpreadOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want spread
	}{
		{"none", nil, spread{}},
		{"one", []float64{6.1}, spread{n: 1, mean: 6.1, min: 6.1, max: 6.1}},
		{"two", []float64{1, 3}, spread{n: 2, mean: 2, min: 1, max: 3, sd: math.Sqrt2}},
		{"four", []float64{2, 4, 4, 6}, spread{n: 4, mean: 4, min: 2, max: 6, sd: math.Sqrt(8.0 / 3)}},
		{"negative differences", []float64{-1, 1}, spread{n: 2, mean: 0, min: -1, max: 1, sd: math.Sqrt2}},
		{"all equal", []float64{5, 5, 5}, spread{n: 3, mean: 5, min: 5, max: 5}},
	} {
		got := spreadOf(tc.in)
		if got.n != tc.want.n || !near(got.mean, tc.want.mean) || !near(got.min, tc.want.min) || !near(got.max, tc.want.max) || !near(got.sd, tc.want.sd) {
			t.Errorf("%s: spreadOf(%v) = %+v, want %+v", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestSpreadFormat(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want string
	}{
		{nil, "not measured"},
		{[]float64{6.12}, "6.1 us (n=1)"},
		{[]float64{4.2, 8, 6.1}, "6.1 us (4.2..8.0, sd 1.9, se 1.1, n=3)"},
	} {
		if got := spreadOf(tc.in).format("%.1f", " us"); got != tc.want {
			t.Errorf("format(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
