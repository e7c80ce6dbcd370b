package main

import (
	"os"
	"testing"
)

func TestParseSchedstat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "295901495 533349296 354\n", want: 295901495},
		{in: "0 0 0", want: 0},
		{in: "  17 1 1", want: 17},
		{in: "", bad: true},
		{in: "\n", bad: true},
		{in: "abc 1 2", bad: true},
		{in: "-5 1 2", bad: true},
		{in: "1.5 1 2", bad: true},
	} {
		got, err := parseSchedstat(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("parseSchedstat(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

// A window's CPU counts what each thread ran in it: from its value at the
// start, from zero for a thread born later, up to the last snapshot of a
// thread that exited.
func TestCPUMeter(t *testing.T) {
	for _, tc := range []struct {
		name  string
		snaps []map[int]int64
		want  int64
	}{
		{"one snapshot", []map[int]int64{{1: 100}}, 0},
		{"steady threads", []map[int]int64{{1: 100, 2: 50}, {1: 150, 2: 80}}, 80},
		{"a thread born in the window", []map[int]int64{{1: 100}, {1: 110, 3: 40}, {1: 120, 3: 70}}, 90},
		{"a thread that exited", []map[int]int64{{1: 100, 2: 50}, {1: 110, 2: 90}, {1: 130}}, 70},
		{"a thread gone before any later snapshot", []map[int]int64{{1: 100, 2: 50}, {1: 130}}, 30},
	} {
		var m cpuMeter
		for _, s := range tc.snaps {
			m.observe(s)
		}
		if got := m.total(); got != tc.want {
			t.Errorf("%s: total = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestThreadCPU(t *testing.T) {
	cpu, err := threadCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cpu[os.Getpid()]; !ok || len(cpu) < 1 {
		t.Fatalf("threadCPU(self) = %v: want the main thread among them", cpu)
	}
}
