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
	"time"

	"github.com/rustscope/rustscope/symbols"
	"github.com/rustscope/rustscope/testcert"
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
	h := &harness{began: time.Now()}
	flag.StringVar(&h.rustscope, "rustscope", "./rustscope", "the rustscope binary")
	flag.StringVar(&h.apps, "apps", "testapps/bin", "the built test apps (testapps/build.sh)")
	flag.DurationVar(&h.phase, "phase", 10*time.Second, "length of a throughput phase at saturation")
	flag.IntVar(&h.rounds, "rounds", 3, "rounds of untraced and headless phases at saturation")
	flag.IntVar(&h.pairs, "pairs", 6, "rounds of untraced and traced phases at a fixed rate (and kernel-statistics windows)")
	flag.DurationVar(&h.pairPhase, "pair-phase", 10*time.Second, "measured length of a fixed-rate phase")
	flag.DurationVar(&h.lossPhase, "loss-phase", 30*time.Second, "length of the zero-loss phase")
	flag.BoolVar(&h.gobench, "gobench", true, "run the Go benchmarks")
	out := flag.String("out", "docs/performance.md", "the report to rewrite")
	before := flag.String("before", "", "the report whose figures are \"before\" (default: -out as it was)")
	flag.StringVar(&h.profile, "profile", "", "write a CPU profile of each headless rustscope run into this directory")
	flag.StringVar(&h.tracerCPUs, "tracer-cpus", "", "pin every rustscope the bench starts to these CPUs (a taskset list, e.g. 0 or 0,1; default unpinned)")
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
	prev := old
	if *before != "" {
		if prev, err = os.ReadFile(*before); err != nil {
			log.Fatal(err)
		}
	}
	var doc string
	if *soak > 0 {
		r, err := h.soak(*soak)
		if err != nil {
			log.Fatal(err)
		}
		doc = withSoak(string(old), r.markdown())
	} else {
		log.Printf("a run takes about %s", h.estimate().Round(time.Minute))
		r, err := h.run()
		if err != nil {
			log.Fatal(err)
		}
		if b, ok := parseFigures(string(prev)); ok {
			r.before = &b
		}
		doc = withSoak(r.markdown(), soakSection(string(old))) // the soak's own run stays
	}
	if err := os.WriteFile(*out, []byte(doc), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s", *out)
}

type harness struct {
	rustscope, apps, self       string
	phase, pairPhase, lossPhase time.Duration
	rounds, pairs               int
	gobench                     bool
	sink                        *sink
	profile                     string
	tracerCPUs                  string          // taskset list for rustscope; "": unpinned
	certs                       *testcert.Files // for the HTTPS app, made once
	runs                        int
	began                       time.Time
}

// config is how the target runs in a throughput phase.
type config string

const (
	untraced config = "untraced"
	headless config = "headless, OTLP to a local sink"
	wireOnly config = "headless, --wire-only (no uprobes)"
	tui      config = "TUI in a pseudo-terminal"
)

type report struct {
	date, machine, goVersion string
	phase, pairPhase         time.Duration
	phases                   map[config][]phaseResult // at saturation, by round
	users, calls, https      map[config][]rateResult  // at a fixed rate, twins, by pair
	lossRate                 float64                  // asked of the zero-loss phase
	loss                     rateResult
	profile                  []profileArea // rustscope's CPU in the zero-loss phase
	bpfUsers, bpfCalls       bpfResult
	attach                   []time.Duration // attach request to probes live, debug binary
	analysis                 time.Duration   // median binary analysis of the debug binary
	debugMB                  float64
	gobench                  []benchLine
	before                   *figures // the previous report's
}

func (h *harness) run() (*report, error) {
	r := &report{date: time.Now().Format("2006-01-02"), machine: machine(), goVersion: goVersion(), phase: h.phase, pairPhase: h.pairPhase,
		phases: map[config][]phaseResult{}, users: map[config][]rateResult{}, calls: map[config][]rateResult{},
		https: map[config][]rateResult{}}
	target, err := h.startApp("", "release")
	if err != nil {
		return nil, err
	}
	defer target.stop()
	// A second app whose every request makes a client call (to target):
	// what a service that calls out pays, the task probes in place (under
	// the default link budget).
	caller, err := h.startApp("", "release", "DOWNSTREAM_URL="+target.base)
	if err != nil {
		return nil, err
	}
	defer caller.stop()
	caller.path = "/call/http/%d"

	h.progress("warm-up")
	if _, err := h.load(target, 32, 3*time.Second, 0); err != nil {
		return nil, err
	}
	if err := h.saturation(r, target); err != nil {
		return nil, err
	}
	if err := h.fixedRate(r, target); err != nil {
		return nil, err
	}
	if err := h.sustained(r, target); err != nil {
		return nil, err
	}
	// With the kernel's BPF statistics on (not in the CPU figures: they
	// cost a little themselves).
	h.progress("BPF statistics: /users at %d/s", usersRate)
	if r.bpfUsers, err = h.kernelStats(target, ratePlan{rate: usersRate, warm: pairWarm, settle: true}); err != nil {
		return nil, fmt.Errorf("BPF statistics, /users: %w", err)
	}
	h.progress("BPF statistics: /call/http/N at %d/s", callsRate)
	if r.bpfCalls, err = h.kernelStats(caller, ratePlan{rate: callsRate, warm: callWarm, calls: true}); err != nil {
		return nil, fmt.Errorf("BPF statistics, /call/http/N: %w", err)
	}
	h.progress("attach to the debug build")
	if err := h.attachTimes(r); err != nil {
		return nil, err
	}
	if h.gobench {
		h.progress("go benchmarks (ui, symbols, tracer)")
		if r.gobench, err = goBench("./ui/", "./symbols/", "./tracer/"); err != nil {
			return nil, err
		}
	}
	h.progress("done")
	return r, nil
}

// app is a running test app.
type app struct {
	cmd  *exec.Cmd
	base string
	path string // what the load generator requests ("/users/%d")
	ca   string // the CA its HTTPS certificate is signed by ("": plaintext)
}

func (a *app) pid() int { return a.cmd.Process.Pid }

func (a *app) stop() {
	a.cmd.Process.Kill()
	a.cmd.Wait()
}

// startApp starts the axum test app of variant, pinned to cpus (a taskset
// list; "": unpinned).
func (h *harness) startApp(cpus, variant string, env ...string) (*app, error) {
	return h.startServer(cpus, variant, "axum-server", nil, env...)
}

// startTLSApp starts the axum test app over rustls (HTTPS) of variant,
// pinned to cpus, with a certificate of a CA made for the run.
func (h *harness) startTLSApp(cpus, variant string) (*app, error) {
	if h.certs == nil {
		dir, err := os.MkdirTemp("", "rustscope-bench-certs")
		if err != nil {
			return nil, fmt.Errorf("make certificates: %w", err)
		}
		if h.certs, err = testcert.Write(dir); err != nil {
			return nil, err
		}
	}
	a, err := h.startServer(cpus, variant, "axum-tls-server", []string{"--cert", h.certs.Cert, "--key", h.certs.Key})
	if err != nil {
		return nil, err
	}
	a.base, a.ca = strings.Replace(a.base, "http://", "https://", 1), h.certs.CA
	return a, nil
}

// startServer starts a test server app and waits for its "listening on"
// line.
func (h *harness) startServer(cpus, variant, name string, args []string, env ...string) (*app, error) {
	cmd := pinned(cpus, filepath.Join(h.apps, variant, name), append([]string{"--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s %s: %w", variant, name, err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s %s: first line %q: %v", variant, name, line, err)
	}
	go io.Copy(io.Discard, out)
	return &app{cmd: cmd, base: "http://" + addr, path: "/users/%d"}, nil
}

// attachTimes measures, on the debug build (the largest binary), the time
// from starting rustscope to its "attached" line, three times, and the
// binary analysis alone.
func (h *harness) attachTimes(r *report) error {
	a, err := h.startApp("", "debug")
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

// pinned is the command name args run on cpus (a taskset list) through
// taskset, which sets the affinity and execs it: the PID is name's, and
// every thread it starts inherits the affinity. cpus "": unpinned.
func pinned(cpus, name string, args ...string) *exec.Cmd {
	if cpus == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", cpus, name}, args...)...)
}

// goVersion is the Go release building rustscope here.
func goVersion() string {
	out, _ := exec.Command("go", "env", "GOVERSION").Output()
	return strings.TrimSpace(string(out))
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
