// The report's account of where the cost goes, and the BPF programs'
// kernel statistics it leans on.

package main

func (r *report) costs(b *md) {
	mean := func(v []float64) float64 { return spreadOf(v).mean }
	var tracerUs, callTracerUs []float64
	for _, rr := range r.users[headless] {
		tracerUs = append(tracerUs, rr.tracerUs)
	}
	for _, rr := range r.calls[headless] {
		callTracerUs = append(callTracerUs, rr.tracerUs)
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
	b.w("rustscope's own CPU profiles (`bench -profile DIR`).\n\n")
	b.w("- **Uprobe traps.** On this machine (a paravirtualized guest with\n")
	b.w("  page-table isolation) a uprobe's breakpoint trap costs the target\n")
	b.w("  7-10 us, even at an instruction the kernel emulates: with one route\n")
	b.w("  lookup hit per request, the int3 exception path was 15%% of the traced\n")
	b.w("  target's CPU. So the route probe learns, then rests (routes from the\n")
	b.w("  table read from memory; docs/how-it-works.md): on `/users` the uprobes\n")
	b.w("  added %+.1f us over `--wire-only` here (the phases' noise included).\n", added-wire)
	b.w("- **The syscall capture** (`--wire-only`) added %.1f us per `/users`\n", wire)
	b.w("  request: the BPF programs (%.2f us per request in all, below), the\n", spreadOf(r.bpfUsers.windows).mean)
	b.w("  kernel's tracepoint path around them (every syscall of every process\n")
	b.w("  takes the slow path while a syscall tracepoint is attached), and the\n")
	b.w("  cores the target shares with rustscope and the load generator. A program\n")
	b.w("  that only filters costs %.0f ns a run here (`exit_read`: other\n", filter)
	b.w("  processes' reads, the statistics' own clock reads included), and a\n")
	b.w("  request runs about six, so the 1.5 us goal leaves about 0.3 us for each\n")
	b.w("  of the two syscalls that carry it. Those two now copy a syscall that\n")
	b.w("  fits the capture window whole, without walking its framing (a head\n")
	b.w("  alone that a body may follow is still walked), which saved 0.2-0.4 us\n")
	b.w("  each: the rest is the fixed work of a record (the target and connection\n")
	b.w("  lookups, the saved registers, the copy, the ring's commit). What would\n")
	b.w("  close it: one program for the read and write families instead of one\n")
	b.w("  per syscall (raw_syscalls with a syscall-number switch), and smaller\n")
	b.w("  records.\n")
	b.w("- **Client calls.** The app whose every request makes a reqwest call\n")
	b.w("  (`GET /call/http/N`, 2,000/s) spent %.1f us more per request traced\n", mean(pairDiffs(r.calls, headless)))
	b.w("  (%.1f vs %.1f us). Each of its requests takes about 13 breakpoint\n", mean(onUs), mean(offUs))
	b.w("  traps (6 task polls, 6 wakes, hyper's client parse) and 6 return\n")
	b.w("  probes (the task polls'); at 7-10 us a trap that is most of it, next to\n")
	b.w("  two HTTP exchanges' capture. The task probes stay only while the process makes\n")
	b.w("  client calls (a target without is not charged), and every link stays\n")
	b.w("  exact. What would close it: knowing which task a thread polls without\n")
	b.w("  a probe on every poll (tokio keeps the current task's id in a thread\n")
	b.w("  local that the syscall programs could read, its layout learnt and\n")
	b.w("  validated like the route table), sampling links under a budget of hits\n")
	b.w("  per second, and resting the client parse probe as the route probe\n")
	b.w("  rests.\n")
	b.w("- **rustscope's own CPU**: %.1f us per `/users` request at 5,000/s and\n", mean(tracerUs))
	b.w("  %.1f us per `/call/http/N` request (two spans, the task events and the\n", mean(callTracerUs))
	b.w("  links). On this 2-core machine it comes out of the cores the target and\n")
	b.w("  the load generator run on, which is most of the throughput lost at\n")
	b.w("  saturation; on a host with a spare core the ratio is bounded by the\n")
	b.w("  added target CPU instead.\n\n")
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
