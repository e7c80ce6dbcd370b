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
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/rustscope/rustscope/export"
	"github.com/rustscope/rustscope/tracer"
	"github.com/rustscope/rustscope/ui"
)

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1 // attach or capture failed
	exitUsage   = 2 // invalid flags or environment
)

// config is every option; flags override the OTEL_* environment.
type config struct {
	pid          int
	stdout       bool
	headless     bool
	serviceName  string
	logFile      string
	captureBytes int
	buffer       int
}

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
	cfg, err := parseConfig(args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "rustscope: %v\n", err)
		return exitUsage
	}
	interactive := !cfg.headless && !cfg.stdout && term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd()))
	if interactive {
		if cfg.logFile == "" {
			cfg.logFile = defaultLogFile()
		}
		log, closeLog, err := openLog(cfg.logFile, stderr)
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
	if cfg.pid == 0 {
		fmt.Fprintln(stderr, "rustscope: no target: set --pid or OTEL_TARGET_PID")
		return exitUsage
	}
	if !cfg.stdout {
		fmt.Fprintln(stderr, "rustscope: no exporter: set --stdout or OTEL_STDOUT=true")
		return exitUsage
	}
	log, closeLog, err := openLog(cfg.logFile, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "rustscope: %v\n", err)
		return exitUsage
	}
	defer closeLog()
	if err := headless(cfg, log, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "rustscope: %v\n", err)
		return exitRuntime
	}
	return exitOK
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("rustscope", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.pid, "pid", 0, "trace the process with this PID (env OTEL_TARGET_PID)")
	fs.BoolVar(&cfg.stdout, "stdout", false, "print spans as JSON lines on stdout (env OTEL_STDOUT=true)")
	fs.BoolVar(&cfg.headless, "headless", false, "run without the terminal UI")
	fs.StringVar(&cfg.serviceName, "service-name", "", "service.name of exported spans (env OTEL_SERVICE_NAME; default: the executable's name)")
	fs.StringVar(&cfg.logFile, "log-file", "", "write logs to this file (default: stderr when headless, "+defaultLogFile()+" with the UI)")
	fs.IntVar(&cfg.buffer, "buffer", 10000, "spans the terminal UI keeps")
	fs.IntVar(&cfg.captureBytes, "capture-bytes", tracer.DefaultCaptureBytes, "bytes copied from each socket read/write (max "+strconv.Itoa(tracer.MaxCaptureBytes)+")")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage:
  rustscope [flags]                 terminal UI, or headless with --pid/--stdout
  rustscope list [--json]           running Rust processes and how they can be traced
  rustscope inspect PID|PATH        what rustscope finds in a binary and where it attaches

Traces HTTP requests of running Rust processes with eBPF. Needs root.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if v := getenv("OTEL_TARGET_PID"); v != "" && !set["pid"] {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return cfg, fmt.Errorf("OTEL_TARGET_PID=%q: not a process ID", v)
		}
		cfg.pid = n
	}
	if v := getenv("OTEL_STDOUT"); v != "" && !set["stdout"] {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("OTEL_STDOUT=%q: want true or false", v)
		}
		cfg.stdout = b
	}
	if v := getenv("OTEL_SERVICE_NAME"); v != "" && !set["service-name"] {
		cfg.serviceName = v
	}
	if cfg.pid < 0 {
		return cfg, fmt.Errorf("--pid %d: not a process ID", cfg.pid)
	}
	if cfg.buffer < 100 {
		return cfg, fmt.Errorf("--buffer %d: want at least 100", cfg.buffer)
	}
	if cfg.captureBytes < 64 || cfg.captureBytes > tracer.MaxCaptureBytes {
		return cfg, fmt.Errorf("--capture-bytes %d: want 64 to %d", cfg.captureBytes, tracer.MaxCaptureBytes)
	}
	return cfg, nil
}

// defaultLogFile is where the UI logs: nothing may be printed behind it.
func defaultLogFile() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "rustscope", "rustscope.log")
}

// runUI runs the terminal UI over one tracer for the program's lifetime.
func runUI(cfg config, log *slog.Logger) error {
	var eng *engine
	t, err := tracer.New(tracer.Options{CaptureBytes: cfg.captureBytes, Logger: log, OnExit: func(pid uint32) { eng.exited(pid) }})
	if err != nil {
		return err
	}
	defer t.Close()
	eng = newEngine(t, log, cfg.buffer, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.run(ctx) }()
	uiErr := ui.Run(eng, ui.Config{PID: cfg.pid, Buffer: cfg.buffer})
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("tracer stopped", "err", err)
	}
	return uiErr
}

// openLog returns the logger: to the log file if one is given, else stderr.
func openLog(path string, stderr io.Writer) (*slog.Logger, func(), error) {
	if path == "" {
		return slog.New(slog.NewTextHandler(stderr, nil)), func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, fmt.Errorf("create log directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open log file: %w", err)
	}
	return slog.New(slog.NewTextHandler(f, nil)), func() { f.Close() }, nil
}

// headless attaches to cfg.pid and exports spans until SIGINT/SIGTERM or
// until the target exits.
func headless(cfg config, log *slog.Logger, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var exited atomic.Bool
	t, err := tracer.New(tracer.Options{CaptureBytes: cfg.captureBytes, Logger: log, OnExit: func(pid uint32) {
		if int(pid) == cfg.pid {
			exited.Store(true)
			cancel()
		}
	}})
	if err != nil {
		return err
	}
	defer t.Close()
	tg, err := t.Attach(cfg.pid)
	if err != nil {
		return err
	}
	res, err := export.Resource(ctx, cfg.serviceName, tg)
	if err != nil {
		return err
	}
	exp, err := export.NewStdout(stdout, res)
	if err != nil {
		return err
	}
	desc := tg.Comm
	if tg.Analysis != nil {
		if s := tg.Analysis.Summary("hyper", "axum", "tonic", "reqwest"); s != "" {
			desc += " (" + s + ")"
		}
	}
	fmt.Fprintf(stderr, "rustscope: attached pid %d %s: %s\n", tg.PID, desc, strings.Join(tg.Capture, "; "))

	runErr := t.Run(ctx, exp.Export)
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := exp.Shutdown(sctx); err != nil {
		log.Warn("flush spans", "err", err)
	}
	c := t.Counters()
	log.Info("stopped", "spans", c.Spans.Load(), "events", c.Events.Load(), "gaps", c.Gaps.Load(), "lost", t.Lost())
	switch {
	case exited.Load():
		fmt.Fprintf(stderr, "rustscope: pid %d exited\n", tg.PID)
		return nil
	case errors.Is(runErr, context.Canceled):
		return nil
	default:
		return runErr
	}
}
