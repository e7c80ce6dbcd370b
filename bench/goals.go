// The goals of issue 19, each with what this run measured: the report's
// Targets table, and the figures the next run reads back as "before".

package main

import (
	"fmt"
	"slices"
	"time"
)

// goalRow is one measure with its goal.
type goalRow struct {
	key           string // in the figures marker
	measure, goal string
	verb, unit    string  // how one figure prints: "%.2f", " us"
	s             spread  // the repeated measurements
	value         float64 // the figure compared with other runs (default s.mean)
	ran           bool    // measured at all (default s.n > 0)
	zero          string  // how a value of 0 prints, if not as a number
	measured      string  // as printed (default s.format)
	met           bool
	info          bool // no goal of its own: reported beside one, no verdict
}

func (g goalRow) fig(v float64) string {
	if v == 0 && g.zero != "" {
		return g.zero
	}
	return fmt.Sprintf(g.verb, v) + g.unit
}

// goals are the rows of the Targets table, in order.
func (r *report) goals() []goalRow {
	rows := []goalRow{
		r.bpfGoal(),
		r.addedGoal(),
		r.checkRow(),
		r.bystanderRow(),
		r.callsGoal(),
		r.httpsRow(),
		r.tracerGoal("tracer_headless_us", "rustscope's own CPU per request at 5,000/s, headless, OTLP export", headless),
		r.tracerGoal("tracer_tui_us", "rustscope's own CPU per request, TUI (at 5,000/s, like headless)", tui),
		r.ratioGoal(),
		r.lossGoal(),
		r.rssGoal(),
		r.attachGoal(),
	}
	for i := range rows {
		g := &rows[i]
		if g.s.n > 0 {
			g.ran = true
			if g.value == 0 {
				g.value = g.s.mean
			}
		}
		if g.measured == "" {
			g.measured = g.s.format(g.verb, g.unit)
		}
	}
	return rows
}

func (r *report) bpfGoal() goalRow {
	s := spreadOf(r.bpfUsers.windows)
	return goalRow{key: "bpf_users_us", measure: "BPF programs' time per request (kernel statistics phase, /users workload at 5,000/s)",
		goal: "<= 1.5 us", verb: "%.2f", unit: " us", s: s, met: s.n > 0 && s.mean <= 1.5}
}

func (r *report) addedGoal() goalRow {
	s := spreadOf(pairDiffs(r.users, headless))
	g := goalRow{key: "target_added_us", measure: "target CPU added per request at 5,000/s, headless (/users; traced twin minus control, same window: beyond the bystander cost below, which every process pays)",
		goal: "<= 2 us, noise under 1 us", verb: "%.1f", unit: " us", s: s}
	// The noise of the figure is the standard error of the pairs' mean:
	// one pair says nothing of it.
	g.met = s.n >= 2 && s.mean <= 2 && s.se() < 1
	return g
}

// checkRow is the twins' difference with rustscope not running: the
// noise of the method behind the added target CPU.
func (r *report) checkRow() goalRow {
	return goalRow{key: "twin_check_us", measure: "the twins' difference with rustscope not running (untraced check, /users at 5,000/s)",
		goal: "about 0 (the method's noise)", verb: "%.1f", unit: " us", s: spreadOf(pairDiffs(r.users, untraced)), info: true}
}

// bystanderRow is what rustscope costs a process it does not trace; the
// traced target pays it too, on top of the added target CPU.
func (r *report) bystanderRow() goalRow {
	return goalRow{key: "bystander_us", measure: "CPU added per request to a process rustscope does not trace (the control twin, /users at 5,000/s, headless; noisier: against the untraced check, another window)",
		goal: "none (reported apart)", verb: "%.1f", unit: " us", s: spreadOf(bystanderDiffs(r.users, headless)), info: true}
}

// httpsRow is what tracing adds to a request over HTTPS (issue 20: said,
// no goal): the syscall capture of its records until their plaintext is
// bound, and rustls's read and write probes (entry and return each).
func (r *report) httpsRow() goalRow {
	return goalRow{key: "https_added_us", measure: "target CPU added per request over HTTPS at 5,000/s, headless (axum over rustls, HTTP/1.1 keep-alive; traced twin minus control)",
		goal: "none (reported)", verb: "%.1f", unit: " us", s: spreadOf(pairDiffs(r.https, headless)), info: true}
}

func (r *report) callsGoal() goalRow {
	s := spreadOf(pairDiffs(r.calls, headless))
	return goalRow{key: "call_added_us", measure: "target CPU added per request when every request makes a client call (`/call/http/N` at 2,000/s; the tokio task probes under the default link budget)",
		goal: "<= 5 us", verb: "%.1f", unit: " us", s: s, met: s.n > 0 && s.mean <= 5}
}

func (r *report) tracerGoal(key, measure string, c config) goalRow {
	var v []float64
	for _, rr := range r.users[c] {
		v = append(v, rr.tracerUs)
	}
	s := spreadOf(v)
	return goalRow{key: key, measure: measure, goal: "<= 8 us", verb: "%.1f", unit: " us", s: s, met: s.n > 0 && s.mean <= 8}
}

func (r *report) ratioGoal() goalRow {
	var v []float64
	for i, p := range r.phases[headless] {
		if i < len(r.phases[untraced]) {
			v = append(v, p.load.rps()/r.phases[untraced][i].load.rps())
		}
	}
	s := spreadOf(v)
	return goalRow{key: "ratio_headless", measure: "throughput traced / untraced at saturation, headless (per round)",
		goal: ">= 0.90", verb: "%.3f", s: s, met: s.n > 0 && s.mean >= 0.9}
}

// lostAll is what a phase did not deliver: spans missing at the sink, and
// in all with the ring records lost and the export drops.
func (rr rateResult) lostAll() (missing, all int64) {
	missing = max(0, rr.expected()-rr.spans)
	return missing, rr.lost + rr.drops + missing
}

func (r *report) lossGoal() goalRow {
	rr := r.loss
	missing, all := rr.lostAll()
	served := 0.0
	if rr.load.Seconds > 0 {
		served = rr.load.rps()
	}
	g := goalRow{key: "zero_loss_rate", measure: "sustained rate with zero lost spans, headless",
		goal: fmt.Sprintf("20,000/s shown (or min(20000, 0.9 x the untraced saturation rate): %.0f/s here); lost = ring records lost + export drops + spans missing at the sink, all zero", r.lossRate),
		verb: "%.0f", unit: "/s", ran: rr.load.Requests > 0, zero: "none"}
	// Shown: nothing lost, and the target kept up with the rate asked.
	g.met = rr.load.Requests > 0 && all == 0 && served >= 0.98*r.lossRate
	if g.met {
		g.value = r.lossRate
	}
	g.measured = fmt.Sprintf("%.0f/s asked, %.0f/s served for %.0f s: %d lost (ring %d, export drops %d, missing at the sink %d; one phase)",
		r.lossRate, served, rr.load.Seconds, all, rr.lost, rr.drops, missing)
	return g
}

func (r *report) rssGoal() goalRow {
	var v []float64
	for _, rr := range r.users[headless] {
		v = append(v, rr.rssMB)
	}
	s := spreadOf(v)
	return goalRow{key: "rss_mb", measure: "rustscope RSS, steady at 5,000/s", goal: "<= 40 MB", verb: "%.1f", unit: " MB", s: s, met: s.n > 0 && s.mean <= 40}
}

// attachGoal is the worst of the attach times: verification must stay
// under a second on the debug build.
func (r *report) attachGoal() goalRow {
	var v []float64
	for _, d := range r.attach {
		v = append(v, float64(d)/float64(time.Millisecond))
	}
	s := spreadOf(v)
	g := goalRow{key: "attach_ms", measure: fmt.Sprintf("attach request to probes live, %.0f MB debug binary (worst)", r.debugMB),
		goal: "<= 1 s", verb: "%.0f", unit: " ms", s: s}
	if s.n > 0 {
		g.value = slices.Max(v)
		g.met = g.value <= 1000
		g.measured = fmt.Sprintf("%.0f ms worst (%s)", g.value, s.format("%.0f", " ms"))
	}
	return g
}

func (g goalRow) verdict() string {
	switch {
	case g.info:
		return ""
	case g.met:
		return "met"
	}
	return "**missed**"
}
