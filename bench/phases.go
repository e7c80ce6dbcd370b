// One phase of load with what it cost: the load generator's window and the
// CPU (schedstat) and memory of the target and rustscope over it.

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// loadSpec is one run of the load generator.
type loadSpec struct {
	conns   int
	rate    float64       // requests/s; 0: closed loop
	warm, d time.Duration // sent before measuring; measured
	cpus    string        // taskset list to pin it to; "": unpinned
}

// load runs the load generator for d, measured from its start.
func (h *harness) load(a *app, conns int, d time.Duration, rate float64) (loadResult, error) {
	return h.loadWith(a, loadSpec{conns: conns, rate: rate, d: d}, nil)
}

// loadWith runs the load generator as its own process, so its CPU is not
// the harness's; measuring, if set, is called as its measured window
// begins.
func (h *harness) loadWith(a *app, s loadSpec, measuring func()) (loadResult, error) {
	cmd := pinned(s.cpus, h.self, "load", "-url", a.base, "-path", a.path, "-conns", fmt.Sprint(s.conns),
		"-warm", s.warm.String(), "-duration", s.d.String(), "-rate", fmt.Sprint(s.rate), "-ca", a.ca)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return loadResult{}, fmt.Errorf("pipe load generator: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return loadResult{}, fmt.Errorf("start load generator: %w", err)
	}
	br := bufio.NewReader(stdout)
	marker, _ := br.ReadString('\n')
	if strings.TrimSpace(marker) == "measuring" && measuring != nil {
		measuring()
	}
	out, _ := io.ReadAll(br)
	if err := cmd.Wait(); err != nil {
		return loadResult{}, fmt.Errorf("run load generator: %w", err)
	}
	if strings.TrimSpace(marker) != "measuring" {
		return loadResult{}, fmt.Errorf("load generator: first line %q, want \"measuring\"", marker)
	}
	var res loadResult
	if err := json.Unmarshal(out, &res); err != nil {
		return loadResult{}, fmt.Errorf("decode load result %q: %w", out, err)
	}
	if res.Errors > 0 {
		return res, fmt.Errorf("load generator: %d of %d requests failed", res.Errors, res.Requests+res.Warm+res.Errors)
	}
	return res, nil
}

// usage is what the target and rustscope used over a measured window.
type usage struct {
	targetNs, tracerNs int64   // CPU time, all threads
	rss                []int64 // rustscope's RSS, KiB, about every second
	hwm                int64   // rustscope's peak RSS, KiB
}

// sampler reads the target's and rustscope's per-thread CPU time at the
// start of a window, every second and at its end.
type sampler struct {
	target, tracer int // PIDs; tracer 0: untraced
	mu             sync.Mutex
	tcpu, rcpu     cpuMeter
	rss            []int64
	err            error
	stop, done     chan struct{}
}

func newSampler(target, tracer int) *sampler {
	return &sampler{target: target, tracer: tracer, stop: make(chan struct{}), done: make(chan struct{})}
}

func (s *sampler) sample() {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.tcpu.sample(s.target)
	if s.tracer > 0 {
		err = errors.Join(err, s.rcpu.sample(s.tracer))
		if rss, _, merr := memKB(s.tracer); merr == nil {
			s.rss = append(s.rss, rss)
		}
	}
	if s.err == nil {
		s.err = err
	}
}

// begin takes the first sample and samples every second until end.
func (s *sampler) begin() {
	s.sample()
	go func() {
		defer close(s.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				s.sample()
			}
		}
	}()
}

// end takes the last sample (when begin was called) and returns the usage.
func (s *sampler) end() (usage, error) {
	if s.tcpu.base == nil {
		return usage{}, errors.New("measure: the window never began")
	}
	close(s.stop)
	<-s.done
	s.sample()
	u := usage{targetNs: s.tcpu.total(), tracerNs: s.rcpu.total(), rss: s.rss}
	if s.tracer > 0 {
		_, u.hwm, _ = memKB(s.tracer)
	}
	if s.err != nil {
		return u, fmt.Errorf("sample CPU: %w", s.err)
	}
	return u, nil
}

// measured runs the load on a, traced by t (nil: untraced), and measures
// its window.
func (h *harness) measured(a *app, t *tracer, s loadSpec) (loadResult, usage, error) {
	tracerPID := 0
	if t != nil {
		tracerPID = t.pid
	}
	smp := newSampler(a.pid(), tracerPID)
	res, err := h.loadWith(a, s, smp.begin)
	if err != nil {
		if smp.tcpu.base != nil {
			smp.end()
		}
		return res, usage{}, err
	}
	u, err := smp.end()
	return res, u, err
}

// perRequest is CPU time in us per request served.
func perRequest(ns int64, reqs int64) float64 {
	if reqs == 0 {
		return 0
	}
	return float64(ns) / 1e3 / float64(reqs)
}

// steadyMB is the median of the second half of RSS samples (KiB), in MB.
func steadyMB(rss []int64) float64 {
	half := slices.Clone(rss[len(rss)/2:])
	if len(half) == 0 {
		return 0
	}
	slices.Sort(half)
	return float64(half[len(half)/2]) / 1024
}

// start runs rustscope on a as config c says (nil: untraced).
func (h *harness) start(a *app, c config, extra ...string) (*tracer, error) {
	var t *tracer
	var err error
	switch c {
	case headless:
		t, _, err = h.startHeadless(a.pid(), extra...)
	case wireOnly:
		t, _, err = h.startHeadless(a.pid(), append([]string{"--wire-only"}, extra...)...)
	case tui:
		t, err = h.startTUI(a.pid())
	}
	return t, err
}
