package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// benchLine is one result of `go test -bench`.
type benchLine struct {
	name         string
	nsPerOp      float64
	bytesPerOp   int64
	allocsPerOp  int64
	pkg, comment string
}

// goBench runs the packages' Go benchmarks and parses their results.
func goBench(pkgs ...string) ([]benchLine, error) {
	cmd := exec.Command("go", append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem"}, pkgs...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go test -bench: %w\n%s", err, out)
	}
	var res []benchLine
	pkg := ""
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "pkg:" {
			pkg = f[1]
		}
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		b := benchLine{name: strings.Split(f[0], "-")[0], pkg: pkg}
		// Value and unit pairs after the iteration count; SetBytes adds MB/s.
		for i := 2; i+1 < len(f); i += 2 {
			switch f[i+1] {
			case "ns/op":
				fmt.Sscan(f[i], &b.nsPerOp)
			case "B/op":
				fmt.Sscan(f[i], &b.bytesPerOp)
			case "allocs/op":
				fmt.Sscan(f[i], &b.allocsPerOp)
			}
		}
		res = append(res, b)
	}
	return res, nil
}

// summary of one config's throughput phases.
type summary struct {
	rps, p50, p99, targetUs, tracerUs float64
}

func (r *report) summary(c config) summary {
	var s summary
	var reqs, secs float64
	var p50, p99 []float64
	for _, p := range r.phases[c] {
		reqs += float64(p.load.Requests)
		secs += p.load.Seconds
		p50 = append(p50, float64(p.load.P50us))
		p99 = append(p99, float64(p.load.P99us))
		s.targetUs += p.targetUs * float64(p.load.Requests)
		s.tracerUs += p.tracerUs * float64(p.load.Requests)
	}
	if reqs == 0 {
		return s
	}
	s.rps, s.targetUs, s.tracerUs = reqs/secs, s.targetUs/reqs, s.tracerUs/reqs
	s.p50, s.p99 = median(p50), median(p99)
	return s
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 0 {
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

// md collects the report's markdown.
type md struct{ strings.Builder }

func (b *md) w(format string, a ...any) { fmt.Fprintf(b, format, a...) }

func (r *report) markdown() string {
	var b md
	goals := r.goals()
	b.w("# Performance\n\n")
	b.w("Every figure here comes from one run of `make bench` (bench/, as root),\n")
	b.w("never from a timed test; rerun it to rewrite this file.\n\n")
	b.w("- Date: %s\n- Machine: %s\n- %s; target: the release axum test app (axum 0.7, hyper 1, tokio), `GET /users/N`\n\n", r.date, r.machine, r.goVersion)
	r.targets(&b, goals)
	r.beforeAfter(&b, goals)
	r.method(&b)
	r.saturationSection(&b)
	r.costs(&b)
	r.fixedRateSection(&b, "/users at 5,000/s", r.users, []config{untraced, headless, tui, wireOnly})
	r.fixedRateSection(&b, "HTTPS /users at 5,000/s (axum over rustls 0.23, HTTP/1.1 keep-alive: the plaintext where it crosses rustls)", r.https, []config{untraced, headless})
	r.fixedRateSection(&b, "`/call/http/N` at 2,000/s (a client call per request, the task probes under the default link budget)", r.calls, []config{untraced, headless})
	r.bpfSection(&b)
	r.lossSection(&b)
	r.attachSection(&b)
	r.goBenchSection(&b)
	b.w("%s\n", figuresMarker(r.date, goals))
	return b.String()
}

func (r *report) targets(b *md, goals []goalRow) {
	b.w("## Targets\n\n")
	b.w("The goals of issue 19. Measured: the mean, then in brackets the range\n")
	b.w("(min..max), the standard deviation of one value, the standard error of\n")
	b.w("the mean (sd/sqrt(n): the noise of the figure) and how many values (n): per\n")
	b.w("pair of twins (traced minus control, the same window; Method) for the added\n")
	b.w("target CPU, per traced phase for rustscope's CPU and RSS, per round for the\n")
	b.w("throughput ratio, per window for the BPF time.\n\n")
	b.w("| measure | goal | measured (mean, spread) | |\n| --- | --- | --- | --- |\n")
	for _, g := range goals {
		b.w("| %s | %s | %s | %s |\n", g.measure, g.goal, g.measured, g.verdict())
	}
	b.w("\n")
	if notes := r.notes(); len(notes) > 0 {
		b.w("Against the plan:\n\n")
		for _, n := range notes {
			b.w("- %s\n", n)
		}
		b.w("\n")
	}
}

// notes are the phases that did not run as planned (task probes placed
// or gone when they should not have been).
func (r *report) notes() []string {
	var out []string
	add := func(what, note string) {
		if note != "" {
			out = append(out, what+": "+note)
		}
	}
	for _, set := range []struct {
		name   string
		phases map[config][]rateResult
	}{{"/users", r.users}, {"HTTPS /users", r.https}, {"/call/http/N", r.calls}} {
		for _, c := range []config{headless, tui, wireOnly} {
			for i, rr := range set.phases[c] {
				add(fmt.Sprintf("%s pair %d, %s", set.name, i+1, c), rr.note)
			}
		}
	}
	add("zero-loss phase", r.loss.note)
	add("BPF statistics, /users", r.bpfUsers.note)
	add("BPF statistics, /call/http/N", r.bpfCalls.note)
	return out
}

func (r *report) beforeAfter(b *md, goals []goalRow) {
	b.w("## Before and after\n\n")
	if r.before == nil {
		b.w("No previous report to compare with.\n\n")
		return
	}
	date := r.before.date
	if date == "" {
		date = "undated"
	}
	b.w("| measure | goal | before (%s) | after (%s) |\n| --- | --- | --- | --- |\n", date, r.date)
	for _, g := range goals {
		before := "-"
		if v, ok := r.before.v[g.key]; ok {
			before = g.fig(v)
		}
		after := "-"
		if g.ran {
			after = g.fig(g.value)
		}
		b.w("| %s | %s | %s | %s |\n", g.measure, g.goal, before, after)
	}
	if r.before.from == "tables" {
		b.w("\nThe before figures are read from that report's tables, measured\n")
		b.w("its way: CPU from utime+stime (10 ms ticks), one phase per config,\n")
		b.w("rustscope's CPU per request from its %%CPU at 5,000/s, the TUI's at\n")
		b.w("saturation, the zero-loss rate the highest rate it ran without loss.\n")
	}
	if r.before.method != addedMethod {
		b.w("\nThe before report measured the added target CPU from sequential\n")
		b.w("untraced and traced phases, not twins: the VM's drift between phases is\n")
		b.w("in its figures.\n")
	}
	b.w("\n")
}

func (r *report) method(b *md) {
	b.w("## Method\n\n")
	b.w("- CPU time is the scheduler's, per thread: the first field of\n")
	b.w("  `/proc/PID/task/*/schedstat` (ns on CPU), summed over the threads, those\n")
	b.w("  born during the window included, read when the window opens, every\n")
	b.w("  second and when it closes; divided by the requests served in it.\n")
	b.w("- Added target CPU comes from twins: two copies of the release app run at\n")
	b.w("  once, both pinned to CPU %s (taskset), each driven at the same rate by its\n", twinCPU)
	b.w("  own load generator pinned to CPU %s. rustscope traces one (`--pid`); the\n", loadCPU)
	b.w("  other is the control, measured over the same %s window. The figure is\n", r.pairPhase)
	b.w("  the mean over pairs of traced minus control. Why: here a phase's CPU per\n")
	b.w("  request drifts by several us from one phase to the next (sequential\n")
	b.w("  untraced and traced phases spread by about 9 us a pair); the twins feel\n")
	b.w("  the same drift at the same time, so it cancels. The twins take turns\n")
	b.w("  being traced, pair by pair, so a steady difference between the copies\n")
	b.w("  cancels too. Each pair starts with an untraced check, rustscope not\n")
	b.w("  running: the twins' difference there is the method's noise (about 0).\n")
	b.w("  rustscope itself is not pinned (`bench -tracer-cpus` pins it).\n")
	b.w("- The bystander figure is what rustscope costs a process it does not\n")
	b.w("  trace: its syscall tracepoints run on every syscall of the host (the\n")
	b.w("  programs filter by PID first). It is the control's CPU per request in\n")
	b.w("  the traced phases minus the twins' in the same pair's untraced check;\n")
	b.w("  those are different windows, so the drift the twins cancel is in it and\n")
	b.w("  it is noisier. The traced target pays it too: its whole cost is the\n")
	b.w("  added figure plus this one.\n")
	b.w("- rustscope starts before each traced phase and stops after it. On\n")
	b.w("  `/users` the load starts %s after rustscope attached, once it has\n", settle)
	b.w("  removed the tokio task probes of a target without client calls, and is\n")
	b.w("  measured after %s of it. On `/call/http/N` the load starts right after\n", pairWarm)
	b.w("  attach, so the task probes stay (in the windows the default link budget\n")
	b.w("  gives them), and is measured after %s; both caller\n", callWarm)
	b.w("  twins call one shared downstream, another copy of the app, unpinned and\n")
	b.w("  never traced.\n")
	b.w("- The load generator is a separate process (Go, `bench load`, 32\n")
	b.w("  keep-alive connections), paced to the rate; outside the twin phases it\n")
	b.w("  shares the machine's cores with the target and rustscope.\n\n")
}

func (r *report) saturationSection(b *md) {
	off, hl := r.summary(untraced), r.summary(headless)
	b.w("## Throughput and latency at saturation\n\n")
	b.w("Closed loop: the load generator keeps 32 connections busy for %s per\n", r.phase)
	b.w("phase; untraced and headless phases alternate, %s, so drift on the\n", plural(len(r.phases[untraced]), "round"))
	b.w("VM hits both alike. Traced phases start %s after attach.\n\n", settle)
	b.w("| config | requests/s | ratio | p50 | p99 | target CPU / request | rustscope CPU / request |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, c := range []struct {
		name config
		s    summary
	}{{untraced, off}, {headless, hl}} {
		b.w("| %s | %.0f | %.3f | %.0f us | %.0f us | %.1f us | %.1f us |\n", c.name, c.s.rps, c.s.rps/off.rps, c.s.p50, c.s.p99, c.s.targetUs, c.s.tracerUs)
	}
	b.w("\nPer phase (requests/s): ")
	for _, c := range []config{untraced, headless} {
		var v []string
		for _, p := range r.phases[c] {
			v = append(v, fmt.Sprintf("%.0f", p.load.rps()))
		}
		b.w("%s %s; ", c, strings.Join(v, ", "))
	}
	b.w("\n\n")
}

// fixedRateSection is one workload's twin phases: a summary per config
// over the pairs, then every phase.
func (r *report) fixedRateSection(b *md, title string, phases map[config][]rateResult, configs []config) {
	if len(phases[untraced]) == 0 {
		return
	}
	b.w("## %s\n\n", title)
	b.w("Twins (Method): the untraced check's traced twin is the one its pair traces.\n\n")
	b.w("| config | traced twin CPU / request | control twin CPU / request | added (traced - control, per pair) | bystander (control - untraced check, per pair; noisier) | rustscope CPU / request | RSS steady |\n")
	b.w("| --- | --- | --- | --- | --- | --- | --- |\n")
	us := func(v []float64) string { return spreadOf(v).format("%.1f", " us") }
	for _, c := range configs {
		var cpu, ctl, tracer, rss []float64
		for _, rr := range phases[c] {
			cpu, ctl = append(cpu, rr.targetUs), append(ctl, rr.controlUs)
			tracer, rss = append(tracer, rr.tracerUs), append(rss, rr.rssMB)
		}
		if c == untraced {
			b.w("| untraced check (neither twin traced) | %s | %s | %s | | | |\n", us(cpu), us(ctl), us(pairDiffs(phases, c)))
			continue
		}
		b.w("| %s | %s | %s | %s | %s | %s | %s |\n", c, us(cpu), us(ctl), us(pairDiffs(phases, c)), us(bystanderDiffs(phases, c)),
			us(tracer), spreadOf(rss).format("%.1f", " MB"))
	}
	b.w("\nEvery phase (requests, p50, p99: the traced twin's; RSS steady: the\n")
	b.w("median of the second half of samples taken every second; peak: VmHWM;\n")
	b.w("spans: received by the sink after rustscope stopped and flushed, of those\n")
	b.w("the requests make, warm-up included):\n\n")
	b.w("| pair | config | traced twin | requests | p50 | p99 | target CPU / request | control CPU / request | traced - control | rustscope CPU / request | RSS steady | RSS peak | spans / expected | ring records lost | export drops |\n")
	b.w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for i := range phases[untraced] {
		for _, c := range configs {
			if i >= len(phases[c]) {
				continue
			}
			rr := phases[c][i]
			twin := twinName(rr.twin)
			if c == untraced {
				twin = "(" + twin + ")"
			}
			b.w("| %d | %s | %s | %d | %d us | %d us | %.1f us | %.1f us | %+.1f us |", i+1, c, twin, rr.load.Requests, rr.load.P50us, rr.load.P99us,
				rr.targetUs, rr.controlUs, rr.targetUs-rr.controlUs)
			switch c {
			case untraced:
				b.w(" | | | | | |\n")
			case tui:
				b.w(" %.1f us | %.1f MB | %.1f MB | | | |\n", rr.tracerUs, rr.rssMB, rr.peakMB)
			default:
				b.w(" %.1f us | %.1f MB | %.1f MB | %d / %d | %d | %d |\n", rr.tracerUs, rr.rssMB, rr.peakMB, rr.spans, rr.expected(), rr.lost, rr.drops)
			}
		}
	}
	b.w("\n")
}

func (r *report) lossSection(b *md) {
	rr := r.loss
	missing, all := rr.lostAll()
	b.w("## Zero loss\n\n")
	b.w("Headless, exporting to the local sink, at %.0f requests/s for %s: the goal's\n", r.lossRate, rr.duration())
	b.w("20,000/s, or 90%% of what the untraced target served at saturation here\n")
	b.w("(%.0f/s) when that is lower. Lost is every span that did not reach the sink:\n", r.summary(untraced).rps)
	b.w("ring records lost (rustscope's final log line), spans the exporter dropped,\n")
	b.w("and spans missing at the sink once rustscope stopped and flushed.\n\n")
	b.w("| asked | served | requests | p50 | p99 | rustscope CPU / request | RSS steady | spans / expected | ring records lost | export drops | missing | lost in all |\n")
	b.w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	served := 0.0
	if rr.load.Seconds > 0 {
		served = rr.load.rps()
	}
	b.w("| %.0f/s | %.0f/s | %d | %d us | %d us | %.1f us | %.1f MB | %d / %d | %d | %d | %d | %d |\n\n", r.lossRate, served, rr.load.Requests,
		rr.load.P50us, rr.load.P99us, rr.tracerUs, rr.rssMB, rr.spans, rr.expected(), rr.lost, rr.drops, missing, all)
	if served > 0 && served < 0.98*r.lossRate {
		b.w("The target served less than asked: the two cores were full (the target, the\n")
		b.w("load generator, and rustscope's %.0f%% of a core at %.1f us a request). What\n", served*rr.tracerUs/1e4, rr.tracerUs)
		b.w("bounds it here is rustscope's own CPU (Where the cost goes); nothing was lost.\n\n")
	}
}

// duration is the measured window, rounded for the text.
func (rr rateResult) duration() time.Duration {
	return time.Duration(rr.load.Seconds * float64(time.Second)).Round(time.Second)
}

func (r *report) attachSection(b *md) {
	b.w("## Attach time\n\n")
	var ts []string
	for _, d := range r.attach {
		ts = append(ts, d.Round(time.Millisecond).String())
	}
	b.w("From starting `rustscope --pid` on the debug axum app (%.0f MB, DWARF) to\n", r.debugMB)
	b.w("its \"attached\" line (process analysed, BPF loaded, probes placed): %s.\n", strings.Join(ts, ", "))
	b.w("The binary analysis alone (`symbols.AnalyzeFile`, median of 5): %s.\n\n", r.analysis.Round(100*time.Microsecond))
}

func (r *report) goBenchSection(b *md) {
	if len(r.gobench) == 0 {
		return
	}
	b.w("## Go benchmarks\n\n`go test -run '^$' -bench . -benchmem ./ui/ ./symbols/ ./tracer/`. The UI\n")
	b.w("benchmarks hold 10,000 spans over 100 routes in a 200x60 terminal; the goal\n")
	b.w("is a frame well under 16 ms. The symbols benchmarks analyse the debug,\n")
	b.w("release and stripped axum builds. The tracer benchmark is rustscope's\n")
	b.w("user-space cost of one HTTP/1.1 request before export: decoding its two\n")
	b.w("ring records, parsing both heads, building the span.\n\n")
	b.w("| benchmark | package | time per op | allocated per op | allocations |\n| --- | --- | --- | --- | --- |\n")
	for _, g := range r.gobench {
		b.w("| %s | %s | %s | %.1f KB | %d |\n", g.name, strings.TrimPrefix(g.pkg, "github.com/rustscope/rustscope/"), time.Duration(g.nsPerOp).Round(time.Microsecond), float64(g.bytesPerOp)/1024, g.allocsPerOp)
	}
	b.w("\n")
}

// plural is "1 round", "3 rounds".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
