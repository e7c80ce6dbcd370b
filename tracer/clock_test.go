package tracer

import (
	"testing"
	"time"
)

// TestClock: a converted monotonic time lands on the wall clock, and a
// span keeps its monotonic duration when the offset moves between its
// ends (a wall clock stepped while it ran).
func TestClock(t *testing.T) {
	c := newClock()
	before := time.Now()
	got := c.wall(c.mono())
	after := time.Now()
	if got.Before(before.Add(-time.Millisecond)) || got.After(after.Add(time.Millisecond)) {
		t.Errorf("wall(mono()) = %v, want within %v..%v", got, before, after)
	}
	c.offset.Add(int64(5 * time.Millisecond)) // a step of the wall clock
	s, e := c.spanTimes(1_000_000, 43_000_000)
	if d := e.Sub(s); d != 42*time.Millisecond {
		t.Errorf("span duration %v, want 42ms", d)
	}
	c.sync()
	if got := c.wall(c.mono()); got.Sub(time.Now()).Abs() > time.Millisecond {
		t.Errorf("after sync wall(mono()) is %v off the wall clock", got.Sub(time.Now()))
	}
}
