// Package config resolves rustscope's settings from the command line, the
// environment and the configuration file, each declared once in Settings.
// Flags win over the environment (OTEL_*, RUSTSCOPE_*), which wins over
// the configuration file, which wins over the defaults.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/rustscope/rustscope/export"
	"github.com/rustscope/rustscope/tracer"
)

// Config is every setting, resolved and checked.
type Config struct {
	PID int
	// Exe is an executable's absolute path, or a glob of paths, whose
	// processes are traced as they start (--exe, OTEL_TARGET_EXE).
	Exe    string
	ExeSrc string // where Exe came from, for errors: "--exe" or "OTEL_TARGET_EXE"
	// All traces every Rust process using an instrumented crate.
	All bool
	// Targets are the configuration file's, when flags and environment
	// name none.
	Targets      []Target
	Stdout       bool
	Headless     bool
	LogFile      string
	LogLevel     slog.Level
	CPUProfile   string
	CaptureBytes int
	LinkBudget   int // tracer.Options.LinkBudget: negative is no limit
	WireOnly     bool
	ShowSecrets  bool   // query values and credential headers in spans
	Buffer       int    // spans the UI keeps
	RingBytes    int    // the tracer's ring buffer; 0: its default
	File         string // the configuration file read, if any, for messages
	Export       export.Config
	// ExportSet: an exporter or endpoint was asked for. The UI forwards
	// spans only then; headless always exports (OTLP by default).
	ExportSet bool
}

// Target is one [[target]] table of the configuration file: the processes
// it selects, and their service.name. Every selector set must match.
type Target struct {
	Exe     string // an absolute path or a glob; "": any
	ExeSrc  string // where Exe came from, for messages: "config FILE:LINE: target.exe"
	Cmdline string // a regular expression (checked) the command line must match; "": any
	Crate   string // a crate the executable contains; "": any instrumented one
	// Container selects by container; nil: anywhere.
	Container   *Container
	ServiceName string // "": the default
}

// Container selects processes by container.
type Container struct {
	ID    string // a container ID prefix (/proc/PID/cgroup); "": by mount namespace
	Other bool   // without ID: in another mount namespace than rustscope (true) or in its own (false)
}

// UsageError is an invalid flag, environment variable or configuration
// file: rustscope exits with code 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Parse resolves every setting from args (without the program name),
// getenv and the configuration file they name. --help writes the usage
// to stderr and returns flag.ErrHelp; every other error is a *UsageError.
func Parse(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg, err := parse(args, getenv, stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return cfg, &UsageError{err}
	}
	return cfg, err
}

// origin is where a value came from, in order of precedence.
type origin int

const (
	fromFlag origin = iota + 1 // 0: no value
	fromEnv
	fromFile
)

// value is one setting's value.
type value struct {
	text   string // as the flag takes it
	raw    any    // the file's value; nil from flags and the environment
	src    string // for errors: "--flag", "ENV" or "config FILE:LINE: key"
	origin origin
}

// bad is an error about v: it names where v came from.
func (v value) bad(why string) error {
	if v.origin == fromEnv {
		return fmt.Errorf("%s=%q: %s", v.src, v.text, why)
	}
	return fmt.Errorf("%s %q: %s", v.src, v.text, why)
}

// parser holds the sources of the values.
type parser struct {
	flags  flagValues
	getenv func(string) string
	file   *file // nil: none read
}

// values is every value s has, by precedence: its flag, its
// OTEL_EXPORTER_OTLP_TRACES_ variable, its variable, the configuration
// file's key. This is the precedence of every setting.
func (p *parser) values(s *Setting) []value {
	var vs []value
	if v, ok := p.flags[s.Flag]; ok && s.Flag != "" {
		vs = append(vs, value{text: v, src: "--" + s.Flag, origin: fromFlag})
	}
	for _, env := range []string{s.TracesEnv, s.Env} {
		if v := p.getenv(env); env != "" && v != "" {
			vs = append(vs, value{text: v, src: env, origin: fromEnv})
		}
	}
	if v, ok := p.file.value(s.Key); ok {
		vs = append(vs, v)
	}
	return vs
}

// lookup is the value of --flag's setting that wins, if it has any.
func (p *parser) lookup(flag string) (value, bool) {
	if vs := p.values(setting(flag)); len(vs) > 0 {
		return vs[0], true
	}
	return value{}, false
}

// bool is the boolean setting of --flag; false when not set.
func (p *parser) bool(flag string) (bool, error) {
	v, ok := p.lookup(flag)
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v.text))
	if err != nil {
		return false, v.bad("want true or false")
	}
	return b, nil
}

// int is the integer setting of --flag, or its default; bad says what is
// wrong with a value, if anything.
func (p *parser) int(flag string, bad func(int) string) (int, error) {
	s := setting(flag)
	v, ok := p.lookup(flag)
	if !ok {
		v = value{text: s.Default, src: "--" + flag}
	}
	n, err := strconv.Atoi(v.text)
	if err != nil { // the flag package parsed it; the file's is an integer
		return 0, v.bad("want an integer")
	}
	if why := bad(n); why != "" {
		return 0, fmt.Errorf("%s %d: %s", v.src, n, why)
	}
	return n, nil
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var cfg Config
	flags, err := parseFlags(args, stderr)
	if err != nil {
		return cfg, err
	}
	p := &parser{flags: flags, getenv: getenv}
	if p.file, err = p.loadFile(); err != nil {
		return cfg, err
	}
	if p.file != nil {
		cfg.File = p.file.path
	}
	if err := p.targets(&cfg); err != nil {
		return cfg, err
	}
	for _, b := range []struct {
		flag string
		dst  *bool
	}{{"headless", &cfg.Headless}, {"wire-only", &cfg.WireOnly}, {"stdout", &cfg.Stdout}, {"show-secrets", &cfg.ShowSecrets}} {
		if *b.dst, err = p.bool(b.flag); err != nil {
			return cfg, err
		}
	}
	for _, s := range []struct {
		flag string
		dst  *string
	}{{"log-file", &cfg.LogFile}, {"cpuprofile", &cfg.CPUProfile}} {
		if v, ok := p.lookup(s.flag); ok {
			*s.dst = v.text
		}
	}
	if v, ok := p.lookup("log-level"); ok {
		if err := cfg.LogLevel.UnmarshalText([]byte(v.text)); err != nil {
			return cfg, v.bad("want debug, info, warn or error")
		}
	}
	if err := p.export(&cfg); err != nil {
		return cfg, err
	}
	if err := p.otlp(&cfg.Export); err != nil {
		return cfg, err
	}
	_, endpoint := p.lookup("endpoint")
	_, tracesEndpoint := p.lookup("traces-endpoint")
	_, exporter := p.lookup("exporter")
	cfg.ExportSet = exporter || endpoint || tracesEndpoint

	if cfg.Buffer, err = p.int("buffer", func(n int) string {
		return cond(n < 100, "want at least 100")
	}); err != nil {
		return cfg, err
	}
	if cfg.CaptureBytes, err = p.int("capture-bytes", func(n int) string {
		return cond(n < 64 || n > tracer.MaxCaptureBytes, fmt.Sprintf("want 64 to %d", tracer.MaxCaptureBytes))
	}); err != nil {
		return cfg, err
	}
	if cfg.LinkBudget, err = p.int("link-budget", func(n int) string {
		return cond(n < 0, "want 0 (no limit) or more")
	}); err != nil {
		return cfg, err
	}
	if cfg.LinkBudget == 0 {
		cfg.LinkBudget = -1
	}
	if v, ok := p.file.value("buffers.ring_bytes"); ok {
		cfg.RingBytes = v.raw.(int) // checked with the file
	}
	return cfg, nil
}

// cond is why when bad, else "".
func cond(bad bool, why string) string {
	if bad {
		return why
	}
	return ""
}

// targets resolves what to trace: a PID, an executable, every Rust
// process, or the file's targets. A flag for one kind of target hides the
// environment's other.
func (p *parser) targets(cfg *Config) error {
	pid, hasPID := p.lookup("pid")
	exe, hasExe := p.lookup("exe")
	if pid.origin == fromFlag && exe.origin != fromFlag {
		hasExe = false
	}
	if exe.origin == fromFlag && pid.origin != fromFlag {
		hasPID = false
	}
	if hasPID {
		n, err := strconv.Atoi(strings.TrimSpace(pid.text))
		if err != nil || n <= 0 {
			return pid.bad("not a process ID")
		}
		cfg.PID = n
	}
	if hasExe {
		if strings.TrimSpace(exe.text) == "" {
			return exe.bad("want the path of an executable")
		}
		abs, err := filepath.Abs(strings.TrimSpace(exe.text))
		if err != nil {
			return exe.bad(err.Error())
		}
		if _, err := filepath.Match(abs, ""); err != nil {
			return exe.bad("not a valid glob")
		}
		cfg.Exe, cfg.ExeSrc = abs, exe.src
	}
	if hasPID && hasExe {
		return fmt.Errorf("%s and %s exclude each other: trace one PID or one executable", pid.src, exe.src)
	}
	all := p.flags["all"] == "true"
	if all && (cfg.PID != 0 || cfg.Exe != "") {
		return fmt.Errorf("--all traces every Rust process: it excludes a PID or an executable")
	}
	cfg.All = all
	// The file's targets and all, unless flags or the environment name a
	// target.
	if p.file != nil && !hasPID && !hasExe && !all {
		var err error
		if cfg.All, err = p.bool("all"); err != nil {
			return err
		}
		cfg.Targets = slices.Clone(p.file.targets)
	}
	return nil
}
