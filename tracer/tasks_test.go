package tracer

import (
	"math"
	"testing"
	"time"
)

// tasksPlaced makes tg's task probes placed from mono time live on.
func tasksPlaced(tg *Target, live uint64) {
	tg.tasks.off.Store(math.MaxUint64)
	tg.tasks.live.Store(live)
}

func TestTaskRest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		polls  uint64
		d      time.Duration
		budget int
		want   time.Duration
	}{
		{name: "no budget", polls: 1e6, d: time.Second, budget: 0, want: 0},
		{name: "within the budget", polls: 1000, d: time.Second, budget: 1000, want: 0},
		{name: "too short to tell", polls: 1e6, d: 500 * time.Millisecond, budget: 1000, want: 0},
		{name: "twice the budget", polls: 2000, d: time.Second, budget: 1000, want: time.Second},
		{name: "twelve times, over two seconds", polls: 24000, d: 2 * time.Second, budget: 1000, want: 22 * time.Second},
		{name: "capped", polls: 1e6, d: time.Second, budget: 100, want: maxTaskRest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := taskRest(tc.polls, tc.d, tc.budget); got != tc.want {
				t.Errorf("taskRest(%d, %v, %d) = %v, want %v", tc.polls, tc.d, tc.budget, got, tc.want)
			}
		})
	}
}

func TestTasksLiveAt(t *testing.T) {
	var tp taskProbes
	if tp.liveAt(5) {
		t.Error("never placed, yet live")
	}
	tp.off.Store(math.MaxUint64)
	tp.live.Store(100)
	for ts, want := range map[uint64]bool{99: false, 100: true, 1e9: true} {
		if got := tp.liveAt(ts); got != want {
			t.Errorf("placed at 100: liveAt(%d) = %v, want %v", ts, got, want)
		}
	}
	tp.off.Store(200)
	for ts, want := range map[uint64]bool{150: true, 200: false, 300: false} {
		if got := tp.liveAt(ts); got != want {
			t.Errorf("placed at 100, removed at 200: liveAt(%d) = %v, want %v", ts, got, want)
		}
	}
}
