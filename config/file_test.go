package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// withConfig runs Parse with content as the file RUSTSCOPE_CONFIG
// names (env may override RUSTSCOPE_CONFIG). It returns the file's path.
func withConfig(t *testing.T, content string, args []string, env map[string]string) (Config, string, error) {
	t.Helper()
	noDefaultConfig(t)
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(args, func(k string) string {
		if v, ok := env[k]; ok || k != "RUSTSCOPE_CONFIG" {
			return v
		}
		return path
	}, io.Discard)
	return cfg, path, err
}

// noDefaultConfig keeps the host's /etc/rustscope/config.toml, if any, out
// of a test.
func noDefaultConfig(t *testing.T) {
	old := defaultPath
	defaultPath = filepath.Join(t.TempDir(), "no-such-config.toml")
	t.Cleanup(func() { defaultPath = old })
}

// docExample is the complete example of docs/configuration.md.
func docExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- example: config.toml -->\n```toml\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("docs/configuration.md has no complete example (```toml after <!-- example: config.toml -->)")
	}
	return string(m[1])
}

// TestConfigFileExample: the documented complete example parses into
// every setting it shows.
func TestConfigFileExample(t *testing.T) {
	cfg, path, err := withConfig(t, docExample(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ec := cfg.Export
	attrs := map[string]string{}
	for _, kv := range ec.ResourceAttributes {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"config file", cfg.File, path},
		{"headless", cfg.Headless, true},
		{"all", cfg.All, true},
		{"wire_only", cfg.WireOnly, false},
		{"log_file", cfg.LogFile, "/var/log/rustscope.log"},
		{"exporters", ec.Exporters, []string{"otlp"}},
		{"metrics", ec.Metrics, true},
		{"endpoint", ec.EndpointURL, "https://collector.example.com:4317"},
		{"metrics endpoint", ec.MetricsEndpointURL, "https://collector.example.com:4317"},
		{"protocol", ec.Protocol, "grpc"},
		{"headers", ec.Headers, map[string]string{"api-key": "s3cr3t"}},
		{"insecure", ec.Insecure, false},
		{"sampler", ec.Sampler.Description(), "ParentBased{root:TraceIDRatioBased{0.25},remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}"},
		{"service name", ec.ServiceName, "rust-service"},
		{"resource attributes", attrs, map[string]string{"deployment.environment.name": "production", "k8s.cluster.name": "eu-1"}},
		{"show_secrets", cfg.ShowSecrets, false},
		{"spans", cfg.Buffer, 20000},
		{"capture_bytes", cfg.CaptureBytes, 2048},
		{"ring_bytes", cfg.RingBytes, 16 << 20},
	} {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	got := strings.Split(targets(cfg), ", ")
	want := []string{
		"exe /srv/checkout/bin/checkout service checkout",
		"exe /srv/*/bin/worker cmdline --queue[= ]payments service payments-worker",
		"crate tonic in a container",
		"in container 3f2a9c0d service legacy-api",
		"all",
	}
	if !slices.Equal(got, want) {
		t.Errorf("targets:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if src := fmt.Sprintf("config %s:12: target.exe", path); cfg.Targets[0].ExeSrc != src {
		t.Errorf("exe from %q, want %q", cfg.Targets[0].ExeSrc, src)
	}
}

// targets lists what c traces, in the watcher's order: the executable,
// the file's targets, then every Rust process (all).
func targets(c Config) string {
	var s []string
	if c.Exe != "" {
		s = append(s, "exe "+c.Exe)
	}
	for _, t := range c.Targets {
		var d []string
		for _, kv := range [][2]string{{"exe", t.Exe}, {"cmdline", t.Cmdline}, {"crate", t.Crate}} {
			if kv[1] != "" {
				d = append(d, kv[0]+" "+kv[1])
			}
		}
		switch c := t.Container; {
		case c == nil:
		case c.ID != "":
			d = append(d, "in container "+c.ID)
		case c.Other:
			d = append(d, "in a container")
		default:
			d = append(d, "outside containers")
		}
		if t.ServiceName != "" {
			d = append(d, "service "+t.ServiceName)
		}
		s = append(s, strings.Join(d, " "))
	}
	if c.All {
		s = append(s, "all")
	}
	return strings.Join(s, ", ")
}

// TestConfigFilePrecedence: for settings that exist in several places,
// the default, then the file, then the environment, then a flag win.
func TestConfigFilePrecedence(t *testing.T) {
	certDir := t.TempDir()
	cert := filepath.Join(certDir, "ca.pem")
	writeTestCert(t, cert)
	services := func(c Config) string {
		var s []string
		for _, tg := range c.Targets {
			s = append(s, tg.ServiceName)
		}
		return c.Export.ServiceName + "/" + strings.Join(s, ",")
	}
	for _, s := range []struct {
		name string
		file string            // the setting in the file
		env  map[string]string // nil: no variable
		flag []string          // nil: no flag
		get  func(Config) string

		def, fromFile, fromEnv, fromFlag string
	}{
		{name: "protocol", file: "[export]\nprotocol = \"http/protobuf\"\n",
			env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, flag: []string{"--protocol", "http/protobuf"},
			get: func(c Config) string { return c.Export.Protocol + " " + c.Export.Endpoint },
			def: "grpc http://localhost:4317", fromFile: "http/protobuf http://localhost:4318/v1/traces",
			fromEnv: "grpc http://localhost:4317", fromFlag: "http/protobuf http://localhost:4318/v1/traces"},
		// The file's endpoint is passed explicitly; the environment's is read
		// by the SDK (EndpointURL empty).
		{name: "endpoint", file: "[export]\nendpoint = \"http://file:4318\"\n",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4317"}, flag: []string{"--endpoint", "http://flag:4317"},
			get: func(c Config) string {
				return c.Export.Endpoint + " explicit=" + c.Export.EndpointURL + " metrics=" + c.Export.MetricsEndpointURL
			},
			def:      "http://localhost:4317 explicit=http://localhost:4317 metrics=http://localhost:4317",
			fromFile: "http://file:4318/v1/traces explicit=http://file:4318/v1/traces metrics=http://file:4318/v1/metrics",
			fromEnv:  "http://env:4317 explicit= metrics=",
			fromFlag: "http://flag:4317 explicit=http://flag:4317 metrics=http://flag:4317"},
		{name: "traces endpoint below the environment's general one", file: "[export]\ntraces_endpoint = \"http://file:9999/t\"\n",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4317"},
			get: func(c Config) string { return c.Export.Endpoint },
			def: "http://localhost:4317", fromFile: "http://file:9999/t", fromEnv: "http://env:4317"},
		{name: "headers", file: "[export.headers]\napi-key = \"file key\"\n",
			env: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key=env"}, flag: []string{"--headers", "api-key=flag"},
			get: func(c Config) string { return fmt.Sprint(c.Export.Headers) },
			def: "map[]", fromFile: "map[api-key:file key]", fromEnv: "map[]", fromFlag: "map[api-key:flag]"},
		{name: "insecure", file: "[export]\ninsecure = true\n",
			env: map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "false"}, flag: []string{"--insecure"},
			get: func(c Config) string { return fmt.Sprint(c.Export.Insecure) },
			def: "false", fromFile: "true", fromEnv: "false", fromFlag: "true"},
		{name: "certificate", file: "[export]\ncertificate = \"" + cert + "\"\n",
			env: map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": cert}, flag: []string{"--certificate", cert},
			get: func(c Config) string { return strings.ReplaceAll(c.Export.Certificate, certDir, "DIR") },
			def: "", fromFile: "DIR/ca.pem", fromEnv: "", fromFlag: "DIR/ca.pem"},
		{name: "exporters and stdout", file: "[export]\nexporters = [\"otlp\", \"console\"]\n",
			env: map[string]string{"OTEL_TRACES_EXPORTER": "none"}, flag: []string{"--stdout"},
			get: func(c Config) string { return fmt.Sprint(c.Export.Exporters, c.Stdout) },
			def: "[otlp] false", fromFile: "[otlp console] false", fromEnv: "[] false", fromFlag: "[console] true"},
		{name: "stdout", file: "[export]\nstdout = true\n",
			env: map[string]string{"OTEL_STDOUT": "false"}, flag: []string{"--stdout=true"},
			get: func(c Config) string { return fmt.Sprint(c.Export.Exporters, c.Stdout) },
			def: "[otlp] false", fromFile: "[console] true", fromEnv: "[otlp] false", fromFlag: "[console] true"},
		{name: "metrics exporter", file: "[export]\nmetrics_exporter = \"none\"\n",
			env: map[string]string{"OTEL_METRICS_EXPORTER": "otlp"}, flag: []string{"--metrics-exporter", "none"},
			get: func(c Config) string { return fmt.Sprint(c.Export.Metrics) },
			def: "true", fromFile: "false", fromEnv: "true", fromFlag: "false"},
		{name: "sampler", file: "[export]\nsampler = \"traceidratio\"\nsampler_arg = 0.5\n",
			env: map[string]string{"OTEL_TRACES_SAMPLER_ARG": "0.25"}, flag: []string{"--sampler", "always_off"},
			get:      func(c Config) string { return c.Export.Sampler.Description() },
			def:      "ParentBased{root:AlwaysOnSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}",
			fromFile: "TraceIDRatioBased{0.5}", fromEnv: "TraceIDRatioBased{0.25}", fromFlag: "AlwaysOffSampler"},
		{name: "resource attributes", file: "[export.resource_attributes]\nteam = \"file\"\n",
			env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=env"}, flag: []string{"--resource-attributes", "team=flag"},
			get: func(c Config) string {
				var kv []string
				for _, a := range c.Export.ResourceAttributes {
					kv = append(kv, string(a.Key)+"="+a.Value.Emit())
				}
				return strings.Join(kv, ",")
			},
			def: "", fromFile: "team=file", fromEnv: "team=env", fromFlag: "team=flag"},
		// service.name: the file's per-target name, then the file's general
		// one; a name from the environment or a flag replaces both.
		{name: "service name", file: "[export]\nservice_name = \"file\"\n[[target]]\ncrate = \"tonic\"\nservice_name = \"grpc\"\n[[target]]\ncrate = \"axum\"\n",
			env: map[string]string{"OTEL_SERVICE_NAME": "env"}, flag: []string{"--service-name", "flag"},
			get: services, def: "/", fromFile: "file/grpc,", fromEnv: "env/,", fromFlag: "flag/,"},
		{name: "service.name among the environment's attributes", file: "[export]\nservice_name = \"file\"\n[[target]]\ncrate = \"tonic\"\nservice_name = \"grpc\"\n",
			env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=env"},
			get: services, def: "/", fromFile: "file/grpc", fromEnv: "/"},
		{name: "show secrets", file: "[redaction]\nshow_secrets = true\n",
			env: map[string]string{"RUSTSCOPE_SHOW_SECRETS": "false"}, flag: []string{"--show-secrets"},
			get: func(c Config) string { return fmt.Sprint(c.ShowSecrets) },
			def: "false", fromFile: "true", fromEnv: "false", fromFlag: "true"},
		{name: "spans buffer", file: "[buffers]\nspans = 500\n", flag: []string{"--buffer", "700"},
			get: func(c Config) string { return fmt.Sprint(c.Buffer) },
			def: "10000", fromFile: "500", fromFlag: "700"},
		{name: "capture bytes", file: "[buffers]\ncapture_bytes = 1024\n", flag: []string{"--capture-bytes", "512"},
			get: func(c Config) string { return fmt.Sprint(c.CaptureBytes) },
			def: "4096", fromFile: "1024", fromFlag: "512"},
		{name: "ring bytes", file: "[buffers]\nring_bytes = 4194304\n",
			get: func(c Config) string { return fmt.Sprint(c.RingBytes) },
			def: "0", fromFile: "4194304"},
		{name: "headless", file: "headless = true\n", flag: []string{"--headless=false"},
			get: func(c Config) string { return fmt.Sprint(c.Headless) },
			def: "false", fromFile: "true", fromFlag: "false"},
		{name: "wire only", file: "wire_only = true\n", flag: []string{"--wire-only=false"},
			get: func(c Config) string { return fmt.Sprint(c.WireOnly) },
			def: "false", fromFile: "true", fromFlag: "false"},
		{name: "log file", file: "log_file = \"/var/log/file.log\"\n", flag: []string{"--log-file", "/tmp/flag.log"},
			get: func(c Config) string { return c.LogFile },
			def: "", fromFile: "/var/log/file.log", fromFlag: "/tmp/flag.log"},
		// Targets: any target from flags or the environment replaces the file's.
		{name: "targets by executable", file: "all = true\n[[target]]\nexe = \"/srv/a\"\n",
			env: map[string]string{"OTEL_TARGET_EXE": "/srv/env"}, flag: []string{"--exe", "/srv/flag"},
			get: targets, def: "", fromFile: "exe /srv/a, all", fromEnv: "exe /srv/env", fromFlag: "exe /srv/flag"},
		{name: "targets by pid", file: "[[target]]\nexe = \"/srv/a\"\n",
			env: map[string]string{"OTEL_TARGET_PID": "42"}, flag: []string{"--pid", "7"},
			get: func(c Config) string { return fmt.Sprint(c.PID, " ", targets(c)) },
			def: "0 ", fromFile: "0 exe /srv/a", fromEnv: "42 ", fromFlag: "7 "},
		{name: "targets by --all", file: "[[target]]\nexe = \"/srv/a\"\n", flag: []string{"--all"},
			get: targets, def: "", fromFile: "exe /srv/a", fromFlag: "all"},
	} {
		t.Run(s.name, func(t *testing.T) {
			type step struct {
				what string
				env  map[string]string
				flag []string
				want string
			}
			steps := []step{{"default", nil, nil, s.def}, {"file", nil, nil, s.fromFile}}
			if s.env != nil {
				steps = append(steps, step{"environment over file", s.env, nil, s.fromEnv})
			}
			if s.flag != nil {
				steps = append(steps, step{"flag over environment and file", s.env, s.flag, s.fromFlag})
			}
			for i, st := range steps {
				file := s.file
				if i == 0 {
					file = "" // the defaults
				}
				cfg, _, err := withConfig(t, file, st.flag, st.env)
				if err != nil {
					t.Fatalf("%s: %v", st.what, err)
				}
				if got := s.get(cfg); got != st.want {
					t.Errorf("%s: %q, want %q", st.what, got, st.want)
				}
			}
		})
	}
}

// TestConfigFileErrors: every kind of bad file is one error that names the
// file and the line of the culprit.
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		line    int
		msg     string // the error after "config FILE:LINE: "
	}{
		{"syntax", "all = true\n\n[export\nendpoint = \"x\"\n", 3, "expected ']' to close table name"},
		{"unterminated string", "log_file = \"/var/log\n", 1, "basic strings cannot have new lines"},
		{"duplicate key", "headless = true\nheadless = false\n", 2, "key headless is already defined"},
		{"unknown top-level key", "all = true\n\n# the targets\ntargts = []\n", 4, `unknown key "targts"`},
		{"unknown key in a table", "[export]\nendpoint = \"http://c:4317\"\nendpont = \"http://c:4317\"\n", 3, `unknown key "export.endpont"`},
		{"unknown key in a target", "[[target]]\nexe = \"/a\"\n\n[[target]]\nexe = \"/b\"\nservice = \"b\"\n", 6, `unknown key "target.service"`},
		{"unknown table", "[buffer]\nspans = 1\n", 1, `unknown key "buffer"`},
		{"bool wanted", "headless = \"yes\"\n", 1, "headless: want true or false, not a string"},
		{"integer wanted", "[buffers]\nspans = 1.5\n", 2, "buffers.spans: want an integer, not a float"},
		{"list wanted", "[export]\nexporters = \"otlp\"\n", 2, "export.exporters: want a list of strings, not a string"},
		{"string values in a table", "[export.headers]\napi-key = 42\n", 2, "export.headers.api-key: want a string, not an integer"},
		{"table wanted", "[export]\nheaders = \"a=b\"\n", 2, "export.headers: want a table of strings, not a string"},
		{"target is a table", "target = \"x\"\n", 1, "target: want [[target]] tables, not a string"},
		{"relative exe", "[[target]]\nexe = \"bin/app\"\n", 2, `target.exe "bin/app": want an absolute path (or glob)`},
		{"bad glob", "\n[[target]]\nexe = \"/srv/[app\"\n", 3, `target.exe "/srv/[app": not a valid glob`},
		{"bad regexp", "[[target]]\ncrate = \"axum\"\ncmdline = \"--port (80\"\n", 3, "target.cmdline \"--port (80\": not a valid regular expression: missing closing ): `--port (80`"},
		{"bad crate", "[[target]]\ncrate = \"axum 0.7\"\n", 2, `target.crate "axum 0.7": want a crate name such as axum`},
		{"bad container ID", "[[target]]\ncontainer = \"web-1\"\n", 2, `target.container "web-1": want true, false or a container ID`},
		{"container of another type", "[[target]]\ncontainer = 12\n", 2, "target.container: want true, false or a container ID string, not 12"},
		{"empty service name", "[[target]]\ncrate = \"axum\"\nservice_name = \" \"\n", 3, "target.service_name: empty"},
		{"target without selector", "all = true\n\n[[target]]\nservice_name = \"x\"\n", 3, "[[target]] selects nothing: set exe, cmdline, crate or container"},
		{"inline target", "target = [{exe = \"/a\"}, {cmdline = \"(\"}]\n", 1, `target.cmdline "(": not a valid regular expression`},
		{"bad protocol", "[export]\n\nprotocol = \"udp\"\n", 3, `export.protocol "udp": unknown protocol "udp"; want grpc or http/protobuf`},
		{"bad endpoint", "[export]\nendpoint = \"collector:4317\"\n", 2, `export.endpoint "collector:4317": want a URL`},
		{"bad traces endpoint hidden by endpoint", "[export]\nendpoint = \"http://c:4317\"\ntraces_endpoint = \"::\"\n", 3, `export.traces_endpoint "::"`},
		{"bad exporter", "[export]\nexporters = [\"otlp\", \"jaeger\"]\n", 2, `export.exporters "otlp,jaeger": unknown exporter "jaeger"`},
		{"bad metrics exporter", "[export]\nmetrics_exporter = \"prometheus\"\n", 2, `export.metrics_exporter "prometheus": unknown metrics exporter`},
		{"bad sampler", "[export]\nsampler = \"sometimes\"\n", 2, `export.sampler "sometimes": unknown sampler`},
		{"bad sampler arg", "[export]\nsampler = \"traceidratio\"\nsampler_arg = 2\n", 3, `export.sampler_arg "2": want a number from 0 to 1`},
		{"bad header name", "[export.headers]\n\"api key\" = \"x\"\n", 2, `export.headers.api key "api key": invalid header name`},
		{"missing certificate", "[export]\ncertificate = \"/no/such.pem\"\n", 2, `export.certificate "/no/such.pem"`},
		{"empty service name", "[export]\nservice_name = \"\"\n", 2, "export.service_name: empty"},
		{"small buffer", "[buffers]\nspans = 5\n", 2, "buffers.spans 5: want at least 100"},
		{"capture bytes", "[buffers]\ncapture_bytes = 10000\n", 2, "buffers.capture_bytes 10000: want 64 to 8191"},
		{"ring not a power of two", "[buffers]\nring_bytes = 3000000\n", 2, "buffers.ring_bytes 3000000: want a power of two from 4096 to 1073741824"},
		{"show secrets", "[redaction]\nshow_secrets = 1\n", 2, "redaction.show_secrets: want true or false, not an integer"},
		{"unknown redaction", "[redaction]\nshow_query_values = true\n", 2, `unknown key "redaction.show_query_values"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, path, err := withConfig(t, tc.content, nil, nil)
			prefix := fmt.Sprintf("config %s:%d: ", path, tc.line)
			if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v\nwant one line %q...%q", err, prefix, tc.msg)
			}
		})
	}
}

// TestConfigFileLocation: RUSTSCOPE_CONFIG and --config name the file
// (the flag first); a named file must exist, the default one may be
// missing; --config= reads none.
func TestConfigFileLocation(t *testing.T) {
	noDefaultConfig(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	envFile := write("env.toml", "[export]\nservice_name = \"env-file\"\n")
	flagFile := write("flag.toml", "[export]\nservice_name = \"flag-file\"\n")
	defFile := write("default.toml", "[export]\nservice_name = \"default-file\"\n")
	missing := filepath.Join(dir, "missing.toml")
	for _, tc := range []struct {
		name    string
		args    []string
		env     string
		def     string
		service string
		err     string
	}{
		{name: "none", service: ""},
		{name: "default", def: defFile, service: "default-file"},
		{name: "default missing", def: missing, service: ""},
		{name: "environment", env: envFile, def: defFile, service: "env-file"},
		{name: "flag", args: []string{"--config", flagFile}, env: envFile, service: "flag-file"},
		{name: "flag reads none", args: []string{"--config="}, env: envFile, def: defFile, service: ""},
		{name: "environment missing", env: missing, err: `RUSTSCOPE_CONFIG="` + missing + `": no such file`},
		{name: "flag missing", args: []string{"--config", missing}, err: `--config "` + missing + `": no such file`},
		{name: "a directory", args: []string{"--config", dir}, err: "read config " + dir + ": read " + dir + ": is a directory"},
	} {
		defaultPath = filepath.Join(dir, "unset.toml")
		if tc.def != "" {
			defaultPath = tc.def
		}
		cfg, err := Parse(tc.args, func(k string) string {
			if k == "RUSTSCOPE_CONFIG" {
				return tc.env
			}
			return ""
		}, io.Discard)
		switch {
		case tc.err != "":
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case cfg.Export.ServiceName != tc.service:
			t.Errorf("%s: service name %q, want %q (from the file read)", tc.name, cfg.Export.ServiceName, tc.service)
		}
	}
}

// writeTestCert writes a self-signed PEM certificate to path.
func writeTestCert(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "collector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
