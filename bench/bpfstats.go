package main

import (
	"errors"
	"fmt"
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
