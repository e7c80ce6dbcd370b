// The report's account of where the cost goes, and the BPF programs'
// kernel statistics it leans on.

package main

func (r *report) costs(b *md) {
	mean := func(v []float64) float64 { return spreadOf(v).mean }
	var tracerUs []float64
	for _, rr := range r.users[headless] {
		tracerUs = append(tracerUs, rr.tracerUs)
	}
	added, wire := mean(pairDiffs(r.users, headless)), mean(pairDiffs(r.users, wireOnly))
	b.w("### Where the cost goes\n\n")
	b.w("- **rustscope's own CPU.** At 5,000/s rustscope spends %.1f us of CPU per\n", mean(tracerUs))
	b.w("  request (reading the ring, parsing HTTP, building the span, the OpenTelemetry\n")
	b.w("  SDK's batch processor, OTLP protobuf encoding and gRPC). On this 2-core\n")
	b.w("  machine those cycles come out of the same cores the target and the load\n")
	b.w("  generator run on, which is most of the throughput lost at saturation: at\n")
	b.w("  a fixed rate the target's own CPU per request rose by %.1f us. On a host with a spare\n", added)
	b.w("  core the ratio is bounded by that added target CPU instead. What would\n")
	b.w("  close the rest: encoding OTLP directly from tracer spans instead of going\n")
	b.w("  through the SDK (no per-span SDK objects, no attribute copies), fewer\n")
	b.w("  allocations in the HTTP parser (Go's GC is a large share of the profile:\n")
	b.w("  `bench -profile DIR` writes one per headless run).\n")
	b.w("- **In the target** (at 5,000/s). `--wire-only` (syscall tracepoints alone) added %.1f us\n", wire)
	if d := added - wire; d >= 0.5 {
		b.w("  per request; the uprobes add the rest (%.1f us): axum's route lookup, one hit\n", d)
	} else {
		b.w("  per request; the uprobes added nothing measurable (%+.1f us, within the phases' noise): axum's route lookup, one hit\n", d)
	}
	off, on := r.calls[untraced], r.calls[headless]
	var offUs, onUs []float64
	for i := range min(len(off), len(on)) {
		offUs, onUs = append(offUs, off[i].targetUs), append(onUs, on[i].targetUs)
	}
	b.w("  per request at an emulated `push`. The tokio task probes that link client\n")
	b.w("  calls to their server span (an entry and a return probe on every task poll,\n")
	b.w("  and the wakers) cost more, so they stay only while the process makes client\n")
	b.w("  calls: this target makes none, and they were gone before each phase began.\n")
	b.w("  A service that calls out keeps them: the app whose every\n")
	b.w("  request makes a reqwest call (`GET /call/http/N`, at 2,000/s) spent %.1f us more\n", mean(pairDiffs(r.calls, headless)))
	b.w("  per request traced than untraced (%.1f vs %.1f us; two HTTP exchanges per request,\n", mean(onUs), mean(offUs))
	b.w("  server and client, plus the task probes).\n")
	b.w("  The floor here is the syscall capture. rustscope's BPF programs ran %.2f us\n", spreadOf(r.bpfUsers.windows).mean)
	b.w("  per request in all on `/users` and %.2f us on `/call/http/N` (tables below;\n", spreadOf(r.bpfCalls.windows).mean)
	b.w("  an upper bound on what the target pays for them: they count their runs in\n")
	b.w("  every process's syscalls, the load generator's too, and the statistics'\n")
	b.w("  own cost). Most of it is the exit\n")
	b.w("  programs of the request's read and the response's write, which walk the\n")
	b.w("  HTTP framing (a line up to 64 bytes per step, its start and its end\n")
	b.w("  each a step of their own) and copy the bytes into the ring. Taking a\n")
	b.w("  whole header line per step cut those two by about 0.5 us each, but it\n")
	b.w("  doubled the verifier's work at load (attach 1.0-1.4 s instead of 0.5 s\n")
	b.w("  on the debug build), so it is not in. On top of the programs the kernel\n")
	b.w("  adds the tracepoint and uprobe trampolines (an emulated uprobe's trap is\n")
	b.w("  about 1 us on this VM). Closing the gap to 1.5 us would take capturing\n")
	b.w("  without walking when a syscall's bytes fit in the window (the framing\n")
	b.w("  state then rebuilt by user space) and fewer map operations per syscall\n")
	b.w("  (the `calls` hash entry between enter and exit).\n\n")
}

func (r *report) bpfSection(b *md) {
	b.w("## BPF programs per request\n\n")
	b.w("Separate phases, headless, with kernel.bpf_stats_enabled on (it costs a\n")
	b.w("little per run itself, so the phases above run without it), the load in\n")
	b.w("%s of %s: the spread in the Targets table is over them.\n", plural(len(r.bpfUsers.windows), "window"), r.pairPhase/2)
	b.w("Runs count every process's syscalls (the programs filter by PID first);\n")
	b.w("time is the programs' own, per request served.\n\n")
	for _, s := range []struct {
		title string
		res   bpfResult
	}{{"/users at 5,000/s (the task probes removed)", r.bpfUsers}, {"`/call/http/N` at 2,000/s (the task probes placed)", r.bpfCalls}} {
		if len(s.res.progs) == 0 {
			continue
		}
		b.w("### %s\n\n", s.title)
		b.w("| program | runs / request | ns / run | us / request |\n| --- | --- | --- | --- |\n")
		var all float64
		for _, p := range s.res.progs {
			b.w("| %s | %.2f | %.0f | %.2f |\n", p.name, p.runsPerReq, p.nsPerRun, p.usPerReq)
			all += p.usPerReq
		}
		b.w("| all | | | %.2f |\n\nPer window: %s.\n\n", all, spreadOf(s.res.windows).format("%.2f", " us"))
	}
}
