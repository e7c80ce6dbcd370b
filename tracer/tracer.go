// Package tracer attaches to Rust processes and turns what their sockets
// carry into request spans.
//
// Data path: the BPF wire programs (package bpf) copy the bytes of every
// read/write-family syscall on the targets' TCP sockets into one ring
// buffer; Run decodes the records, the assembler keeps one HTTP parser per
// connection, and each completed exchange becomes a Span handed to the
// caller's emit function (UI, exporters).
package tracer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/rustscope/rustscope/process"
	"github.com/rustscope/rustscope/symbols"
)

// Version is rustscope's version, set at build time.
var Version = "0.1.0-dev"

// pollInterval bounds how long a committed record may wait in the ring
// before the reader looks (producers skip most wake-ups).
const pollInterval = 50 * time.Millisecond

// Options configure a Tracer.
type Options struct {
	CaptureBytes int // bytes copied per syscall; DefaultCaptureBytes if 0
	RingBytes    int // ring buffer size; DefaultRingBytes if 0
	Logger       *slog.Logger
	// OnExit is called from Run's goroutine when a traced process has
	// exited and been detached.
	OnExit func(pid uint32)
	// OnExec is called from Run's goroutine, which it must not block, when
	// any process on the host starts running a new executable (exec.go:
	// one whose executable is watched is a target already, and must be
	// attached or released).
	OnExec func(Exec)
	// ExecUnknown makes a process that starts running an executable not
	// judged yet (WatchExe, Release) a target from its exec, until it is
	// attached or released: for selectors that name no executable (--all).
	ExecUnknown bool
	// WireOnly attaches no library uprobes: nothing is placed in the
	// target's code, spans come from the syscall capture alone.
	WireOnly bool
	// Symbols caches binary analyses; shared with process discovery so a
	// binary the picker has analysed is not analysed again on attach.
	Symbols *symbols.Cache
	// ShowSecrets puts query values and credential headers (Authorization,
	// Proxy-Authorization, Cookie, Set-Cookie) in spans; by default query
	// values are REDACTED and those headers left out.
	ShowSecrets bool
	// LinkBudget bounds the task polls a second the tokio task probes,
	// which link client calls to their server span, see in one process:
	// above it they are placed in windows (tasks.go). 0:
	// DefaultLinkBudget; negative: no bound.
	LinkBudget int
}

// Target is an attached process.
type Target struct {
	PID      uint32
	Exe      string   // executable path as the process sees it
	Cmdline  []string // argv
	Comm     string
	Analysis *symbols.Analysis // nil if the binary could not be read
	// Capture lists what is attached for this process, and what could not
	// be and why, for people to read.
	Capture []string

	links  []link.Link // library uprobes
	tasks  taskProbes  // tokio task probes, placed while the process makes client calls
	routes routeProbe  // axum's route lookup, resting while the route table alone answers
	client clientProbe // hyper's client parse, resting while every client connection's library is known
	probed [hitTLS + 1]bool
}

// Tracer owns the loaded BPF programs and the attached targets.
type Tracer struct {
	log      *slog.Logger
	onExit   func(uint32)
	onExec   func(Exec)
	w        *wire
	clock    *clock
	counters Counters
	symbols  *symbols.Cache
	wireOnly bool
	secrets  bool // Options.ShowSecrets
	// linkBudget is Options.LinkBudget resolved: 0 is no bound.
	linkBudget int

	mu      sync.Mutex
	targets map[uint32]*Target
	hits    []hitRef          // library probe cookies, by index
	watched map[exeID]string  // executables whose processes are targets from exec (exec.go)
	early   map[uint32]*early // targets from exec not attached yet, and their spans
	nEarly  atomic.Int32      // len(early), read without mu
}

// New loads and attaches the capture programs. It needs root (CAP_BPF,
// CAP_PERFMON) and a kernel with BTF and syscall tracepoints.
func New(opts Options) (*Tracer, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ring := opts.RingBytes
	if ring == 0 {
		ring = DefaultRingBytes
	}
	w, err := openWire(opts.CaptureBytes, ring, opts.ExecUnknown)
	if err != nil {
		return nil, err
	}
	cache := opts.Symbols
	if cache == nil {
		cache = symbols.NewCache(64, symbols.Options{})
	}
	return &Tracer{log: log, onExit: opts.OnExit, onExec: opts.OnExec, w: w, clock: newClock(), symbols: cache, wireOnly: opts.WireOnly, secrets: opts.ShowSecrets, linkBudget: linkBudget(opts.LinkBudget), targets: map[uint32]*Target{},
		watched: map[exeID]string{}, early: map[uint32]*early{}}, nil
}

// linkBudget resolves Options.LinkBudget.
func linkBudget(opt int) int {
	switch {
	case opt == 0:
		return DefaultLinkBudget
	case opt < 0:
		return 0
	}
	return opt
}

// Attach starts tracing pid. The target is only read, never written.
func (t *Tracer) Attach(pid int) (*Target, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("attach pid %d: not a valid pid", pid)
	}
	tg, err := describe(pid, t.symbols)
	if err != nil {
		return nil, fmt.Errorf("attach pid %d: %w", pid, err)
	}
	if err := t.w.addTarget(uint32(pid)); err != nil {
		return nil, err
	}
	tg.Capture = []string{wireCapture}
	links, notes := t.attachProbes(tg)
	tg.links = links
	tg.Capture = append(tg.Capture, notes...)
	if tg.Analysis != nil {
		for _, t := range process.TLSSight(tg.Analysis) {
			tg.Capture = append(tg.Capture, "TLS "+t)
		}
	}
	t.mu.Lock()
	t.targets[uint32(pid)] = tg
	t.mu.Unlock()
	t.log.Info("attached", "pid", pid, "exe", tg.Exe, "capture", tg.Capture)
	return tg, nil
}

// wireCapture is what every target gets.
const wireCapture = "wire: HTTP/1.1 and HTTP/2 (h2c, gRPC) over TCP from syscall tracepoints (read/write/readv/writev/recvfrom/sendto/recvmsg/sendmsg, accept/connect/close)"

// Detach stops tracing pid.
func (t *Tracer) Detach(pid int) error {
	links, err := t.forget(pid)
	return errors.Join(append(closeLinks(links), err)...)
}

// forget stops capturing pid and returns its probe links, still to close.
func (t *Tracer) forget(pid int) ([]link.Link, error) {
	t.mu.Lock()
	tg := t.targets[uint32(pid)]
	delete(t.targets, uint32(pid))
	var links []link.Link
	if tg != nil {
		links = slices.Concat(tg.links, tg.tasks.links, tg.routes.links, tg.client.links)
		tg.tasks.links, tg.routes.links, tg.client.links = nil, nil, nil
	}
	// A process that ran a new program is a target from that exec
	// already (exec.go): its capture goes on.
	e := t.early[uint32(pid)]
	fresh := e != nil && !e.done
	t.mu.Unlock()
	if fresh {
		return links, nil
	}
	return links, t.w.removeTarget(uint32(pid))
}

// Counters returns the running totals.
func (t *Tracer) Counters() *Counters { return &t.counters }

// Lost returns how many records the kernel could not queue.
func (t *Tracer) Lost() uint64 {
	n, err := t.w.lost()
	if err != nil {
		t.log.Warn("read lost counter", "err", err)
	}
	return n
}

func (t *Tracer) target(pid uint32) *Target {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.targets[pid]
}

// Run reads events and calls emit for every finished request until ctx is
// done. Exited targets are detached (see Options.OnExit). emit runs on Run's
// goroutine and must not block for long: the kernel drops records while
// the ring is full. On return, every record already in the ring has been
// processed, so no finished request is lost on a clean shutdown.
func (t *Tracer) Run(ctx context.Context, emit func(Span)) error {
	out := secretsFilter(emit, t.secrets)
	asm := newAssembler(t.clock, &t.counters, t.target, t.holdEarly(out))
	asm.hits.hit, asm.log, asm.clientSeen, asm.execed = t.hit, t.log, t.clientSeen, t.execed
	asm.placeRoutes, asm.placeClient = t.placeRoutes, t.placeClient
	asm.setTLSOffset = func(pid uint32, role uint8, d int64) {
		if err := t.w.setTLSOffset(pid, role, d); err != nil {
			t.log.Warn("set TLS key offset", "pid", pid, "err", err)
			return
		}
		t.log.Info("TLS key offset learnt", "pid", pid, "role", role, "offset", d)
	}
	var rec ringbuf.Record
	var ev event
	lastCheck := time.Now()
	// The deadline is set once per poll, not per record: reading a
	// record that is there does not need it, and a clock read and a
	// locked store per record were a visible share of the loop.
	t.w.setDeadline(lastCheck.Add(pollInterval))
	draining := false
	for {
		if !draining && ctx.Err() != nil {
			draining = true
			t.w.setDeadline(time.Now()) // drain what is there, then stop
		}
		err := t.w.read(&rec)
		switch {
		case err == nil:
			if derr := decodeEvent(rec.RawSample, &ev); derr != nil {
				t.counters.BadEvents.Add(1)
				continue
			}
			asm.handle(&ev)
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
		default:
			return fmt.Errorf("read ring buffer: %w", err)
		}
		if draining {
			asm.unparkAll()
			asm.releaseCalls(math.MaxUint64)
			asm.flushAllNoLib()
			t.settleEarly(out, t.clock.mono())
			return ctx.Err()
		}
		now := t.clock.mono()
		t.settleEarly(out, now)
		asm.unparkStale(now)
		asm.releaseCalls(now)
		t.weighTasks(now)
		if time.Since(lastCheck) >= time.Second {
			lastCheck = time.Now()
			if d := t.clock.sync(); d.Abs() > clockStep {
				t.log.Info("wall clock stepped against the monotonic clock: spans follow it", "step", d)
			}
			asm.expire(now)
			asm.expireTLS(now)
			t.reapExited(asm, now)
			t.tickTasks(now)
			t.tickRoutes(now)
			t.tickClient(now)
		}
		t.w.setDeadline(time.Now().Add(pollInterval))
	}
}

// reapExited detaches processes that are gone.
func (t *Tracer) reapExited(asm *assembler, now uint64) {
	t.mu.Lock()
	var gone []uint32
	for pid := range t.targets {
		// One whose spans since its exec wait (exec.go) goes after them.
		if t.early[pid] == nil && !process.Running(int(pid)) {
			gone = append(gone, pid)
		}
	}
	t.mu.Unlock()
	for _, pid := range gone {
		t.log.Info("target exited", "pid", pid)
		links, err := t.forget(int(pid))
		if err != nil {
			t.log.Warn("detach exited target", "pid", pid, "err", err)
		}
		// Closing a uprobe link waits for the kernel (an RCU grace period,
		// seconds on a busy machine): not on Run's goroutine.
		go closeLinks(links)
		asm.dropPID(pid, now)
		if t.onExit != nil {
			t.onExit(pid)
		}
	}
}

// Close detaches everything and unloads the programs.
func (t *Tracer) Close() error {
	t.mu.Lock()
	var links []link.Link
	for _, tg := range t.targets {
		links = append(links, tg.links...)
		links = append(links, tg.tasks.links...)
		links = append(links, tg.routes.links...)
		links = append(links, tg.client.links...)
	}
	t.mu.Unlock()
	return errors.Join(append(closeLinks(links), t.w.close())...)
}

// describe is the Target of pid as /proc describes it.
func describe(pid int, cache *symbols.Cache) (*Target, error) {
	p, err := process.Describe(pid, cache)
	if err != nil {
		return nil, err
	}
	return &Target{PID: uint32(pid), Exe: p.Exe, Cmdline: p.Cmdline, Comm: p.Comm, Analysis: p.Analysis}, nil
}
