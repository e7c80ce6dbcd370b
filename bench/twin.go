// The fixed-rate phases as twins: two copies of the app run at once on
// one CPU, each loaded alike by its own load generator; rustscope traces
// one, the other is the control, measured over the same window. On this
// VM a phase's CPU per request drifts by several microseconds from one
// phase to the next, far more than the cost measured; the twins feel the
// same drift at the same time, so it cancels in their difference.

package main

import (
	"fmt"
	"strings"
)

const (
	twinCPU = "1" // both twins, so they compete for the same core alike
	loadCPU = "0" // their load generators, off the twins' core
)

// twins are two copies of the release app serving the same path.
type twins struct {
	name string // for the log: "/users/N"
	apps [2]*app
}

// startTwins starts two copies of the release app pinned to twinCPU,
// their load to be sent to path.
func (h *harness) startTwins(path string, env ...string) (*twins, error) {
	return h.startTwinsOf(path, func() (*app, error) { return h.startApp(twinCPU, "release", env...) })
}

// startTwinsOf starts two copies of what start starts, their load to be
// sent to path.
func (h *harness) startTwinsOf(path string, start func() (*app, error)) (*twins, error) {
	tw := &twins{name: strings.ReplaceAll(path, "%d", "N")}
	for i := range tw.apps {
		a, err := start()
		if err != nil {
			tw.stop()
			return nil, fmt.Errorf("start twin %s: %w", twinName(i), err)
		}
		a.path = path
		tw.apps[i] = a
	}
	return tw, nil
}

func (tw *twins) stop() {
	for _, a := range tw.apps {
		if a != nil {
			a.stop()
		}
	}
}

func twinName(i int) string { return string(rune('A' + i)) }

// tracedTwin is the twin traced in pair i: they take turns, so a steady
// difference between the two copies (where the scheduler puts them, their
// memory) cancels in the mean over an even number of pairs.
func tracedTwin(i int) int { return i % 2 }

// fixedRate runs the twin phases: on /users at usersRate, pairs of the
// untraced check, headless, TUI and wire-only; the same over HTTPS, the
// untraced check and headless; on /call/http/N at
// callsRate, the untraced check and headless with the task probes placed.
// The callers share one untraced downstream, the unpinned app at
// downstream. Rustscope starts before each traced phase and stops after
// it. CPU per request is compared here, where every config does the same
// work per second (at saturation a slower config batches more requests
// per wake-up, which blurs per-request cost).
func (h *harness) fixedRate(r *report, downstream *app) error {
	users, err := h.startTwins("/users/%d")
	if err != nil {
		return err
	}
	err = h.twinPairs(r.users, users, ratePlan{rate: usersRate, warm: pairWarm, d: h.pairPhase, settle: true}, untraced, headless, tui, wireOnly)
	users.stop()
	if err != nil {
		return err
	}
	// The same load over HTTPS (axum over rustls, HTTP/1.1): what reading
	// TLS plaintext adds.
	https, err := h.startTwinsOf("/users/%d", func() (*app, error) { return h.startTLSApp(twinCPU, "release") })
	if err != nil {
		return err
	}
	https.name = "HTTPS /users/N"
	err = h.twinPairs(r.https, https, ratePlan{rate: usersRate, warm: pairWarm, d: h.pairPhase, settle: true}, untraced, headless)
	https.stop()
	if err != nil {
		return err
	}
	callers, err := h.startTwins("/call/http/%d", "DOWNSTREAM_URL="+downstream.base)
	if err != nil {
		return err
	}
	defer callers.stop()
	return h.twinPairs(r.calls, callers, ratePlan{rate: callsRate, warm: callWarm, d: h.pairPhase, calls: true}, untraced, headless)
}

// twinPairs runs h.pairs pairs of phases on tw, one per config, and
// appends each phase's result to into[config].
func (h *harness) twinPairs(into map[config][]rateResult, tw *twins, p ratePlan, configs ...config) error {
	for i := range h.pairs {
		n := tracedTwin(i)
		for _, c := range configs {
			who := "twin " + twinName(n) + " traced"
			if c == untraced {
				who = "neither traced"
			}
			h.progress("%s pair %d/%d at %.0f/s: %s (%s, %s)", tw.name, i+1, h.pairs, p.rate, c, who, h.pairPhase)
			rr, err := h.rated(tw.apps[n], tw.apps[1-n], c, p)
			if err != nil {
				return fmt.Errorf("%s at %.0f/s, %s: %w", tw.name, p.rate, c, err)
			}
			rr.twin = n
			into[c] = append(into[c], rr)
		}
	}
	return nil
}

// controlRun is the control twin's load and measurement, running beside
// the traced twin's.
type controlRun struct {
	done chan struct{}
	res  loadResult
	u    usage
	err  error
}

// measureControl starts the load on a, untraced, and measures its window.
func (h *harness) measureControl(a *app, s loadSpec) *controlRun {
	c := &controlRun{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.res, c.u, c.err = h.measured(a, nil, s)
	}()
	return c
}

// into waits for the control's window to close and puts its load and CPU
// per request in rr.
func (c *controlRun) into(rr *rateResult) error {
	<-c.done
	if c.err != nil {
		return fmt.Errorf("measure control twin: %w", c.err)
	}
	rr.control, rr.controlUs = c.res, perRequest(c.u.targetNs, c.res.Requests)
	return nil
}

// pairDiffs is, per pair, the traced twin's target CPU per request in
// config c minus the control's over the same window; for untraced, the
// untraced check (the twin the pair traces minus the other, neither
// traced), which shows the method's own noise.
func pairDiffs(phases map[config][]rateResult, c config) []float64 {
	var d []float64
	for _, rr := range phases[c] {
		d = append(d, rr.targetUs-rr.controlUs)
	}
	return d
}

// bystanderDiffs is, per pair, the control twin's target CPU per request
// while the other twin was traced in config c, minus the twins' mean in
// the same pair's untraced check: what rustscope costs a process it does
// not trace (its syscall tracepoints run for every process's syscalls;
// the programs filter by PID first). The two phases are apart in time, so
// the VM's drift is in this figure, unlike in pairDiffs.
func bystanderDiffs(phases map[config][]rateResult, c config) []float64 {
	var d []float64
	for i, rr := range phases[c] {
		if i < len(phases[untraced]) {
			check := phases[untraced][i]
			d = append(d, rr.controlUs-(check.targetUs+check.controlUs)/2)
		}
	}
	return d
}
