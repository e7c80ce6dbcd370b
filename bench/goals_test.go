package main

import "testing"

// The added target CPU is met only when its noise is known and under 1 us.
func TestAddedGoal(t *testing.T) {
	phases := func(off, on []float64) map[config][]rateResult {
		m := map[config][]rateResult{}
		for i := range off {
			m[headless] = append(m[headless], rateResult{targetUs: on[i], controlUs: off[i]})
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		off, on []float64
		mean    float64
		met     bool
	}{
		{"small and steady", []float64{30, 31, 29, 30}, []float64{31.5, 32.4, 30.6, 31.5}, 1.5, true},
		{"small but noisy", []float64{30, 30, 30, 30}, []float64{28, 34, 29, 35}, 1.5, false},
		{"steady but large", []float64{30, 30}, []float64{36, 36.2}, 6.1, false},
		{"one pair: noise unknown", []float64{30}, []float64{31}, 1, false},
		{"no pairs", nil, nil, 0, false},
	} {
		g := (&report{users: phases(tc.off, tc.on)}).addedGoal()
		if !near(g.s.mean, tc.mean) || g.met != tc.met {
			t.Errorf("%s: mean %v met %v, want %v %v", tc.name, g.s.mean, g.met, tc.mean, tc.met)
		}
	}
}

// Zero loss is shown when nothing is lost anywhere and the target kept up.
func TestLossGoal(t *testing.T) {
	run := func(reqs, spans, lost, drops int64, secs float64) rateResult {
		return rateResult{path: "/users/%d", rate: 20000, load: loadResult{Requests: reqs, Seconds: secs}, spans: spans, lost: lost, drops: drops}
	}
	for _, tc := range []struct {
		name  string
		rr    rateResult
		met   bool
		value float64
	}{
		{"all delivered", run(600000, 600000, 0, 0, 30), true, 20000},
		{"ring records lost", run(600000, 600000, 3, 0, 30), false, 0},
		{"export drops", run(600000, 600000, 0, 1, 30), false, 0},
		{"spans missing at the sink", run(600000, 599990, 0, 0, 30), false, 0},
		{"the target fell behind", run(450000, 450000, 0, 0, 30), false, 0},
		{"not run", rateResult{}, false, 0},
	} {
		r := &report{lossRate: 20000, loss: tc.rr}
		g := r.lossGoal()
		if g.met != tc.met || g.value != tc.value {
			t.Errorf("%s: met %v value %v, want %v %v (%s)", tc.name, g.met, g.value, tc.met, tc.value, g.measured)
		}
	}
}
