package tracer

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// clock turns the kernel's CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns)
// into wall-clock time. The offset between the two clocks is taken again
// every second (sync): the wall clock is stepped now and then (a time
// daemon, a hypervisor's time sync), and spans must stay on the wall clock
// of the programs that read them beside their own timestamps. A span's
// duration is always the monotonic difference (spanTimes), never changed
// by a step.
type clock struct{ offset atomic.Int64 }

// clockStep is the least move of the offset logged as a step of the wall
// clock; smaller ones are the jitter of reading two clocks.
const clockStep = 100 * time.Microsecond

func newClock() *clock {
	c := &clock{}
	c.sync()
	return c
}

// sync takes the wall-minus-monotonic offset again and says how far it
// moved. The wall clock is read between two monotonic reads and the
// narrowest of a few tries is kept: a thread preempted between the reads
// would shift every span by as long as it waited.
func (c *clock) sync() time.Duration {
	best, bestGap := int64(0), int64(-1)
	for range 4 {
		m0 := c.mono()
		w := time.Now().UnixNano()
		m1 := c.mono()
		if gap := int64(m1 - m0); bestGap < 0 || gap < bestGap {
			best, bestGap = w-int64(m0+(m1-m0)/2), gap
		}
		if bestGap < 20_000 {
			break
		}
	}
	return time.Duration(best - c.offset.Swap(best))
}

func (c *clock) wall(mono uint64) time.Time { return time.Unix(0, int64(mono)+c.offset.Load()) }

// spanTimes gives the wall times of a span that ran from start to end
// (monotonic ns): its duration is end-start whatever the offset does.
func (c *clock) spanTimes(start, end uint64) (time.Time, time.Time) {
	s := c.wall(start)
	return s, s.Add(time.Duration(int64(end - start)))
}

// mono returns the current CLOCK_MONOTONIC time in ns, the BPF timebase.
func (c *clock) mono() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}
