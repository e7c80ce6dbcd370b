package session

// Headless mode: the tracer's spans go to the exporters only, and rustscope
// reports on stderr what it attached to and what it dropped.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rustscope/rustscope/export"
	"github.com/rustscope/rustscope/lib"
	"github.com/rustscope/rustscope/process"
	"github.com/rustscope/rustscope/tracer"
)

// dropReportInterval is how often, at most, headless mode reports dropped
// spans on stderr.
const dropReportInterval = 10 * time.Second

// Headless is rustscope without its UI: it traces one process, or every
// process its targets select, and exports the spans.
type Headless struct {
	PID     int              // the process to trace until it exits; 0: Targets
	Targets []process.Target // the processes to attach to, running or started later
	// Tracer are the tracer's options, Logger and Symbols included (the
	// checks and the selector use them too); OnExec and OnExit are
	// Headless's own.
	Tracer tracer.Options
	Export export.Config
	Stdout io.Writer // the console exporter's
	Stderr io.Writer // one line per attach, wait, drop report and failure
}

// Run attaches to h.PID, or to every process h.Targets select, running or
// started later, and exports spans until ctx ends, or until the process
// h.PID exits. Spans of finished requests are flushed on the way out.
func (h Headless) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log, cache, stderr := h.Tracer.Logger, h.Tracer.Symbols, h.Stderr

	pipe, err := export.New(ctx, h.Export, h.Stdout)
	if err != nil {
		return err
	}
	var exited atomic.Bool
	var w *process.Watcher // set before t runs
	onExec := func(e tracer.Exec) {
		if w != nil {
			w.Execed(process.Exec{PID: int(e.PID), Targeted: e.Targeted, Exe: e.Exe})
		}
	}
	opts := h.Tracer
	opts.OnExec = onExec
	// A target that names no executable (--all) may be any process that
	// starts: each is one from its exec until judged (tracer/exec.go).
	opts.ExecUnknown = h.PID == 0 && slices.ContainsFunc(h.Targets, func(t process.Target) bool { return t.Exe == "" })
	opts.OnExit = func(pid uint32) {
		pipe.Remove(pid)
		if h.PID != 0 && int(pid) == h.PID {
			exited.Store(true)
			cancel()
			return
		}
		if w != nil {
			w.Exited(pid)
		}
	}
	t, err := tracer.New(opts)
	if err != nil {
		pipe.Shutdown(context.Background())
		return err
	}
	defer t.Close()

	// sel is the configured target pid matched (nil for --pid): it may name
	// the service.
	// exe is set for a process that was a target from its exec (exec.go):
	// if it has exited already, it is attached from its executable.
	attach := func(pid int, sel *process.Target, exe string) error {
		var tg *tracer.Target
		note, err := process.CheckPID(pid, h.Tracer.WireOnly, cache)
		if err == nil {
			tg, err = t.Attach(pid)
		}
		if err != nil && exe != "" && !process.Running(pid) {
			note = ""
			tg, err = t.AttachExited(pid, exe)
		}
		if err != nil {
			return err
		}
		if exe == "" && h.PID == 0 {
			// Its restarts are targets from their exec.
			if err := t.WatchExe(fmt.Sprintf("/proc/%d/exe", pid), tg.Exe); err != nil {
				log.Debug("watch executable", "pid", pid, "err", err)
			}
		}
		service := ""
		if sel != nil {
			service = sel.ServiceName
		}
		if err := pipe.AddService(ctx, tg, service); err != nil {
			t.Detach(pid)
			return err
		}
		t.Admit(pid) // its spans since its exec go, now that the pipeline has it
		if note != "" {
			fmt.Fprintf(stderr, "rustscope: %s\n", note)
		}
		desc := describeTarget(tg)
		if service != "" {
			desc += " as service " + service
		}
		fmt.Fprintf(stderr, "rustscope: attached pid %d %s: %s; spans to %s\n", tg.PID, desc,
			strings.Join(tg.Capture, "; "), h.Export.Describe())
		return nil
	}
	if h.PID != 0 {
		if err := attach(h.PID, nil, ""); err != nil {
			pipe.Shutdown(context.Background())
			return err
		}
	} else {
		sel, err := process.NewSelector(h.Targets, cache.Analyze)
		if err != nil {
			pipe.Shutdown(context.Background())
			return err
		}
		w = process.NewWatcher(sel, log, stderr, process.WatchHooks{
			Attach: attach,
			Detach: func(pid int) {
				pipe.Remove(uint32(pid))
				if err := t.Detach(pid); err != nil {
					log.Warn("detach", "pid", pid, "err", err)
				}
			},
			Release: func(pid int) {
				if err := t.Release(pid); err != nil {
					log.Warn("release", "pid", pid, "err", err)
				}
			},
			Watch: func() { watchExes(t, sel, log) },
		})
		watchExes(t, sel, log) // before a process may start
		fmt.Fprintf(stderr, "rustscope: waiting for %s\n", sel)
		go w.Run(ctx)
	}

	go reportDrops(ctx, pipe, t, stderr)
	runErr := t.Run(ctx, pipe.Export)

	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := pipe.Shutdown(sctx); err != nil {
		log.Warn("flush spans", "err", err)
	}
	c := t.Counters()
	log.Info("stopped", "spans", c.Spans.Load(), "events", c.Events.Load(), "gaps", c.Gaps.Load(), "lost", t.Lost(),
		"exported", pipe.Exported(), "dropped", pipe.Dropped(), "probe_hits", c.Hits.Load(),
		"routes_refused", c.RoutesRefused.Load(), "links", c.Links.Load(), "links_refused", c.LinksRefused.Load(), "links_unsampled", c.LinksUnsampled.Load(),
		"tls_conns", c.TLSConns.Load(), "tls_bound", c.TLSBound.Load(), "tls_unbound", c.TLSUnbound.Load(),
		"requests_dropped", c.Dropped.Load(), "conns", c.Conns.Load())
	if n := pipe.Dropped(); n > 0 {
		fmt.Fprintf(stderr, "rustscope: %d spans dropped in all\n", n)
	}
	switch {
	case exited.Load():
		fmt.Fprintf(stderr, "rustscope: pid %d exited\n", h.PID)
		return nil
	case errors.Is(runErr, context.Canceled):
		return nil
	default:
		return runErr
	}
}

func describeTarget(tg *tracer.Target) string {
	desc := tg.Comm
	if tg.Analysis != nil {
		if s := tg.Analysis.Summary(lib.Crates()...); s != "" {
			desc += " (" + s + ")"
		}
	}
	return desc
}

// reportDrops prints a line on stderr when spans were dropped, or capture
// records lost in the kernel, since the last report, at most once per
// dropReportInterval each.
func reportDrops(ctx context.Context, pipe *export.Pipeline, t *tracer.Tracer, stderr io.Writer) {
	tick := time.NewTicker(dropReportInterval)
	defer tick.Stop()
	var last, lastLost uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if lost := t.Lost(); lost != lastLost {
			fmt.Fprintf(stderr, "rustscope: ring buffer full: %d capture records lost in the last %v (%d in all; %d requests without a span so far)\n",
				lost-lastLost, dropReportInterval, lost, t.Counters().Dropped.Load())
			lastLost = lost
		}
		n := pipe.Dropped()
		if n == last {
			continue
		}
		msg := fmt.Sprintf("rustscope: %d spans dropped in the last %v (%d in all)", n-last, dropReportInterval, n)
		if err := pipe.LastError(); err != nil {
			msg += ": " + err.Error()
		}
		fmt.Fprintln(stderr, msg)
		last = n
	}
}

// watchExes watches the executables the selector's targets name (a path,
// or every file a glob matches now): their processes are targets from
// their exec (tracer/exec.go).
func watchExes(t *tracer.Tracer, sel *process.Selector, log *slog.Logger) {
	for _, tg := range sel.Targets() {
		if tg.Exe == "" {
			continue
		}
		files := []string{tg.Exe}
		if process.IsGlob(tg.Exe) {
			files, _ = filepath.Glob(tg.Exe)
		}
		for _, f := range files {
			if err := t.WatchExe(f, f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				log.Debug("watch executable", "exe", f, "err", err)
			}
		}
	}
}
