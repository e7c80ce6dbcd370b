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

func TestPourTasks(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name      string
		level     float64
		polls     uint64
		d         time.Duration
		budget    int
		wantLevel float64
		wantRest  time.Duration
	}{
		{name: "within the budget", polls: 25, d: 100 * ms, budget: 250, wantLevel: 0},
		{name: "under it drains, never below empty", level: 10, polls: 0, d: 100 * ms, budget: 250, wantLevel: 0},
		{name: "a little over fills", level: 100, polls: 50, d: 100 * ms, budget: 250, wantLevel: 125},
		{name: "full: rests until empty", level: 240, polls: 60, d: 100 * ms, budget: 250, wantRest: 1100 * ms},
		{name: "far over: a short window, a long rest", polls: 600, d: 50 * ms, budget: 250, wantRest: 2350 * ms},
		{name: "capped", polls: 1e6, d: 50 * ms, budget: 250, wantRest: maxTaskRest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			level, rest := pourTasks(tc.level, tc.polls, tc.d, tc.budget)
			if math.Abs(level-tc.wantLevel) > 1e-9 || (rest-tc.wantRest).Abs() > time.Microsecond {
				t.Errorf("pourTasks(%v, %d, %v, %d) = %v, %v; want %v, %v", tc.level, tc.polls, tc.d, tc.budget, level, rest, tc.wantLevel, tc.wantRest)
			}
		})
	}
}

// TestPourTasksKeepsTheBudget: whatever the rate, placed and resting by
// turns, the probes see about the budget a second on average.
func TestPourTasksKeepsTheBudget(t *testing.T) {
	const tick = 50 * time.Millisecond
	for _, rate := range []float64{300, 1000, 12000} {
		var level float64
		var seen float64
		var resting time.Duration
		for at := time.Duration(0); at < 10*time.Minute; at += tick {
			if resting > 0 {
				resting -= tick
				continue
			}
			polls := rate * tick.Seconds()
			seen += polls
			var rest time.Duration
			level, rest = pourTasks(level, uint64(polls), tick, 250)
			resting = rest
		}
		if avg := seen / (10 * time.Minute).Seconds(); avg > 250*1.05 || avg < 250*0.8 {
			t.Errorf("at %v polls/s the probes saw %.0f a second, want about 250", rate, avg)
		}
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
