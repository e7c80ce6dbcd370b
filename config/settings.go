package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rustscope/rustscope/export"
	"github.com/rustscope/rustscope/tracer"
)

// Kind is a setting's type: the flag it gets and the TOML value it takes.
type Kind int

const (
	String Kind = iota // a string flag and TOML string
	Bool               // a boolean flag and TOML boolean
	Int                // an integer flag and TOML integer
	Number             // a string flag (parsed later) and TOML number
	List               // a comma-separated flag and TOML list of strings
	Table              // a key=value,... flag and TOML table of strings
	Any                // TOML only: checked where it is used (target.container)
)

// want is how an error says what kind of TOML value a key takes.
func (k Kind) want() string {
	return [...]string{String: "a string", Bool: "true or false", Int: "an integer", Number: "a number",
		List: "a list of strings", Table: "a table of strings", Any: "a value"}[k]
}

// Setting is one setting: its flag, environment variable and key in the
// configuration file, each "" when it has none. Flags win over the
// environment, which wins over the file, which wins over Default (lookup).
type Setting struct {
	Flag string
	Env  string
	// TracesEnv is the OTEL_EXPORTER_OTLP_TRACES_ form of Env: the SDK
	// prefers it, and rustscope checks it as it checks Env.
	TracesEnv string
	// Key is the dotted TOML key: "export.endpoint"; "target.exe" is a key
	// of each [[target]] table.
	Key  string
	Kind Kind
	// Default is the flag's default, as the flag takes it; defaults that
	// depend on other settings are resolved where the setting is used.
	Default string
	// Usage is the flag's line in --help (the environment variable is
	// appended); the documentation is docs/configuration.md's tables.
	Usage string
}

// Settings is every setting, one row each. Adding one means adding a row
// here, its use in Parse, and its line in docs/configuration.md (and in
// README's flag table when it has a flag): TestSettingsTable and
// TestSettingsDocumented check.
var Settings = []Setting{
	{Flag: "pid", Env: "OTEL_TARGET_PID", Usage: "trace the process with this PID"},
	{Flag: "exe", Env: "OTEL_TARGET_EXE", Usage: "trace every process running this executable (a path, or a glob such as /srv/*/bin/*); attach as they start"},
	{Flag: "all", Key: "all", Kind: Bool, Usage: "trace every Rust process that uses hyper, axum, tonic, reqwest or h2, and those that start later"},
	{Flag: "service-name", Env: "OTEL_SERVICE_NAME", Key: "export.service_name", Usage: "service.name (default: the executable's name)"},
	{Flag: "resource-attributes", Env: "OTEL_RESOURCE_ATTRIBUTES", Key: "export.resource_attributes", Kind: Table, Usage: "extra resource attributes: key=value,key2=value2"},
	{Flag: "exporter", Env: "OTEL_TRACES_EXPORTER", Key: "export.exporters", Kind: List, Usage: "span exporters: otlp, console or none (comma-separated) (default otlp)"},
	{Flag: "metrics-exporter", Env: "OTEL_METRICS_EXPORTER", Key: "export.metrics_exporter", Usage: "RED metrics: otlp or none (default otlp when spans go over OTLP, else none)"},
	{Flag: "stdout", Env: "OTEL_STDOUT", Key: "export.stdout", Kind: Bool, Usage: "print spans on stdout, one JSON object per line (the console exporter)"},
	{Flag: "endpoint", Env: "OTEL_EXPORTER_OTLP_ENDPOINT", Key: "export.endpoint", Usage: "OTLP endpoint; /v1/traces is appended for http/protobuf (default " + export.DefaultGRPCEndpoint + ")"},
	{Flag: "traces-endpoint", Env: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Key: "export.traces_endpoint", Usage: "OTLP traces endpoint, used as is"},
	{Flag: "protocol", Env: "OTEL_EXPORTER_OTLP_PROTOCOL", TracesEnv: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", Key: "export.protocol", Usage: "grpc or http/protobuf (default grpc; http/protobuf when the endpoint's port is 4318)"},
	{Flag: "headers", Env: "OTEL_EXPORTER_OTLP_HEADERS", TracesEnv: "OTEL_EXPORTER_OTLP_TRACES_HEADERS", Key: "export.headers", Kind: Table, Usage: "headers sent with every export: key=value,key2=value2 (percent-encoded values)"},
	{Flag: "insecure", Env: "OTEL_EXPORTER_OTLP_INSECURE", TracesEnv: "OTEL_EXPORTER_OTLP_TRACES_INSECURE", Key: "export.insecure", Kind: Bool, Usage: "no TLS, whatever the endpoint's scheme (true/false)"},
	{Flag: "certificate", Env: "OTEL_EXPORTER_OTLP_CERTIFICATE", TracesEnv: "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", Key: "export.certificate", Usage: "PEM file of root certificates to verify the endpoint with"},
	{Flag: "sampler", Env: "OTEL_TRACES_SAMPLER", Key: "export.sampler", Usage: "always_on, always_off, traceidratio or parentbased_* (default parentbased_always_on)"},
	{Flag: "sampler-arg", Env: "OTEL_TRACES_SAMPLER_ARG", Key: "export.sampler_arg", Kind: Number, Usage: "sampling ratio for traceidratio, 0 to 1"},
	{Flag: "show-secrets", Env: "RUSTSCOPE_SHOW_SECRETS", Key: "redaction.show_secrets", Kind: Bool, Usage: "put query values and the Authorization, Proxy-Authorization, Cookie and Set-Cookie headers in spans (default: query values REDACTED, those headers left out)"},
	{Flag: "config", Env: "RUSTSCOPE_CONFIG", Usage: "TOML configuration file, below flags and environment (default " + DefaultPath + " if it exists; --config= reads none)"},
	{Flag: "headless", Key: "headless", Kind: Bool, Usage: "run without the terminal UI (also without a terminal, with --stdout, --exe or --all)"},
	{Flag: "wire-only", Key: "wire_only", Kind: Bool, Usage: "attach no library uprobes: syscall capture only (no http.route, no crate scope)"},
	{Flag: "log-file", Key: "log_file", Usage: "write logs to this file (default: stderr when headless, " + DefaultLogFile() + " with the UI)"},
	{Flag: "log-level", Env: "RUSTSCOPE_LOG_LEVEL", Key: "log_level", Default: "info", Usage: "least level logged: debug, info, warn or error (debug says each probe placed, removed and refused)"},
	{Flag: "cpuprofile", Usage: "write a Go CPU profile of rustscope to this file (for performance work)"},
	{Flag: "buffer", Key: "buffers.spans", Kind: Int, Default: "10000", Usage: "spans the terminal UI keeps"},
	{Flag: "capture-bytes", Key: "buffers.capture_bytes", Kind: Int, Default: strconv.Itoa(tracer.DefaultCaptureBytes), Usage: "bytes copied from each socket read/write (max " + strconv.Itoa(tracer.MaxCaptureBytes) + ")"},
	{Key: "buffers.ring_bytes", Kind: Int},
	{Flag: "link-budget", Key: "probes.link_budget", Kind: Int, Default: strconv.Itoa(tracer.DefaultLinkBudget), Usage: "tokio task polls a second the probes that link client calls to their server span may see per process; above it they are placed in windows and calls outside them are not linked (0: no limit)"},
	// The keys of each [[target]] table.
	{Key: "target.exe"},
	{Key: "target.cmdline"},
	{Key: "target.crate"},
	{Key: "target.container", Kind: Any},
	{Key: "target.service_name"},
}

// targetTables is the key of the [[target]] tables.
const targetTables = "target"

// DefaultPath is the configuration file read when neither --config nor
// RUSTSCOPE_CONFIG names one; unlike a named file, it may be missing.
const DefaultPath = "/etc/rustscope/config.toml"

// defaultPath is DefaultPath; tests point it elsewhere.
var defaultPath = DefaultPath

// DefaultLogFile is where the UI logs: nothing may be printed behind it.
func DefaultLogFile() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "rustscope", "rustscope.log")
}

// setting is the row of --flag.
func setting(flag string) *Setting {
	for i := range Settings {
		if Settings[i].Flag == flag {
			return &Settings[i]
		}
	}
	panic("no setting --" + flag)
}

// settingByKey is the row of a TOML key, or nil.
func settingByKey(key string) *Setting {
	for i := range Settings {
		if Settings[i].Key == key {
			return &Settings[i]
		}
	}
	return nil
}

const usageHead = `Usage:
  rustscope [flags]                 terminal UI, or headless (no terminal, --headless, --stdout or --exe)
  rustscope list [--json]           running Rust processes and how they can be traced
  rustscope inspect PID|PATH        what rustscope finds in a binary and where it attaches

Traces HTTP requests of running Rust processes with eBPF and exports them as
OpenTelemetry spans. Needs root. Flags win over the environment; the
exporters also honour the other OTEL_EXPORTER_OTLP_* variables (TRACES_
forms, COMPRESSION, TIMEOUT, CLIENT_CERTIFICATE, CLIENT_KEY).

Flags:
`

// flagValues are the command line's values, as text, of the flags given.
type flagValues map[string]string

// parseFlags parses args into the flags of Settings. --help writes the
// usage to stderr and returns flag.ErrHelp.
func parseFlags(args []string, stderr io.Writer) (flagValues, error) {
	fs := flag.NewFlagSet("rustscope", flag.ContinueOnError)
	// Usage only for --help: a bad flag is one line, as every bad input.
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	for _, s := range Settings {
		if s.Flag == "" {
			continue
		}
		u := s.Usage
		if s.Env != "" {
			u += " (env " + s.Env + ")"
		}
		switch s.Kind {
		case Bool:
			fs.Bool(s.Flag, s.Default == "true", u)
		case Int:
			n, err := strconv.Atoi(s.Default)
			if err != nil {
				panic("setting --" + s.Flag + ": default " + s.Default)
			}
			fs.Int(s.Flag, n, u)
		default:
			fs.String(s.Flag, s.Default, u)
		}
	}
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			stderr.Write(usage.Bytes())
			return nil, err
		}
		return nil, fmt.Errorf("%w (rustscope --help lists them)", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := flagValues{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = f.Value.String() })
	return set, nil
}
