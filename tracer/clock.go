package tracer

import (
	"time"

	"golang.org/x/sys/unix"
)

// clock turns the kernel's CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns)
// into wall-clock time. The offset is taken once per tracer: monotonic
// time does not jump, so durations stay exact even if the wall clock is
// stepped later.
type clock struct{ offset int64 }

func newClock() clock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return clock{offset: time.Now().UnixNano() - ts.Nano()}
}

func (c clock) wall(mono uint64) time.Time { return time.Unix(0, int64(mono)+c.offset) }

// mono returns the current CLOCK_MONOTONIC time in ns, the BPF timebase.
func (c clock) mono() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}
