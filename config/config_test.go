package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// TestParseConfig is the configuration table: flags over environment over
// defaults, and one error naming the variable or flag for a bad value.
func TestParseConfig(t *testing.T) {
	certDir := t.TempDir()
	notPEM := filepath.Join(certDir, "x.pem")
	os.WriteFile(notPEM, []byte("nope"), 0o600)

	type want struct {
		pid         int
		exe         string
		exporters   []string
		protocol    string
		endpoint    string // Config.Endpoint
		endpointURL string // Config.EndpointURL (explicit)
		service     string
		headers     map[string]string
		insecure    bool
		sampler     string
		attrs       []attribute.KeyValue
	}
	def := func(w want) want {
		if w.exporters == nil {
			w.exporters = []string{"otlp"}
		}
		if w.protocol == "" {
			w.protocol = "grpc"
		}
		if w.sampler == "" {
			w.sampler = "ParentBased{root:AlwaysOnSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}" // the spec default, parentbased_always_on
		}
		return w
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want want
		err  string // substring of the error; "" for none
	}{
		{name: "defaults", want: want{endpoint: "http://localhost:4317", endpointURL: "http://localhost:4317"}},
		{name: "pid from env", env: map[string]string{"OTEL_TARGET_PID": "42"},
			want: want{pid: 42, endpoint: "http://localhost:4317", endpointURL: "http://localhost:4317"}},
		{name: "pid flag wins", args: []string{"--pid", "7"}, env: map[string]string{"OTEL_TARGET_PID": "42"},
			want: want{pid: 7, endpoint: "http://localhost:4317", endpointURL: "http://localhost:4317"}},
		{name: "bad pid env", env: map[string]string{"OTEL_TARGET_PID": "abc"}, err: `OTEL_TARGET_PID="abc": not a process ID`},
		{name: "bad pid flag", args: []string{"--pid", "-3"}, err: `--pid "-3": not a process ID`},
		{name: "exe from env", env: map[string]string{"OTEL_TARGET_EXE": "/srv/app"},
			want: want{exe: "/srv/app", endpoint: "http://localhost:4317", endpointURL: "http://localhost:4317"}},
		{name: "pid flag hides exe env", args: []string{"--pid", "9"}, env: map[string]string{"OTEL_TARGET_EXE": "/srv/app"},
			want: want{pid: 9, endpoint: "http://localhost:4317", endpointURL: "http://localhost:4317"}},
		{name: "pid and exe env", env: map[string]string{"OTEL_TARGET_EXE": "/srv/app", "OTEL_TARGET_PID": "3"},
			err: "OTEL_TARGET_PID and OTEL_TARGET_EXE exclude each other"},
		{name: "stdout means console", env: map[string]string{"OTEL_STDOUT": "true"},
			want: want{exporters: []string{"console"}, endpoint: "http://localhost:4317", endpointURL: "http://localhost:4317"}},
		{name: "stdout joins explicit otlp", args: []string{"--stdout"}, env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"},
			want: want{exporters: []string{"otlp", "console"}, endpoint: "http://localhost:4317", endpointURL: "http://localhost:4317"}},
		{name: "bad stdout", env: map[string]string{"OTEL_STDOUT": "yes please"}, err: `OTEL_STDOUT="yes please": want true or false`},
		{name: "exporter none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none"},
			want: want{exporters: []string{}, endpoint: "http://localhost:4317", endpointURL: "http://localhost:4317"}},
		{name: "exporter flag wins", args: []string{"--exporter", "console"}, env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"},
			want: want{exporters: []string{"console"}, endpoint: "http://localhost:4317", endpointURL: "http://localhost:4317"}},
		{name: "bad exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "jaeger"}, err: `OTEL_TRACES_EXPORTER="jaeger": unknown exporter`},
		{name: "endpoint env left to the SDK", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"},
			want: want{endpoint: "http://collector:4317"}},
		{name: "port 4318 means http", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			want: want{protocol: "http/protobuf", endpoint: "http://collector:4318/v1/traces"}},
		{name: "port 4318 but protocol set", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			want: want{protocol: "grpc", endpoint: "http://collector:4318"}},
		{name: "http protocol default endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
			want: want{protocol: "http/protobuf", endpoint: "http://localhost:4318/v1/traces", endpointURL: "http://localhost:4318/v1/traces"}},
		{name: "traces protocol wins", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
			want: want{protocol: "http/protobuf", endpoint: "http://localhost:4318/v1/traces", endpointURL: "http://localhost:4318/v1/traces"}},
		{name: "protocol flag wins", args: []string{"--protocol", "grpc"}, env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
			want: want{protocol: "grpc", endpoint: "http://localhost:4317", endpointURL: "http://localhost:4317"}},
		{name: "bad protocol", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "udp"}, err: `OTEL_EXPORTER_OTLP_PROTOCOL="udp": unknown protocol`},
		{name: "traces endpoint wins", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:9999/custom"},
			want: want{endpoint: "http://b:9999/custom"}},
		{name: "endpoint flag explicit", args: []string{"--endpoint", "http://flag:4318"}, env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://env:4317"},
			want: want{protocol: "http/protobuf", endpoint: "http://flag:4318/v1/traces", endpointURL: "http://flag:4318/v1/traces"}},
		{name: "traces endpoint flag", args: []string{"--traces-endpoint", "https://t.example/x", "--endpoint", "http://e:4317"},
			want: want{endpoint: "https://t.example/x", endpointURL: "https://t.example/x"}},
		{name: "bad endpoint env", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}, err: `OTEL_EXPORTER_OTLP_ENDPOINT="collector:4317": want a URL`},
		{name: "bad endpoint hidden by flag still reported", args: []string{"--endpoint", "http://ok:4317"}, env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "::"},
			err: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="::"`},
		{name: "headers flag", args: []string{"--headers", "api-key=s%20t"},
			want: want{endpoint: "http://localhost:4317", endpointURL: "http://localhost:4317", headers: map[string]string{"api-key": "s t"}}},
		{name: "bad headers env", env: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "nokey"}, err: `OTEL_EXPORTER_OTLP_HEADERS="nokey": "nokey": want key=value`},
		{name: "bad insecure env", env: map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "maybe"}, err: `OTEL_EXPORTER_OTLP_INSECURE="maybe": want true or false`},
		{name: "bad log level env", env: map[string]string{"RUSTSCOPE_LOG_LEVEL": "loud"}, err: `RUSTSCOPE_LOG_LEVEL="loud": want debug, info, warn or error`},
		{name: "bad log level flag", args: []string{"--log-level", "verbose"}, err: `--log-level "verbose": want debug, info, warn or error`},
		{name: "insecure flag", args: []string{"--insecure"},
			want: want{endpoint: "http://localhost:4317", endpointURL: "http://localhost:4317", insecure: true}},
		{name: "missing certificate", env: map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "/no/such.pem"}, err: `OTEL_EXPORTER_OTLP_CERTIFICATE="/no/such.pem"`},
		{name: "certificate not PEM", args: []string{"--certificate", notPEM}, err: "no PEM certificate"},
		{name: "sampler", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"},
			want: want{endpoint: "http://localhost:4317", endpointURL: "http://localhost:4317", sampler: "TraceIDRatioBased{0.5}"}},
		{name: "sampler flag wins", args: []string{"--sampler", "always_off"}, env: map[string]string{"OTEL_TRACES_SAMPLER": "always_on"},
			want: want{endpoint: "http://localhost:4317", endpointURL: "http://localhost:4317", sampler: "AlwaysOffSampler"}},
		{name: "bad sampler", env: map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}, err: `OTEL_TRACES_SAMPLER="sometimes": unknown sampler`},
		{name: "bad sampler arg", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, err: `OTEL_TRACES_SAMPLER_ARG="2": want a number from 0 to 1`},
		{name: "service and resource", args: []string{"--service-name", "flag-svc"},
			env: map[string]string{"OTEL_SERVICE_NAME": "env-svc", "OTEL_RESOURCE_ATTRIBUTES": "team=core,region=eu%2D1"},
			want: want{endpoint: "http://localhost:4317", endpointURL: "http://localhost:4317", service: "flag-svc",
				attrs: []attribute.KeyValue{attribute.String("team", "core"), attribute.String("region", "eu-1")}}},
		{name: "bad resource", env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team"}, err: `OTEL_RESOURCE_ATTRIBUTES="team"`},
		{name: "bad buffer", args: []string{"--buffer", "5"}, err: "--buffer 5"},
		{name: "stray argument", args: []string{"oops"}, err: `unexpected argument "oops"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			cfg, err := Parse(tc.args, getenv, io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := def(tc.want)
			ec := cfg.Export
			exps := ec.Exporters
			if exps == nil {
				exps = []string{}
			}
			got := want{pid: cfg.PID, exe: cfg.Exe, exporters: exps, protocol: ec.Protocol, endpoint: ec.Endpoint,
				endpointURL: ec.EndpointURL, service: ec.ServiceName, headers: ec.Headers, insecure: ec.Insecure,
				sampler: ec.Sampler.Description(), attrs: ec.ResourceAttributes}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("got  %+v\nwant %+v", got, w)
			}
		})
	}
}

// TestParseConfigMetrics: RED metrics follow OTLP spans by default, go to
// the general endpoint, and OTEL_METRICS_EXPORTER switches them.
func TestParseConfigMetrics(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		metrics bool
		url     string
		err     string
	}{
		{name: "default", metrics: true, url: "http://localhost:4317"},
		{name: "http default", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, metrics: true, url: "http://localhost:4318/v1/metrics"},
		{name: "stdout only", args: []string{"--stdout"}},
		{name: "stdout but asked for", args: []string{"--stdout"}, env: map[string]string{"OTEL_METRICS_EXPORTER": "otlp"}, metrics: true, url: "http://localhost:4317"},
		{name: "none", env: map[string]string{"OTEL_METRICS_EXPORTER": "none"}},
		{name: "flag wins", args: []string{"--metrics-exporter", "otlp"}, env: map[string]string{"OTEL_METRICS_EXPORTER": "none"}, metrics: true, url: "http://localhost:4317"},
		{name: "env endpoint left to the SDK", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, metrics: true},
		{name: "endpoint flag", args: []string{"--endpoint", "http://c:4318/p"}, metrics: true, url: "http://c:4318/p/v1/metrics"},
		{name: "bad", env: map[string]string{"OTEL_METRICS_EXPORTER": "prometheus"}, err: `OTEL_METRICS_EXPORTER="prometheus": unknown metrics exporter`},
		{name: "bad endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "nope"}, err: `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Export.Metrics != tc.metrics || (tc.metrics && cfg.Export.MetricsEndpointURL != tc.url) {
				t.Errorf("metrics %v at %q, want %v at %q", cfg.Export.Metrics, cfg.Export.MetricsEndpointURL, tc.metrics, tc.url)
			}
		})
	}
}

// TestParseConfigShowSecrets: --show-secrets and RUSTSCOPE_SHOW_SECRETS,
// off by default, the flag over the environment.
func TestParseConfigShowSecrets(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want bool
		err  string
	}{
		{want: false},
		{args: []string{"--show-secrets"}, want: true},
		{env: "true", want: true},
		{args: []string{"--show-secrets=false"}, env: "true", want: false},
		{env: "yes", err: `RUSTSCOPE_SHOW_SECRETS="yes": want true or false`},
	} {
		cfg, err := Parse(tc.args, func(k string) string {
			if k == "RUSTSCOPE_SHOW_SECRETS" {
				return tc.env
			}
			return ""
		}, io.Discard)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v %q: error %v, want %q", tc.args, tc.env, err, tc.err)
			}
			continue
		}
		if err != nil || cfg.ShowSecrets != tc.want {
			t.Errorf("%v %q: show %v, %v; want %v", tc.args, tc.env, cfg.ShowSecrets, err, tc.want)
		}
	}
}

// TestParseErrorKinds: --help writes the usage and is flag.ErrHelp; every
// bad input is a *UsageError (exit code 2), a bad flag too.
func TestParseErrorKinds(t *testing.T) {
	noDefaultConfig(t)
	var help strings.Builder
	if _, err := Parse([]string{"--help"}, func(string) string { return "" }, &help); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
	if !strings.HasPrefix(help.String(), "Usage:\n  rustscope [flags]") || !strings.Contains(help.String(), "\nFlags:\n  -all\n") {
		t.Errorf("--help wrote %q", help.String())
	}
	for _, args := range [][]string{{"--bogus"}, {"--buffer", "x"}, {"--pid", "x"}, {"--config", "/no/such.toml"}} {
		_, err := Parse(args, func(string) string { return "" }, io.Discard)
		if ue, ok := errors.AsType[*UsageError](err); !ok || ue.Err == nil {
			t.Errorf("%v: %T %v, want a *UsageError", args, err, err)
		}
	}
}
