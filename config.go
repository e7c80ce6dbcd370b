package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/rustscope/rustscope/export"
	"github.com/rustscope/rustscope/tracer"
)

// config is every option. Flags win over the environment (OTEL_*,
// RUSTSCOPE_*), which wins over the configuration file (configfile.go),
// which wins over the defaults.
type config struct {
	pid          int
	exe          string // OTEL_TARGET_EXE: wait for processes running it (a path or a glob)
	all          bool   // --all: every Rust process using an instrumented crate
	stdout       bool
	headless     bool
	logFile      string
	cpuProfile   string
	captureBytes int
	wireOnly     bool
	showSecrets  bool   // query values and credential headers in spans
	exeSrc       string // where exe came from, for errors: "--exe" or "OTEL_TARGET_EXE"
	buffer       int
	ringBytes    int      // the tracer's ring buffer; 0: its default
	targets      []target // the configuration file's, when flags and environment name none
	configFile   string   // the file read, if any, for messages
	export       export.Config
	// exportSet: an exporter or endpoint was asked for. The UI forwards
	// spans only then; headless always exports (OTLP by default).
	exportSet bool
}

// option is one setting that has both a flag and an environment variable.
type option struct {
	flag, env, usage string
}

// The options that mirror an environment variable, in --help order.
var envOptions = []option{
	{"pid", "OTEL_TARGET_PID", "trace the process with this PID"},
	{"exe", "OTEL_TARGET_EXE", "trace every process running this executable (a path, or a glob such as /srv/*/bin/*); attach as they start"},
	{"service-name", "OTEL_SERVICE_NAME", "service.name (default: the executable's name)"},
	{"resource-attributes", "OTEL_RESOURCE_ATTRIBUTES", "extra resource attributes: key=value,key2=value2"},
	{"exporter", "OTEL_TRACES_EXPORTER", "span exporters: otlp, console or none (comma-separated) (default otlp)"},
	{"metrics-exporter", "OTEL_METRICS_EXPORTER", "RED metrics: otlp or none (default otlp when spans go over OTLP, else none)"},
	{"stdout", "OTEL_STDOUT", "print spans on stdout, one JSON object per line (the console exporter)"},
	{"endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTLP endpoint; /v1/traces is appended for http/protobuf (default " + export.DefaultGRPCEndpoint + ")"},
	{"traces-endpoint", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTLP traces endpoint, used as is"},
	{"protocol", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc or http/protobuf (default grpc; http/protobuf when the endpoint's port is 4318)"},
	{"headers", "OTEL_EXPORTER_OTLP_HEADERS", "headers sent with every export: key=value,key2=value2 (percent-encoded values)"},
	{"insecure", "OTEL_EXPORTER_OTLP_INSECURE", "no TLS, whatever the endpoint's scheme (true/false)"},
	{"certificate", "OTEL_EXPORTER_OTLP_CERTIFICATE", "PEM file of root certificates to verify the endpoint with"},
	{"sampler", "OTEL_TRACES_SAMPLER", "always_on, always_off, traceidratio or parentbased_* (default parentbased_always_on)"},
	{"sampler-arg", "OTEL_TRACES_SAMPLER_ARG", "sampling ratio for traceidratio, 0 to 1"},
	{"show-secrets", "RUSTSCOPE_SHOW_SECRETS", "put query values and the Authorization, Proxy-Authorization, Cookie and Set-Cookie headers in spans (default: query values REDACTED, those headers left out)"},
	{"config", "RUSTSCOPE_CONFIG", "TOML configuration file, below flags and environment (default " + defaultConfigPath + " if it exists; --config= reads none)"},
}

var boolOptions = map[string]bool{"stdout": true, "insecure": true, "show-secrets": true}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	cfg := config{}
	fs := flag.NewFlagSet("rustscope", flag.ContinueOnError)
	// Usage only for --help: a bad flag is one line, as every bad input.
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	vals := map[string]*string{}
	bools := map[string]*bool{}
	for _, o := range envOptions {
		usage := o.usage + " (env " + o.env + ")"
		if boolOptions[o.flag] {
			bools[o.flag] = fs.Bool(o.flag, false, usage)
		} else {
			vals[o.flag] = fs.String(o.flag, "", usage)
		}
	}
	fs.BoolVar(&cfg.headless, "headless", false, "run without the terminal UI (also without a terminal, with --stdout, --exe or --all)")
	fs.BoolVar(&cfg.all, "all", false, "trace every Rust process that uses hyper, axum, tonic, reqwest or h2, and those that start later")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a Go CPU profile of rustscope to this file (for performance work)")
	fs.StringVar(&cfg.logFile, "log-file", "", "write logs to this file (default: stderr when headless, "+defaultLogFile()+" with the UI)")
	fs.IntVar(&cfg.buffer, "buffer", 10000, "spans the terminal UI keeps")
	fs.BoolVar(&cfg.wireOnly, "wire-only", false, "attach no library uprobes: syscall capture only (no http.route, no crate scope)")
	fs.IntVar(&cfg.captureBytes, "capture-bytes", tracer.DefaultCaptureBytes, "bytes copied from each socket read/write (max "+strconv.Itoa(tracer.MaxCaptureBytes)+")")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage:
  rustscope [flags]                 terminal UI, or headless (no terminal, --headless, --stdout or --exe)
  rustscope list [--json]           running Rust processes and how they can be traced
  rustscope inspect PID|PATH        what rustscope finds in a binary and where it attaches

Traces HTTP requests of running Rust processes with eBPF and exports them as
OpenTelemetry spans. Needs root. Flags win over the environment; the
exporters also honour the other OTEL_EXPORTER_OTLP_* variables (TRACES_
forms, COMPRESSION, TIMEOUT, CLIENT_CERTIFICATE, CLIENT_KEY).

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			stderr.Write(usage.Bytes())
			return cfg, err
		}
		return cfg, fmt.Errorf("%w (rustscope --help lists them)", err)
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	bad := func(src, v, why string) error {
		if strings.HasPrefix(src, "--") || strings.HasPrefix(src, "config ") {
			return fmt.Errorf("%s %q: %s", src, v, why)
		}
		return fmt.Errorf("%s=%q: %s", src, v, why)
	}
	file, err := loadConfig(set, *vals["config"], getenv, bad)
	if err != nil {
		return cfg, err
	}
	if file != nil {
		cfg.configFile = file.path
	}

	// lookup returns an option's value, where it came from (for errors:
	// "--flag", "ENV" or "config FILE:LINE: key"), and whether it was
	// given at all.
	lookup := func(name string) (string, string, bool) {
		o := optionByFlag(name)
		if set[name] {
			if b, ok := bools[name]; ok {
				return strconv.FormatBool(*b), "--" + name, true
			}
			return *vals[name], "--" + name, true
		}
		if v := getenv(o.env); v != "" {
			return v, o.env, true
		}
		if key, v, ok := file.option(name); ok {
			return v, file.src(key), true
		}
		return "", "", false
	}
	boolVal := func(name string) (bool, error) {
		v, src, ok := lookup(name)
		if !ok {
			return false, nil
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return false, bad(src, v, "want true or false")
		}
		return b, nil
	}

	// Target: a flag for one kind of target hides the environment's other.
	pidV, pidSrc, hasPID := lookup("pid")
	exeV, exeSrc, hasExe := lookup("exe")
	if set["pid"] && !set["exe"] {
		hasExe = false
	}
	if set["exe"] && !set["pid"] {
		hasPID = false
	}
	if hasPID {
		n, err := strconv.Atoi(strings.TrimSpace(pidV))
		if err != nil || n <= 0 {
			return cfg, bad(pidSrc, pidV, "not a process ID")
		}
		cfg.pid = n
	}
	if hasExe {
		if strings.TrimSpace(exeV) == "" {
			return cfg, bad(exeSrc, exeV, "want the path of an executable")
		}
		abs, err := filepath.Abs(strings.TrimSpace(exeV))
		if err != nil {
			return cfg, bad(exeSrc, exeV, err.Error())
		}
		if _, err := filepath.Match(abs, ""); err != nil {
			return cfg, bad(exeSrc, exeV, "not a valid glob")
		}
		cfg.exe, cfg.exeSrc = abs, exeSrc
	}
	if hasPID && hasExe {
		return cfg, fmt.Errorf("%s and %s exclude each other: trace one PID or one executable", pidSrc, exeSrc)
	}
	if cfg.all && (cfg.pid != 0 || cfg.exe != "") {
		return cfg, fmt.Errorf("--all traces every Rust process: it excludes a PID or an executable")
	}
	// The file's targets, unless flags or the environment name one.
	if file != nil && !hasPID && !hasExe && !cfg.all {
		if !set["all"] && file.c.All != nil {
			cfg.all = *file.c.All
		}
		cfg.targets = slices.Clone(file.targets)
	}
	if file != nil {
		fileSettings(&cfg, file, set)
	}

	if cfg.stdout, err = boolVal("stdout"); err != nil {
		return cfg, err
	}
	if cfg.showSecrets, err = boolVal("show-secrets"); err != nil {
		return cfg, err
	}
	ec := &cfg.export
	serviceSrc := ""
	if v, src, ok := lookup("service-name"); ok {
		ec.ServiceName, serviceSrc = strings.TrimSpace(v), src
	}
	attrsService := false // service.name in the resource attributes of a flag or the environment
	if v, src, ok := lookup("resource-attributes"); ok {
		if ec.ResourceAttributes, err = export.ParseResourceAttributes(v); err != nil {
			return cfg, bad(src, v, err.Error())
		}
		attrsService = slices.ContainsFunc(ec.ResourceAttributes, func(kv attribute.KeyValue) bool { return kv.Key == semconv.ServiceNameKey })
	} else if file != nil && file.attrs != nil {
		ec.ResourceAttributes = file.attrs
	}
	// A service name from flags or the environment (also as service.name in
	// the resource attributes) wins over every service name in the file.
	if outside := serviceSrc != "" && !strings.HasPrefix(serviceSrc, "config "); outside || attrsService {
		for i := range cfg.targets {
			cfg.targets[i].service = ""
		}
		if !outside {
			ec.ServiceName = ""
		}
	}

	// Exporters: --stdout / OTEL_STDOUT=true means console; it replaces the
	// default otlp and joins an explicit list.
	ec.Exporters = []string{export.ExporterOTLP}
	v, src, explicit := lookup("exporter")
	if explicit {
		if ec.Exporters, err = export.ParseExporters(v); err != nil {
			return cfg, bad(src, v, err.Error())
		}
	}
	if cfg.stdout {
		switch {
		case !explicit:
			ec.Exporters = []string{export.ExporterConsole}
		case !ec.Has(export.ExporterConsole):
			ec.Exporters = append(ec.Exporters, export.ExporterConsole)
		}
	}

	// Metrics: on by default when spans go over OTLP (the specification's
	// default); stdout carries spans only.
	ec.Metrics = ec.Has(export.ExporterOTLP)
	if v, src, ok := lookup("metrics-exporter"); ok {
		if ec.Metrics, err = export.ParseMetricsExporter(v); err != nil {
			return cfg, bad(src, v, err.Error())
		}
	}

	// Sampler.
	sv, ssrc, _ := lookup("sampler")
	av, asrc, _ := lookup("sampler-arg")
	if ec.Sampler, err = export.ParseSampler(sv, av); err != nil {
		if strings.HasPrefix(err.Error(), "sampler argument") {
			return cfg, bad(asrc, av, "want a number from 0 to 1")
		}
		return cfg, bad(ssrc, sv, err.Error())
	}

	if err := parseOTLP(&cfg, file, set, vals, lookup, getenv, bad); err != nil {
		return cfg, err
	}
	_, _, endpoint := lookup("endpoint")
	_, _, tracesEndpoint := lookup("traces-endpoint")
	cfg.exportSet = explicit || endpoint || tracesEndpoint

	intSrc := func(flag string) string {
		if key, _, ok := file.intOption(flag); ok && !set[flag] {
			return file.src(key)
		}
		return "--" + flag
	}
	if cfg.buffer < 100 {
		return cfg, fmt.Errorf("%s %d: want at least 100", intSrc("buffer"), cfg.buffer)
	}
	if cfg.captureBytes < 64 || cfg.captureBytes > tracer.MaxCaptureBytes {
		return cfg, fmt.Errorf("%s %d: want 64 to %d", intSrc("capture-bytes"), cfg.captureBytes, tracer.MaxCaptureBytes)
	}
	return cfg, nil
}

// parseOTLP resolves and validates the OTLP settings. Values from the
// environment are validated here but read again by the SDK's exporter;
// values from flags and the file, and rustscope's default endpoint, are
// passed to it explicitly. A file value is passed only when no variable
// sets it: the SDK lets explicit options win over the environment.
func parseOTLP(cfg *config, file *configFile, set map[string]bool, vals map[string]*string,
	lookup func(string) (string, string, bool), getenv func(string) string,
	bad func(src, v, why string) error) error {
	ec := &cfg.export

	// Every endpoint variable is checked, even one a flag hides.
	type ep struct {
		flag, env string
		traces    bool // used as is
		file      bool // the file's key for flag
	}
	var chosen *ep
	var chosenURL, chosenVal string
	for _, e := range []ep{
		{"traces-endpoint", "", true, false}, {"endpoint", "", false, false},
		{"", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", true, false}, {"", "OTEL_EXPORTER_OTLP_ENDPOINT", false, false},
		{"traces-endpoint", "", true, true}, {"endpoint", "", false, true},
	} {
		var v, src string
		if e.file {
			key, fv, ok := file.option(e.flag)
			if !ok {
				continue
			}
			v, src = fv, file.src(key)
		} else if e.flag != "" {
			if !set[e.flag] {
				continue
			}
			v, src = *vals[e.flag], "--"+e.flag
		} else {
			if v = getenv(e.env); v == "" {
				continue
			}
			src = e.env
		}
		if _, err := export.ParseEndpoint(v); err != nil {
			return bad(src, v, err.Error())
		}
		if chosen == nil {
			chosen, chosenVal = &e, strings.TrimSpace(v)
		}
	}

	// Protocol: flag, then the TRACES_ variable, then the general one, then
	// the endpoint's port.
	proto := ""
	if set["protocol"] {
		p, err := export.ParseProtocol(*vals["protocol"])
		if err != nil {
			return bad("--protocol", *vals["protocol"], err.Error())
		}
		proto = p
	}
	for _, env := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := getenv(env); v != "" {
			p, err := export.ParseProtocol(v)
			if err != nil {
				return bad(env, v, err.Error())
			}
			if proto == "" {
				proto = p
			}
		}
	}
	if key, v, ok := file.option("protocol"); ok {
		p, err := export.ParseProtocol(v)
		if err != nil {
			return bad(file.src(key), v, err.Error())
		}
		if proto == "" {
			proto = p
		}
	}
	if proto == "" {
		proto = export.ProtocolGRPC
		if chosen != nil {
			u, _ := export.ParseEndpoint(chosenVal)
			if export.EndpointPort(u) == "4318" {
				proto = export.ProtocolHTTP
			}
		}
	}
	ec.Protocol = proto

	switch {
	case chosen == nil:
		// The SDK's defaults use TLS; the specification's are plain http.
		base := export.DefaultGRPCEndpoint
		if proto == export.ProtocolHTTP {
			base = export.DefaultHTTPEndpoint
		}
		u, _ := export.ParseEndpoint(base)
		chosenURL = export.TracesURL(u, proto)
		ec.EndpointURL = chosenURL
	case chosen.traces:
		chosenURL = chosenVal
	default:
		u, _ := export.ParseEndpoint(chosenVal)
		chosenURL = export.TracesURL(u, proto)
	}
	if chosen != nil && chosen.flag != "" {
		ec.EndpointURL = chosenURL
	}
	ec.Endpoint = chosenURL

	// Metrics go to the general endpoint; the SDK reads
	// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT and OTEL_EXPORTER_OTLP_ENDPOINT.
	if v := getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"); v != "" {
		if _, err := export.ParseEndpoint(v); err != nil {
			return bad("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", v, err.Error())
		}
	}
	switch {
	case set["endpoint"]:
		u, _ := export.ParseEndpoint(*vals["endpoint"])
		ec.MetricsEndpointURL = export.MetricsURL(u, proto)
	case getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "":
	case file.has("endpoint"):
		_, v, _ := file.option("endpoint")
		u, _ := export.ParseEndpoint(v)
		ec.MetricsEndpointURL = export.MetricsURL(u, proto)
	default:
		base := export.DefaultGRPCEndpoint
		if proto == export.ProtocolHTTP {
			base = export.DefaultHTTPEndpoint
		}
		u, _ := export.ParseEndpoint(base)
		ec.MetricsEndpointURL = export.MetricsURL(u, proto)
	}

	// Headers, insecure, certificate: flags are passed on; the
	// environment is only validated; the file's are passed on when no
	// variable sets them.
	envHeaders, envInsecure, envCert := false, false, false
	for _, env := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		if v := getenv(env); v != "" {
			if _, err := export.ParseHeaders(v); err != nil {
				return bad(env, v, err.Error())
			}
			envHeaders = true
		}
	}
	switch {
	case set["headers"]:
		h, err := export.ParseHeaders(*vals["headers"])
		if err != nil {
			return bad("--headers", *vals["headers"], err.Error())
		}
		ec.Headers = h
	case !envHeaders && file != nil && file.headers != nil:
		ec.Headers = file.headers
	}
	for _, env := range []string{"OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_TRACES_INSECURE"} {
		if v := getenv(env); v != "" {
			if _, err := strconv.ParseBool(strings.TrimSpace(v)); err != nil {
				return bad(env, v, "want true or false")
			}
			envInsecure = true
		}
	}
	if set["insecure"] || (!envInsecure && file.has("insecure")) {
		v, _, _ := lookup("insecure")
		ec.Insecure = v == "true"
	}
	for _, env := range []string{"OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"} {
		if v := getenv(env); v != "" {
			if _, err := export.LoadCertificate(v); err != nil {
				return bad(env, v, err.Error())
			}
			envCert = true
		}
	}
	if key, v, ok := file.option("certificate"); ok {
		if _, err := export.LoadCertificate(v); err != nil {
			return bad(file.src(key), v, err.Error())
		}
		if !envCert {
			ec.Certificate = v
		}
	}
	if set["certificate"] {
		v := *vals["certificate"]
		if _, err := export.LoadCertificate(v); err != nil {
			return bad("--certificate", v, err.Error())
		}
		ec.Certificate = v
	}
	return nil
}

func optionByFlag(name string) option {
	for _, o := range envOptions {
		if o.flag == name {
			return o
		}
	}
	panic("no option " + name)
}
