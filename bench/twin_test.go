package main

import (
	"slices"
	"testing"
)

func TestTracedTwin(t *testing.T) {
	var got []int
	for i := range 5 {
		got = append(got, tracedTwin(i))
	}
	if want := []int{0, 1, 0, 1, 0}; !slices.Equal(got, want) {
		t.Errorf("traced twins %v, want %v (they take turns, A first)", got, want)
	}
}

// Each phase is (traced twin, control) CPU per request, in us.
func TestTwinDiffs(t *testing.T) {
	type twinCPU [2]float64
	phases := func(check, traced []twinCPU) map[config][]rateResult {
		m := map[config][]rateResult{}
		for _, p := range check {
			m[untraced] = append(m[untraced], rateResult{targetUs: p[0], controlUs: p[1]})
		}
		for _, p := range traced {
			m[headless] = append(m[headless], rateResult{targetUs: p[0], controlUs: p[1]})
		}
		return m
	}
	for _, tc := range []struct {
		name                string
		check, traced       []twinCPU
		added, checked, bys []float64
	}{
		{
			name:  "drift cancels within a window, not across",
			check: []twinCPU{{30, 30}, {40, 40}}, traced: []twinCPU{{36, 34}, {47, 45}},
			added: []float64{2, 2}, checked: []float64{0, 0}, bys: []float64{4, 5},
		},
		{
			name:  "the bystander is against both twins' mean in the check",
			check: []twinCPU{{31, 29}}, traced: []twinCPU{{33, 31}},
			added: []float64{2}, checked: []float64{2}, bys: []float64{1},
		},
		{
			name:  "a traced phase without its check has no bystander figure",
			check: []twinCPU{{30, 30}}, traced: []twinCPU{{32, 30}, {33, 31}},
			added: []float64{2, 2}, checked: []float64{0}, bys: []float64{0},
		},
		{name: "no phases"},
	} {
		m := phases(tc.check, tc.traced)
		for _, f := range []struct {
			what      string
			got, want []float64
		}{
			{"added", pairDiffs(m, headless), tc.added},
			{"untraced check", pairDiffs(m, untraced), tc.checked},
			{"bystander", bystanderDiffs(m, headless), tc.bys},
		} {
			if !slices.EqualFunc(f.got, f.want, near) {
				t.Errorf("%s: %s %v, want %v", tc.name, f.what, f.got, f.want)
			}
		}
	}
}
