package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/rustscope/rustscope/bpf"
)

// progCost is one of rustscope's BPF programs over a phase.
type progCost struct {
	name               string
	runsPerReq         float64
	nsPerRun, usPerReq float64
}

// progCounters are the kernel's run count and run time of every loaded BPF
// program that carries the name of one of rustscope's, by program ID.
func progCounters() (map[ebpf.ProgramID]ebpf.ProgramStats, map[ebpf.ProgramID]string, error) {
	spec, err := bpf.LoadWire()
	if err != nil {
		return nil, nil, fmt.Errorf("load BPF spec: %w", err)
	}
	ours := map[string]bool{}
	for name := range spec.Programs {
		ours[name[:min(len(name), unix.BPF_OBJ_NAME_LEN-1)]] = true // the kernel keeps 15 characters
	}
	stats, names := map[ebpf.ProgramID]ebpf.ProgramStats{}, map[ebpf.ProgramID]string{}
	var id ebpf.ProgramID
	for {
		id, err = ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			return stats, names, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("list BPF programs: %w", err)
		}
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue // unloaded meanwhile
		}
		info, ierr := p.Info()
		st, serr := p.Stats()
		p.Close()
		if ierr != nil || serr != nil || !ours[info.Name] {
			continue
		}
		stats[id], names[id] = *st, info.Name
	}
}

// enableProgStats turns on the kernel's BPF run-time statistics until the
// returned closer is closed. They cost a little on every program run, so
// only the phase that reports them has them.
func enableProgStats() (interface{ Close() error }, error) {
	c, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		return nil, fmt.Errorf("enable BPF statistics: %w", err)
	}
	return c, nil
}

// progCosts is what each of rustscope's programs cost per request served
// between two snapshots of progCounters.
func progCosts(before, after map[ebpf.ProgramID]ebpf.ProgramStats, names map[ebpf.ProgramID]string, reqs int64) []progCost {
	runtime, runs := map[string]time.Duration{}, map[string]uint64{}
	for id, a := range after {
		b := before[id]
		runs[names[id]] += a.RunCount - b.RunCount
		runtime[names[id]] += a.Runtime - b.Runtime
	}
	var out []progCost
	for name, n := range runs {
		if n == 0 || reqs == 0 {
			continue
		}
		ns := float64(runtime[name].Nanoseconds())
		out = append(out, progCost{name: name, runsPerReq: float64(n) / float64(reqs), nsPerRun: ns / float64(n), usPerReq: ns / float64(reqs) / 1000})
	}
	slices.SortFunc(out, func(a, b progCost) int {
		switch {
		case a.usPerReq > b.usPerReq:
			return -1
		case a.usPerReq < b.usPerReq:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return out
}

// bpfResult is what rustscope's BPF programs cost over a kernel-statistics
// phase.
type bpfResult struct {
	progs   []progCost // over all windows
	windows []float64  // all programs' us per request, per window
	note    string
}

// kernelStats runs rustscope headless on a with the kernel's BPF
// statistics on, and the load at p.rate in h.pairs windows of half a pair
// phase each, after p.warm (and rustscope's steady state when p.settle):
// each program's cost over them all, and the total per window for its
// spread. The load stops for a moment between windows; the task probes
// outlast that.
func (h *harness) kernelStats(a *app, p ratePlan) (bpfResult, error) {
	var r bpfResult
	stats, err := enableProgStats()
	if err != nil {
		return r, err
	}
	defer stats.Close()
	t, _, err := h.startHeadless(a.pid())
	if err != nil {
		return r, fmt.Errorf("start rustscope: %w", err)
	}
	defer t.stop()
	if p.settle && !t.settled() {
		r.note = noteStillPlaced
	}
	if p.warm > 0 {
		if _, err := h.load(a, 32, p.warm, p.rate); err != nil {
			return r, err
		}
	}
	first, names, err := progCounters()
	if err != nil {
		return r, err
	}
	prev, reqs := first, int64(0)
	for range max(h.pairs, 1) {
		res, err := h.load(a, 32, h.pairPhase/2, p.rate)
		if err != nil {
			return r, err
		}
		cur, curNames, err := progCounters()
		if err != nil {
			return r, err
		}
		maps.Copy(names, curNames)
		var us float64
		for _, c := range progCosts(prev, cur, names, res.Requests) {
			us += c.usPerReq
		}
		r.windows = append(r.windows, us)
		prev, reqs = cur, reqs+res.Requests
	}
	if p.calls && !t.tasksKept() {
		r.note = noteNotKept
	}
	r.progs = progCosts(first, prev, names, reqs)
	return r, nil
}
