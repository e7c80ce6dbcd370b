package config

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/rustscope/rustscope/export"
)

func TestParseExporters(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{"otlp", []string{"otlp"}, ""},
		{"console", []string{"console"}, ""},
		{" otlp , console,otlp", []string{"otlp", "console"}, ""},
		{"none", nil, ""},
		{"OTLP", []string{"otlp"}, ""},
		{"zipkin", nil, "unknown exporter"},
		{"otlp,", nil, "empty exporter"},
		{"none,otlp", nil, "cannot be combined"},
	} {
		got, err := parseExporters(tc.in)
		if !errMatches(err, tc.err) || (tc.err == "" && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("parseExporters(%q) = %v, %v; want %v, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseProtocol(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"grpc", "grpc", ""},
		{"http/protobuf", "http/protobuf", ""},
		{"http/json", "", "not supported"},
		{"http", "", "unknown protocol"},
	} {
		got, err := parseProtocol(tc.in)
		if !errMatches(err, tc.err) || got != tc.want {
			t.Errorf("parseProtocol(%q) = %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseEndpointAndTracesURL(t *testing.T) {
	for _, tc := range []struct {
		in, err    string
		port       string
		grpc, http string
	}{
		{"http://localhost:4317", "", "4317", "http://localhost:4317", "http://localhost:4318/v1/traces"},
		{"https://collector.example", "", "443", "https://collector.example", "https://collector.example/v1/traces"},
		{"http://c:4318/base/", "", "4318", "http://c:4318/base/", "http://c:4318/base/v1/traces"},
		{"localhost:4317", "scheme", "", "", ""},
		{"ftp://x", "scheme", "", "", ""},
		{"http://", "no host", "", "", ""},
		{"http://x:99999", "out of range", "", "", ""},
		{"http://x:%zz", "not a URL", "", "", ""},
	} {
		u, err := parseEndpoint(tc.in)
		if !errMatches(err, tc.err) {
			t.Errorf("parseEndpoint(%q): %v, want %q", tc.in, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if p := endpointPort(u); p != tc.port {
			t.Errorf("endpointPort(%q) = %q, want %q", tc.in, p, tc.port)
		}
		if g := tracesURL(u, export.ProtocolGRPC); g != tc.grpc {
			t.Errorf("tracesURL(%q, grpc) = %q, want %q", tc.in, g, tc.grpc)
		}
		want := tc.http
		if tc.port == "4317" {
			u2, _ := url.Parse("http://localhost:4318")
			u = u2
		}
		if h := tracesURL(u, export.ProtocolHTTP); h != want {
			t.Errorf("tracesURL(%q, http) = %q, want %q", tc.in, h, want)
		}
	}
}

func TestParseHeaders(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
		err  string
	}{
		{"", map[string]string{}, ""},
		{"api-key=secret", map[string]string{"api-key": "secret"}, ""},
		{"a=1, b = x%20y ,c=", map[string]string{"a": "1", "b": "x y", "c": ""}, ""},
		{"a=b=c", map[string]string{"a": "b=c"}, ""},
		{"novalue", nil, "key=value"},
		{"=v", nil, "key=value"},
		{"a b=c", nil, "invalid header name"},
		{"a=%zz", nil, "percent-encoding"},
	} {
		got, err := parseHeaders(tc.in)
		if !errMatches(err, tc.err) || (tc.err == "" && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("parseHeaders(%q) = %v, %v; want %v, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseResourceAttributes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []attribute.KeyValue
		err  string
	}{
		{"", nil, ""},
		{"deployment.environment.name=prod,team=a%2Cb", []attribute.KeyValue{
			attribute.String("deployment.environment.name", "prod"), attribute.String("team", "a,b")}, ""},
		{"service.name=x", []attribute.KeyValue{attribute.String("service.name", "x")}, ""},
		{"broken", nil, "key=value"},
		{"k=%", nil, "percent-encoding"},
	} {
		got, err := parseResourceAttributes(tc.in)
		if !errMatches(err, tc.err) || (tc.err == "" && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("parseResourceAttributes(%q) = %v, %v; want %v, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseSampler(t *testing.T) {
	for _, tc := range []struct{ name, arg, desc, err string }{
		{"", "", "ParentBased{root:AlwaysOnSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}", ""},
		{"always_on", "", "AlwaysOnSampler", ""},
		{"parentbased_always_off", "", "ParentBased{root:AlwaysOffSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}", ""},
		{"parentbased_", "", "", "unknown sampler"},
		{"traceidratio", "0.25", "TraceIDRatioBased{0.25}", ""},
		{"parentbased_traceidratio", "", "ParentBased{root:TraceIDRatioBased{1},remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}", ""},
		{"traceidratio", "1.5", "", "from 0 to 1"},
		{"traceidratio", "half", "", "from 0 to 1"},
		{"jaeger_remote", "", "", "unknown sampler"},
	} {
		s, err := parseSampler(tc.name, tc.arg)
		if !errMatches(err, tc.err) || (err == nil && s.Description() != tc.desc) {
			t.Errorf("parseSampler(%q, %q) = %v, %v; want %s, %q", tc.name, tc.arg, s, err, tc.desc, tc.err)
		}
	}
}

func errMatches(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}
