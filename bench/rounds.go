// The bench's phases: saturation rounds, the fixed-rate phase (its twins
// in twin.go), the zero-loss rate, and what each result keeps.

package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"time"
)

const (
	usersRate    = 5000  // requests/s of the /users fixed-rate phases
	callsRate    = 2000  // requests/s of the /call/http/N phases
	zeroLossGoal = 20000 // requests/s the zero-loss phase should show
	pairWarm     = 2 * time.Second
	// callWarm: a traced call phase starts its load right after attach
	// (the task probes stay only while client calls come) and measures
	// after this much of it.
	callWarm = 3 * time.Second
)

// phaseResult is one throughput phase at saturation.
type phaseResult struct {
	load     loadResult
	targetUs float64 // target CPU per request, us
	tracerUs float64 // rustscope CPU per request, us
}

// rateResult is one fixed-rate phase.
type rateResult struct {
	c                  config
	path               string
	rate               float64
	load               loadResult
	targetUs, tracerUs float64 // CPU per request over the window
	rssMB, peakMB      float64 // steady (median of the second half) and peak RSS
	spans, lost, drops int64   // spans the sink received (warm-up's too); ring records lost; export drops
	links              int64   // client calls linked to their server span (rustscope's stop line)
	note               string  // what went against the plan
	// Twin phases (twin.go): which copy of the app was traced (or, in
	// the untraced check, would be), and the other copy, the control,
	// never traced and loaded alike over the same window.
	twin      int
	control   loadResult
	controlUs float64 // the control's target CPU per request
}

// expected is how many spans the phase's requests make.
func (rr rateResult) expected() int64 {
	perReq := int64(1)
	if rr.path != "/users/%d" {
		perReq = 2 // the server span and its client call's
	}
	return perReq * (rr.load.Requests + rr.load.Warm)
}

// ratePlan is a fixed-rate phase: rustscope attaches, then the load runs
// warm and is measured for d.
type ratePlan struct {
	rate    float64
	warm, d time.Duration
	settle  bool // wait for rustscope's steady state before the load (no task probes)
	calls   bool // the target makes client calls: the task probes must stay
	// cpuprofile, if set, is where headless rustscope writes its Go CPU
	// profile of the phase.
	cpuprofile string
}

// throughput runs one closed-loop phase against the app in config c.
func (h *harness) throughput(a *app, c config) (phaseResult, error) {
	t, err := h.start(a, c)
	if err != nil {
		return phaseResult{}, fmt.Errorf("start rustscope: %w", err)
	}
	if t != nil {
		t.settled()
	}
	res, u, err := h.measured(a, t, loadSpec{conns: 32, d: h.phase})
	if t != nil {
		if _, serr := t.stop(); err == nil {
			err = serr
		}
	}
	if err != nil {
		return phaseResult{}, err
	}
	return phaseResult{load: res, targetUs: perRequest(u.targetNs, res.Requests), tracerUs: perRequest(u.tracerNs, res.Requests)}, nil
}

// rated runs a fixed-rate phase in config c: the target's and rustscope's
// CPU per request, rustscope's memory, and what reached the sink. control,
// if not nil, is a twin of a, never traced, that its own load generator
// drives alike over the same window; both load generators are pinned to
// loadCPU.
func (h *harness) rated(a, control *app, c config, p ratePlan) (rateResult, error) {
	rr := rateResult{c: c, path: a.path, rate: p.rate}
	var extra []string
	if p.cpuprofile != "" {
		extra = []string{"--cpuprofile", p.cpuprofile}
	}
	t, err := h.start(a, c, extra...)
	if err != nil {
		return rr, fmt.Errorf("start rustscope: %w", err)
	}
	if t != nil && p.settle && !t.settled() {
		rr.note = noteStillPlaced
	}
	spans0 := h.sink.spans.Load()
	spec := loadSpec{conns: 32, rate: p.rate, warm: p.warm, d: p.d}
	var ctl *controlRun
	if control != nil {
		spec.cpus = loadCPU
		ctl = h.measureControl(control, spec)
	}
	res, u, err := h.measured(a, t, spec)
	if ctl != nil {
		err = errors.Join(err, ctl.into(&rr))
	}
	if err != nil {
		if t != nil {
			t.stop()
		}
		return rr, err
	}
	rr.load, rr.targetUs = res, perRequest(u.targetNs, res.Requests)
	if t == nil {
		return rr, nil
	}
	if p.calls && !t.tasksKept() {
		rr.note = noteNotKept
	}
	fields, err := t.stop() // flushes every span
	if err != nil {
		return rr, err
	}
	rr.tracerUs = perRequest(u.tracerNs, res.Requests)
	rr.rssMB, rr.peakMB = steadyMB(u.rss), float64(u.hwm)/1024
	rr.spans = h.sink.spans.Load() - spans0
	fmt.Sscan(fields["lost"], &rr.lost)
	fmt.Sscan(fields["dropped"], &rr.drops)
	fmt.Sscan(fields["links"], &rr.links)
	return rr, nil
}

// saturation runs the closed-loop rounds: untraced then headless, again
// and again, so drift on the VM hits both alike.
func (h *harness) saturation(r *report, a *app) error {
	for round := range h.rounds {
		for _, c := range []config{untraced, headless} {
			h.progress("saturation round %d/%d: %s (%s)", round+1, h.rounds, c, h.phase)
			p, err := h.throughput(a, c)
			if err != nil {
				return fmt.Errorf("throughput %s: %w", c, err)
			}
			r.phases[c] = append(r.phases[c], p)
		}
	}
	return nil
}

// sustained runs headless at the zero-loss goal, or at 90% of what the
// untraced target served at saturation when that is lower.
func (h *harness) sustained(r *report, a *app) error {
	r.lossRate = zeroLossGoal
	if sat := r.summary(untraced).rps; sat > 0 {
		r.lossRate = min(zeroLossGoal, float64(int(0.9*sat/100))*100) // a round figure
	}
	h.progress("zero loss: headless at %.0f/s for %s", r.lossRate, h.lossPhase)
	prof, err := os.CreateTemp("", "rustscope-bench-*.prof")
	if err != nil {
		return err
	}
	prof.Close()
	defer os.Remove(prof.Name())
	rr, err := h.rated(a, nil, headless, ratePlan{rate: r.lossRate, d: h.lossPhase, settle: true, cpuprofile: prof.Name()})
	if err != nil {
		return fmt.Errorf("zero loss at %.0f/s: %w", r.lossRate, err)
	}
	r.loss = rr
	if r.profile, err = readProfileAreas(prof.Name()); err != nil {
		return fmt.Errorf("read rustscope's cpu profile: %w", err)
	}
	return nil
}

// progress logs a step with the time since the run began.
func (h *harness) progress(format string, a ...any) {
	log.Printf("[%s] %s", time.Since(h.began).Round(time.Second), fmt.Sprintf(format, a...))
}

// estimate is about how long a run with these settings takes.
func (h *harness) estimate() time.Duration {
	const attach = 3 * time.Second // to "attached", and to stop, on a busy machine
	sat := time.Duration(h.rounds) * (2*h.phase + settle + attach)
	users := time.Duration(h.pairs) * (4*(h.pairPhase+pairWarm) + 3*(settle+attach) + 2*time.Second) // the TUI starts and quits slower
	calls := time.Duration(h.pairs) * (2*(h.pairPhase+callWarm) + attach)
	loss := settle + attach + h.lossPhase
	stats := settle + pairWarm + callWarm + 2*attach + time.Duration(h.pairs)*h.pairPhase
	rest := 15 * time.Second // warm-up, attach times
	if h.gobench {
		rest += 75 * time.Second
	}
	return sat + users + calls + loss + stats + rest
}
