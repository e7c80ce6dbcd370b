package main

import (
	"fmt"
	"math"
)

// spread summarises repeated measurements of one figure (per pair, per
// round or per window): the report prints it next to the mean so a reader
// sees whether a difference is larger than the noise.
type spread struct {
	n              int
	mean, min, max float64
	sd             float64 // sample standard deviation (n-1); 0 when n < 2
}

// se is the standard error of the mean (sd/sqrt(n)): the noise of the
// mean the report gives, where sd is that of one value.
func (s spread) se() float64 {
	if s.n < 2 {
		return 0
	}
	return s.sd / math.Sqrt(float64(s.n))
}

func spreadOf(v []float64) spread {
	if len(v) == 0 {
		return spread{}
	}
	s := spread{n: len(v), min: v[0], max: v[0]}
	for _, x := range v {
		s.mean += x
		s.min, s.max = min(s.min, x), max(s.max, x)
	}
	s.mean /= float64(len(v))
	if len(v) < 2 {
		return s
	}
	var ss float64
	for _, x := range v {
		ss += (x - s.mean) * (x - s.mean)
	}
	s.sd = math.Sqrt(ss / float64(len(v)-1))
	return s
}

// format prints the mean and, when there are several values, their range
// standard deviation and standard error of the mean, each with verb (e.g.
// "%.1f") and unit: "6.1 us (4.2..8.0, sd 1.6, se 0.8, n=4)".
func (s spread) format(verb, unit string) string {
	v := func(x float64) string { return fmt.Sprintf(verb, x) }
	switch s.n {
	case 0:
		return "not measured"
	case 1:
		return fmt.Sprintf("%s%s (n=1)", v(s.mean), unit)
	}
	return fmt.Sprintf("%s%s (%s..%s, sd %s, se %s, n=%d)", v(s.mean), unit, v(s.min), v(s.max), v(s.sd), v(s.se()), s.n)
}
