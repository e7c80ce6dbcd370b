package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// CPU time from the scheduler, per thread: /proc/PID/task/TID/schedstat's
// first field is the nanoseconds the thread has run. utime+stime in
// /proc/PID/stat count in 10 ms ticks, sampled: too coarse for the
// microseconds per request the goals are about.

// parseSchedstat is the time on CPU, in ns, from a schedstat file's text.
func parseSchedstat(s string) (int64, error) {
	f := strings.Fields(s)
	if len(f) < 1 {
		return 0, errors.New("parse schedstat: empty")
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || ns < 0 {
		return 0, fmt.Errorf("parse schedstat %q: not a count of ns", f[0])
	}
	return ns, nil
}

// threadCPU is the time on CPU of each of pid's threads, by thread ID.
func threadCPU(pid int) (map[int]int64, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list threads of %d: %w", pid, err)
	}
	cpu := make(map[int]int64, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // exited since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("read schedstat of %d/%d: %w", pid, tid, err)
		}
		if cpu[tid], err = parseSchedstat(string(b)); err != nil {
			return nil, err
		}
	}
	return cpu, nil
}

// cpuMeter sums a process's CPU time over a window from per-thread
// snapshots: a thread seen at the start counts from its value then, one
// that appears later from zero (it was born in the window), and one that
// exits counts up to the last snapshot that saw it. Snapshots between the
// first and the last keep that loss to the time between two of them.
type cpuMeter struct {
	base, last map[int]int64
}

// observe takes one snapshot; the first sets the base.
func (m *cpuMeter) observe(cpu map[int]int64) {
	if m.base == nil {
		m.base, m.last = cpu, map[int]int64{}
		return
	}
	for tid, ns := range cpu {
		m.last[tid] = max(m.last[tid], ns)
	}
}

// sample takes a snapshot of pid.
func (m *cpuMeter) sample(pid int) error {
	cpu, err := threadCPU(pid)
	if err != nil {
		return err
	}
	m.observe(cpu)
	return nil
}

// total is the CPU time spent between the first snapshot and the last.
func (m *cpuMeter) total() int64 {
	var sum int64
	for tid, ns := range m.last {
		sum += max(0, ns-m.base[tid])
	}
	return sum
}
