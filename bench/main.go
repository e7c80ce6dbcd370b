// Command bench measures what rustscope costs a traced service and what it
// needs itself, side by side, and rewrites docs/performance.md. `make
// bench` runs it as root from the repository root after building
// rustscope and the Rust test apps; every figure in the report comes from
// that one run.
//
// "bench load" is the load generator, run as a separate process.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"

	"github.com/rustscope/rustscope/symbols"
)

func main() {
	log.SetFlags(log.Ltime)
	log.SetPrefix("bench: ")
	if len(os.Args) > 1 && os.Args[1] == "load" {
		if err := runLoad(os.Args[2:]); err != nil {
			log.Fatal(err)
		}
		return
	}
	h := &harness{}
	flag.StringVar(&h.rustscope, "rustscope", "./rustscope", "the rustscope binary")
	flag.StringVar(&h.apps, "apps", "testapps/bin", "the built test apps (testapps/build.sh)")
	flag.DurationVar(&h.phase, "phase", 20*time.Second, "length of a throughput phase")
	flag.DurationVar(&h.lossPhase, "loss-phase", 60*time.Second, "length of the 5,000 requests/s phase")
	out := flag.String("out", "docs/performance.md", "the report to rewrite")
	flag.StringVar(&h.profile, "profile", "", "write a CPU profile of each headless rustscope run into this directory")
	soak := flag.Duration("soak", 0, "only the soak: this long at 2,000 requests/s, sampled every 10 s, into the soak section of -out")
	flag.Parse()
	if os.Geteuid() != 0 {
		log.Fatal("run as root: rustscope loads BPF programs")
	}
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	h.self = self
	if h.sink, err = startSink(); err != nil {
		log.Fatalf("start OTLP sink: %v", err)
	}
	old, err := os.ReadFile(*out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Fatal(err)
	}
	var doc string
	if *soak > 0 {
		r, err := h.soak(*soak)
		if err != nil {
			log.Fatal(err)
		}
		doc = withSoak(string(old), r.markdown())
	} else {
		r, err := h.run()
		if err != nil {
			log.Fatal(err)
		}
		doc = withSoak(r.markdown(), soakSection(string(old))) // the soak's own run stays
	}
	if err := os.WriteFile(*out, []byte(doc), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s", *out)
}

type harness struct {
	rustscope, apps, self string
	phase, lossPhase      time.Duration
	sink                  *sink
	profile               string
	runs                  int
}

// config is how the target runs in a throughput phase.
type config string

const (
	untraced config = "untraced"
	headless config = "headless, OTLP to a local sink"
	wireOnly config = "headless, --wire-only (no uprobes)"
	tui      config = "TUI in a pseudo-terminal"
)

// phaseResult is one throughput phase.
type phaseResult struct {
	load     loadResult
	targetUs float64 // target CPU per request, us
	tracerUs float64 // rustscope CPU per request, us
}

// rateResult is one rate-limited phase with rustscope headless.
type rateResult struct {
	c                  config
	path               string
	rate, seconds      float64
	load               loadResult
	cpuPct             float64 // rustscope CPU, % of one core
	rssMB, peakMB      float64 // steady (median of the second half) and peak RSS
	spans, lost, drops int64   // spans received by the sink; ring records lost; export drops
	targetUs           float64
	progs              []progCost // with progs: each BPF program's cost
}

type report struct {
	date, machine, goVersion string
	phase                    time.Duration
	phases                   map[config][]phaseResult
	rates                    []rateResult
	attach                   []time.Duration // attach request to probes live, debug binary
	analysis                 time.Duration   // median binary analysis of the debug binary
	debugMB                  float64
	gobench                  []benchLine
	progs                    []progCost // BPF programs, headless at 5,000/s
}

func (h *harness) run() (*report, error) {
	r := &report{date: time.Now().Format("2006-01-02"), machine: machine(), phase: h.phase, phases: map[config][]phaseResult{}, goVersion: goVersion()}
	target, err := h.startApp("release")
	if err != nil {
		return nil, err
	}
	defer target.stop()
	// A second app whose every request makes a client call (to target):
	// what a service that calls out pays, the task probes in place.
	caller, err := h.startApp("release", "DOWNSTREAM_URL="+target.base)
	if err != nil {
		return nil, err
	}
	defer caller.stop()
	caller.path = "/call/http/%d"

	log.Printf("warm-up")
	if _, err := h.load(target, 32, 3*time.Second, 0); err != nil {
		return nil, err
	}
	// Throughput: A B C A B C, so drift in the VM hits every config alike.
	for round := range 2 {
		for _, c := range []config{untraced, headless, tui, wireOnly} {
			log.Printf("throughput round %d: %s (%s)", round+1, c, h.phase)
			p, err := h.throughput(target, c)
			if err != nil {
				return nil, fmt.Errorf("throughput %s: %w", c, err)
			}
			r.phases[c] = append(r.phases[c], p)
		}
	}
	// Fixed rates: target CPU per request is compared here, where every
	// config does the same work per second (at saturation a slower config
	// batches more requests per wake-up, which blurs per-request cost).
	// The last phase repeats headless at 5,000/s with the kernel's BPF
	// statistics on, for what each program costs (not in the CPU figures:
	// the statistics cost a little themselves).
	for _, rate := range []struct {
		c     config
		rps   float64
		d     time.Duration
		a     *app
		progs bool
	}{{untraced, 5000, h.phase, target, false}, {wireOnly, 5000, h.phase, target, false}, {headless, 1000, h.phase, target, false},
		{headless, 5000, h.lossPhase, target, false}, {untraced, 2000, h.phase, caller, false}, {headless, 2000, h.phase, caller, false},
		{headless, 5000, h.phase, target, true}} {
		if rate.progs {
			log.Printf("rate %.0f/s for %s, %s, GET %s, BPF statistics on", rate.rps, rate.d, rate.c, rate.a.path)
			rr, err := h.rated(rate.a, rate.c, rate.rps, rate.d, true)
			if err != nil {
				return nil, fmt.Errorf("BPF program costs: %w", err)
			}
			r.progs = rr.progs
			continue
		}
		log.Printf("rate %.0f/s for %s, %s, GET %s", rate.rps, rate.d, rate.c, rate.a.path)
		rr, err := h.rated(rate.a, rate.c, rate.rps, rate.d, false)
		if err != nil {
			return nil, fmt.Errorf("rate %.0f: %w", rate.rps, err)
		}
		r.rates = append(r.rates, rr)
	}
	log.Printf("attach to the debug build")
	if err := h.attachTimes(r); err != nil {
		return nil, err
	}
	log.Printf("go benchmarks (ui, symbols)")
	if r.gobench, err = goBench("./ui/", "./symbols/", "./tracer/"); err != nil {
		return nil, err
	}
	return r, nil
}

// app is a running test app.
type app struct {
	cmd  *exec.Cmd
	base string
	path string // what the load generator requests ("/users/%d")
}

func (a *app) pid() int { return a.cmd.Process.Pid }

func (a *app) stop() {
	a.cmd.Process.Kill()
	a.cmd.Wait()
}

func (h *harness) startApp(variant string, env ...string) (*app, error) {
	cmd := exec.Command(filepath.Join(h.apps, variant, "axum-server"), "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s axum-server: %w", variant, err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s axum-server: first line %q: %v", variant, line, err)
	}
	go io.Copy(io.Discard, out)
	return &app{cmd: cmd, base: "http://" + addr, path: "/users/%d"}, nil
}

// load runs the load generator as its own process.
func (h *harness) load(a *app, conns int, d time.Duration, rate float64) (loadResult, error) {
	cmd := exec.Command(h.self, "load", "-url", a.base, "-path", a.path, "-conns", fmt.Sprint(conns), "-duration", d.String(), "-rate", fmt.Sprint(rate))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return loadResult{}, fmt.Errorf("run load generator: %w", err)
	}
	var res loadResult
	if err := json.Unmarshal(out, &res); err != nil {
		return loadResult{}, fmt.Errorf("decode load result %q: %w", out, err)
	}
	if res.Errors > 0 {
		return res, fmt.Errorf("load generator: %d of %d requests failed", res.Errors, res.Requests+res.Errors)
	}
	return res, nil
}

func (h *harness) start(a *app, c config) (*tracer, error) {
	var t *tracer
	var err error
	switch c {
	case headless:
		t, _, err = h.startHeadless(a.pid())
	case wireOnly:
		t, _, err = h.startHeadless(a.pid(), "--wire-only")
	case tui:
		t, err = h.startTUI(a.pid())
	}
	return t, err
}

// throughput runs one closed-loop phase against the app in config c.
func (h *harness) throughput(a *app, c config) (phaseResult, error) {
	t, err := h.start(a, c)
	if err != nil {
		return phaseResult{}, err
	}
	if t != nil {
		time.Sleep(settle)
	}
	cpu0, err := cpuTime(a.pid())
	if err != nil {
		return phaseResult{}, err
	}
	var rs0 time.Duration
	if t != nil {
		rs0, _ = cpuTime(t.pid)
	}
	res, err := h.load(a, 32, h.phase, 0)
	if err != nil {
		return phaseResult{}, err
	}
	cpu1, _ := cpuTime(a.pid())
	p := phaseResult{load: res, targetUs: us(cpu1-cpu0) / float64(res.Requests)}
	if t != nil {
		rs1, _ := cpuTime(t.pid)
		p.tracerUs = us(rs1-rs0) / float64(res.Requests)
		if _, err := t.stop(); err != nil {
			return p, err
		}
	}
	return p, nil
}

// rated runs a rate-limited phase in config c: the target's CPU per
// request and, when rustscope runs, its CPU and memory (sampled every
// second) and what reached the sink.
// rated runs a at a fixed rate under config c; with progs, it also takes
// each of rustscope's BPF programs' cost over the load.
func (h *harness) rated(a *app, c config, rate float64, d time.Duration, progs bool) (rateResult, error) {
	if progs {
		stats, err := enableProgStats()
		if err != nil {
			return rateResult{}, err
		}
		defer stats.Close()
	}
	t, err := h.start(a, c)
	if err != nil {
		return rateResult{}, err
	}
	if t != nil {
		time.Sleep(settle)
	}
	var before map[ebpf.ProgramID]ebpf.ProgramStats
	if progs {
		if before, _, err = progCounters(); err != nil {
			t.stop()
			return rateResult{}, err
		}
	}
	spans0 := h.sink.spans.Load()
	tcpu0, _ := cpuTime(a.pid())
	var cpu0 time.Duration
	var mu sync.Mutex
	var rss []int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if t != nil {
		cpu0, _ = cpuTime(t.pid)
		go func() {
			defer close(done)
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if v, _, err := memKB(t.pid); err == nil {
						mu.Lock()
						rss = append(rss, v)
						mu.Unlock()
					}
				}
			}
		}()
	} else {
		close(done)
	}
	start := time.Now()
	res, err := h.load(a, 32, d, rate)
	elapsed := time.Since(start)
	cancel()
	<-done
	if err != nil {
		if t != nil {
			t.stop()
		}
		return rateResult{}, err
	}
	tcpu1, _ := cpuTime(a.pid())
	rr := rateResult{c: c, rate: rate, path: a.path, seconds: res.Seconds, load: res, targetUs: us(tcpu1-tcpu0) / float64(res.Requests)}
	if progs {
		after, names, err := progCounters()
		if err != nil {
			t.stop()
			return rateResult{}, err
		}
		rr.progs = progCosts(before, after, names, res.Requests)
	}
	if t == nil {
		return rr, nil
	}
	cpu1, _ := cpuTime(t.pid)
	_, hwm, _ := memKB(t.pid)
	fields, err := t.stop() // flushes every span
	if err != nil {
		return rateResult{}, err
	}
	rr.cpuPct = 100 * (cpu1 - cpu0).Seconds() / elapsed.Seconds()
	rr.peakMB = float64(hwm) / 1024
	rr.spans = h.sink.spans.Load() - spans0
	fmt.Sscan(fields["lost"], &rr.lost)
	fmt.Sscan(fields["dropped"], &rr.drops)
	if half := rss[len(rss)/2:]; len(half) > 0 {
		slices.Sort(half)
		rr.rssMB = float64(half[len(half)/2]) / 1024
	}
	return rr, nil
}

// attachTimes measures, on the debug build (the largest binary), the time
// from starting rustscope to its "attached" line, three times, and the
// binary analysis alone.
func (h *harness) attachTimes(r *report) error {
	a, err := h.startApp("debug")
	if err != nil {
		return err
	}
	defer a.stop()
	exe := filepath.Join(h.apps, "debug", "axum-server")
	if fi, err := os.Stat(exe); err == nil {
		r.debugMB = float64(fi.Size()) / 1e6
	}
	for range 3 {
		t, took, err := h.startHeadless(a.pid())
		if err != nil {
			return err
		}
		r.attach = append(r.attach, took)
		if _, err := t.stop(); err != nil {
			return err
		}
	}
	var ds []time.Duration
	for range 5 {
		t0 := time.Now()
		if _, err := symbols.AnalyzeFile(exe); err != nil {
			return fmt.Errorf("analyse %s: %w", exe, err)
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	r.analysis = ds[len(ds)/2]
	return nil
}

// goVersion is the Go release building rustscope here.
func goVersion() string {
	out, _ := exec.Command("go", "env", "GOVERSION").Output()
	return strings.TrimSpace(string(out))
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
