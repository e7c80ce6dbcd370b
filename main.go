// Command rustscope traces HTTP requests of running Rust services with eBPF.
//
//	sudo rustscope                          # terminal UI
//	sudo rustscope list                     # Rust processes and what can be traced
//	sudo rustscope inspect PID|PATH         # analysis of one binary
//	sudo rustscope --pid 1234 --stdout      # headless: spans as JSON lines
//	sudo OTEL_TARGET_PID=1234 OTEL_STDOUT=true rustscope
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"
	"golang.org/x/term"

	"github.com/rustscope/rustscope/config"
	"github.com/rustscope/rustscope/export"
	"github.com/rustscope/rustscope/preflight"
	"github.com/rustscope/rustscope/process"
	"github.com/rustscope/rustscope/session"
	"github.com/rustscope/rustscope/symbols"
	"github.com/rustscope/rustscope/tracer"
	"github.com/rustscope/rustscope/ui"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "list":
			return cmdList(args[1:], stdout, stderr)
		case "inspect":
			return cmdInspect(args[1:], stdout, stderr)
		}
	}
	cfg, err := config.Parse(args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "rustscope: %v\n", err)
		if _, ok := errors.AsType[*config.UsageError](err); ok {
			return exitUsage
		}
		return exitRuntime
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "rustscope: cpu profile: %v\n", err)
			return exitUsage
		}
		defer pprof.StopCPUProfile()
	}
	interactive := !cfg.Headless && !cfg.Stdout && cfg.Exe == "" && !cfg.All && len(cfg.Targets) == 0 && term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd()))
	if interactive {
		if cfg.LogFile == "" {
			cfg.LogFile = config.DefaultLogFile()
		}
		log, closeLog, err := openLog(cfg.LogFile, cfg.LogLevel, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "rustscope: %v\n", err)
			return exitUsage
		}
		defer closeLog()
		if err := runUI(cfg, log); err != nil {
			fmt.Fprintf(stderr, "rustscope: %v\n", err)
			return exitRuntime
		}
		return exitOK
	}
	if cfg.PID == 0 && cfg.Exe == "" && !cfg.All && len(cfg.Targets) == 0 {
		read := "none read"
		if cfg.File != "" {
			read = cfg.File + " has none"
		}
		fmt.Fprintf(stderr, "rustscope: no target: set --pid / OTEL_TARGET_PID, --exe / OTEL_TARGET_EXE, --all, or [[target]] in the configuration file (%s)\n", read)
		return exitUsage
	}
	// One cache for the checks and the attaches: an executable is analysed once.
	cache := symbols.NewCache(256, symbols.Options{})
	if err := preflight.Check(); err != nil {
		fmt.Fprintf(stderr, "rustscope: %v\n", err)
		return exitEnv
	}
	if err := checkExes(cfg, cache, stderr); err != nil {
		fmt.Fprintf(stderr, "rustscope: %v\n", err)
		return exitCode(err, exitRuntime)
	}
	log, closeLog, err := openLog(cfg.LogFile, cfg.LogLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "rustscope: %v\n", err)
		return exitUsage
	}
	defer closeLog()
	if err := headless(cfg, cache, log, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "rustscope: %v\n", err)
		return exitCode(err, exitRuntime)
	}
	return exitOK
}

// targets are what the watcher attaches to, in order: the --exe
// executable, or the configuration file's targets, then with --all (or
// all = true) every Rust process using an instrumented crate (the empty
// target).
func targets(cfg config.Config) []process.Target {
	var ts []process.Target
	if cfg.Exe != "" {
		ts = append(ts, process.Target{Exe: cfg.Exe, ExeSrc: cfg.ExeSrc})
	}
	for _, t := range cfg.Targets {
		ts = append(ts, process.Target{Exe: t.Exe, ExeSrc: t.ExeSrc, Cmdline: t.Cmdline, Crate: t.Crate, Container: (*process.Container)(t.Container), ServiceName: t.ServiceName})
	}
	if cfg.All {
		ts = append(ts, process.Target{})
	}
	return ts
}

// checkExes checks, before anything is loaded, each executable the
// targets name by path (process.CheckExe).
func checkExes(cfg config.Config, cache *symbols.Cache, stderr io.Writer) error {
	for _, t := range targets(cfg) {
		note, err := process.CheckExe(t.Exe, t.ExeSrc, cfg.WireOnly, cache)
		if err != nil {
			return err
		}
		if note != "" {
			fmt.Fprintf(stderr, "rustscope: %s\n", note)
		}
	}
	return nil
}

// runUI runs the terminal UI over one tracer for the program's lifetime.
// Spans are forwarded to the configured exporters only when the user asked
// for an exporter or an endpoint; never to stdout, which the UI owns.
func runUI(cfg config.Config, log *slog.Logger) error {
	oneCore()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Debug("export", "err", err) }))
	var pipe *export.Pipeline
	exportTo := ""
	if cfg.ExportSet {
		ec := cfg.Export
		ec.Exporters = slices.DeleteFunc(slices.Clone(ec.Exporters), func(e string) bool { return e == export.ExporterConsole })
		if len(ec.Exporters) > 0 {
			var err error
			if pipe, err = export.New(ctx, ec, io.Discard); err != nil {
				return err
			}
			exportTo = ec.Describe()
		}
	}
	var eng *session.Engine
	cache := symbols.NewCache(256, symbols.Options{})
	t, err := tracer.New(tracer.Options{CaptureBytes: cfg.CaptureBytes, RingBytes: cfg.RingBytes, LinkBudget: cfg.LinkBudget, WireOnly: cfg.WireOnly, ShowSecrets: cfg.ShowSecrets, Logger: log, Symbols: cache, OnExit: func(pid uint32) { eng.Exited(pid) }})
	var loadErr error
	if err != nil {
		// The picker still works (as far as /proc is readable); attaching
		// says why it cannot, in the UI.
		log.Error("load tracer", "err", err)
		if perr := preflight.Check(); perr != nil {
			err = perr // names what is missing
		}
		t, loadErr = nil, fmt.Errorf("cannot trace: %w", err)
	} else {
		defer t.Close()
	}
	eng = session.New(session.Options{Tracer: t, LoadErr: loadErr, Log: log, Symbols: cache, Buffer: cfg.Buffer, Pipe: pipe, To: exportTo, Export: cfg.Export})
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	uiErr := ui.Run(eng, ui.Config{PID: cfg.PID, Buffer: cfg.Buffer, StartupError: loadErr})
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("tracer stopped", "err", err)
	}
	if pipe != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := pipe.Shutdown(sctx); err != nil {
			log.Warn("flush spans", "err", err)
		}
	}
	return uiErr
}

// openLog returns the logger: to the log file if one is given, else stderr.
func openLog(path string, level slog.Level, stderr io.Writer) (*slog.Logger, func(), error) {
	opts := &slog.HandlerOptions{Level: level}
	if path == "" {
		return slog.New(slog.NewTextHandler(stderr, opts)), func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, fmt.Errorf("create log directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open log file: %w", err)
	}
	return slog.New(slog.NewTextHandler(f, opts)), func() { f.Close() }, nil
}

// memoryLimit is the Go heap's soft limit in headless mode (GOMEMLIMIT
// overrides it). Under a burst every queue is full (docs/how-it-works.md,
// "Bounds"), and the garbage collector would let the heap grow to twice
// what they hold before collecting.
const memoryLimit = 96 << 20

// oneCore runs rustscope's goroutines on one core unless GOMAXPROCS says
// otherwise. Its work is a pipeline (ring reader, flusher, exporter) that
// hands spans from goroutine to goroutine: on two cores the wake-ups
// between threads and the scheduler's spinning for work cost more than
// they bring; on one the CPU per traced request fell by about a third
// (21 to 14 us at 5,000 requests/s, docs/how-it-works.md). One core serves
// some 60,000 requests/s, and the ring buffer absorbs a flush's pause.
func oneCore() {
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(1)
	}
}

// headless runs session.Headless over cfg until SIGINT or SIGTERM.
func headless(cfg config.Config, cache *symbols.Cache, log *slog.Logger, stdout, stderr io.Writer) error {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(memoryLimit)
	}
	oneCore()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The SDK reports export failures through the global handler: they are
	// counted and summarised, so log them at debug level only.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Debug("export", "err", err) }))

	return session.Headless{
		PID:     cfg.PID,
		Targets: targets(cfg),
		Tracer:  tracer.Options{CaptureBytes: cfg.CaptureBytes, RingBytes: cfg.RingBytes, LinkBudget: cfg.LinkBudget, WireOnly: cfg.WireOnly, ShowSecrets: cfg.ShowSecrets, Logger: log, Symbols: cache},
		Export:  cfg.Export,
		Stdout:  stdout,
		Stderr:  stderr,
	}.Run(ctx)
}
