// The report's account of where the cost goes, and the BPF programs'
// kernel statistics it leans on.

package main

func (r *report) costs(b *md) {
	mean := func(v []float64) float64 { return spreadOf(v).mean }
	var tracerUs, callTracerUs []float64
	for _, rr := range r.users[headless] {
		tracerUs = append(tracerUs, rr.tracerUs)
	}
	var links, calls int64
	for _, rr := range r.calls[headless] {
		callTracerUs = append(callTracerUs, rr.tracerUs)
		links += rr.links
		calls += rr.load.Requests + rr.load.Warm
	}
	added, wire := mean(pairDiffs(r.users, headless)), mean(pairDiffs(r.users, wireOnly))
	var offUs, onUs []float64 // the control twin and the traced one
	for _, rr := range r.calls[headless] {
		offUs, onUs = append(offUs, rr.controlUs), append(onUs, rr.targetUs)
	}
	filter := r.bpfUsers.nsPerRun("exit_read")
	b.w("### Where the cost goes\n\n")
	b.w("Profiles behind this: `perf record -e cpu-clock -g -p TARGET` of the\n")
	b.w("traced target, the kernel's BPF statistics (tables below) and\n")
	b.w("rustscope's own Go CPU profile (the zero-loss phase's, below).\n\n")
	b.w("- **Uprobe traps.** On this machine (a paravirtualized guest with\n")
	b.w("  page-table isolation) a uprobe's breakpoint trap costs the target\n")
	b.w("  7-10 us, even at an instruction the kernel emulates: with one route\n")
	b.w("  lookup hit per request, the int3 exception path was 15%% of the traced\n")
	b.w("  target's CPU. So the route probe learns, then rests (routes from the\n")
	b.w("  table read from memory; docs/how-it-works.md): on `/users` the uprobes\n")
	b.w("  added %+.1f us over `--wire-only` here.\n", added-wire)
	b.w("- **The syscall capture** (`--wire-only`) added %.1f us per `/users`\n", wire)
	b.w("  request to the target beyond what every process pays (the bystander\n")
	b.w("  row, %.1f us: every syscall of every process takes the tracepoint's\n", mean(bystanderDiffs(r.users, headless)))
	b.w("  slow path while a syscall tracepoint is attached, and runs a program\n")
	b.w("  that filters by PID). The BPF programs take %.2f us per request in\n", spreadOf(r.bpfUsers.windows).mean)
	b.w("  all (below). A program that only filters costs %.0f ns a run here\n", filter)
	b.w("  (`exit_read`: other processes' reads, the statistics' own clock reads\n")
	b.w("  included), and a request runs about six, so the 1.5 us goal leaves\n")
	b.w("  about 0.3 us for each of the two syscalls that carry it. Those two\n")
	b.w("  copy a syscall that fits the capture window whole, without walking its\n")
	b.w("  framing: the rest is the fixed work of a record (the target and\n")
	b.w("  connection lookups, the saved registers, the copy, the ring's commit).\n")
	b.w("  What would close it: one program for the read and write families\n")
	b.w("  instead of one per syscall, and smaller records.\n")
	b.w("- **Client calls.** The app whose every request makes a reqwest call\n")
	b.w("  (`GET /call/http/N`, 2,000/s) spent %.1f us more per request traced\n", mean(pairDiffs(r.calls, headless)))
	b.w("  than its control (%.1f vs %.1f us). The tokio task probes that link\n", mean(onUs), mean(offUs))
	b.w("  calls to their server span take about 13 breakpoint traps and 6\n")
	b.w("  return probes per request (about 18 us a task poll here), so they\n")
	b.w("  keep to the link budget (default 250 task polls a second, about half\n")
	if calls > 0 {
		b.w("  a percent of a core): placed in short windows, they linked %d of\n", links)
		b.w("  %d calls (%.1f%%), each exactly; the rest are roots of their own.\n", calls, 100*float64(links)/float64(calls))
	} else {
		b.w("  a percent of a core): placed in short windows, they link the calls\n")
		b.w("  made in them, each exactly; the rest are roots of their own.\n")
	}
	b.w("  hyper's client parse probe (a trap a call, for the client span's\n")
	b.w("  library) rests once the pool's connections are known. What is left\n")
	b.w("  is the capture of two HTTP exchanges (the request's and its call's)\n")
	b.w("  and the task probes' windows. What would close it: knowing which\n")
	b.w("  task a thread polls without a probe on every poll (tokio keeps the\n")
	b.w("  current task's id in a thread local the syscall programs could read,\n")
	b.w("  its layout learnt and validated like the route table), which would\n")
	b.w("  also link every call.\n")
	if len(r.https[headless]) > 0 {
		var tlsOn, tlsOff []float64
		for _, rr := range r.https[headless] {
			tlsOn, tlsOff = append(tlsOn, rr.targetUs), append(tlsOff, rr.controlUs)
		}
		b.w("- **HTTPS.** The same `/users` load over TLS (axum over rustls,\n")
		b.w("  HTTP/1.1 keep-alive) spent %.1f us more per request traced than its\n", mean(pairDiffs(r.https, headless)))
		b.w("  control (%.1f vs %.1f us; the plaintext app's figure above is %.1f\n", mean(tlsOn), mean(tlsOff), added)
		b.w("  us). Nearly all of it is rustls's probes: one trap per record read\n")
		b.w("  (take_received_plaintext's entry), and two per plaintext write (entry\n")
		b.w("  and return, the return a uretprobe: the costlier). The TLS bytes\n")
		b.w("  themselves are not captured once a connection's plaintext is bound.\n")
		b.w("  Before reads were taken per record, at the reader's entry and return\n")
		b.w("  (a read that found nothing included), it was 25.3 us.\n")
		b.w("  What would close more: capture writes at their entry (their bytes are\n")
		b.w("  there, and the socket write after them says how many went): no return\n")
		b.w("  probe at all.\n")
	}
	b.w("- **rustscope's own CPU**: %.1f us per `/users` request at 5,000/s and\n", mean(tracerUs))
	b.w("  %.1f us per `/call/http/N` request (two spans and the task events). On\n", mean(callTracerUs))
	b.w("  this 2-core machine it comes out of the cores the target and the load\n")
	b.w("  generator run on, which is most of the throughput lost at saturation;\n")
	b.w("  on a host with a spare core the ratio is bounded by the added target\n")
	b.w("  CPU instead.")
	if len(r.profile) == 0 {
		b.w("\n\n")
		return
	}
	b.w(" Where it goes (Go CPU profile of the zero-loss phase, %.0f\n", r.lossRate)
	b.w("  requests/s):\n\n")
	b.w("  | share | what |\n  | --- | --- |\n")
	for _, a := range r.profile {
		b.w("  | %.0f%% | %s |\n", 100*a.share, a.name)
	}
	b.w("\n  The OTLP path already builds its messages straight from the spans in\n")
	b.w("  reused memory; the encoding is the OTLP protobuf types' own (no\n")
	b.w("  hand-written wire encoding), and the collector runs at Go's default\n")
	b.w("  pace (GOGC 100), which keeps RSS under 40 MB. What would close it:\n")
	b.w("  encoding with a faster maintained marshaller (the Collector's pdata\n")
	b.w("  generates one) behind the SDK's OTLP clients, and fewer allocations per\n")
	b.w("  span in the assembler.\n\n")
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

// nsPerRun is the cost of one run of program name, 0 if it did not run.
func (r bpfResult) nsPerRun(name string) float64 {
	for _, p := range r.progs {
		if p.name == name {
			return p.nsPerRun
		}
	}
	return 0
}
