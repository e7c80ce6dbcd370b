package export

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Exporter names (OTEL_TRACES_EXPORTER).
const (
	ExporterOTLP    = "otlp"
	ExporterConsole = "console"
	ExporterNone    = "none"
)

// OTLP protocols (OTEL_EXPORTER_OTLP_PROTOCOL).
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Default endpoints of the OpenTelemetry specification.
const (
	DefaultGRPCEndpoint = "http://localhost:4317"
	DefaultHTTPEndpoint = "http://localhost:4318"
	tracesPath          = "/v1/traces"
	metricsPath         = "/v1/metrics"
)

// Config is the resolved export configuration.
//
// The SDK's OTLP exporters read the OTEL_EXPORTER_OTLP_* environment
// themselves (endpoint, headers, insecure, certificate, compression,
// timeout, their TRACES_ forms). rustscope validates those variables up
// front and passes explicit options only for what came from flags or from
// its own defaults: the fields below marked "explicit".
type Config struct {
	// Exporters lists the span exporters: ExporterOTLP and/or
	// ExporterConsole. Empty: spans are captured but not exported.
	Exporters []string
	// Protocol is ProtocolGRPC or ProtocolHTTP.
	Protocol string
	// Endpoint is the traces endpoint that will be used, for messages.
	Endpoint string

	// EndpointURL (explicit) is passed to the exporter with WithEndpointURL;
	// empty: the SDK reads the environment.
	EndpointURL string
	// Headers (explicit) are sent with every export; nil: the SDK reads
	// OTEL_EXPORTER_OTLP_HEADERS.
	Headers map[string]string
	// Insecure (explicit) disables TLS.
	Insecure bool
	// Certificate (explicit) is a PEM file of trusted roots.
	Certificate string

	// Metrics sends the RED metrics over OTLP (OTEL_METRICS_EXPORTER=otlp),
	// with Protocol and the same settings as spans.
	Metrics bool
	// MetricsEndpointURL (explicit) is the metrics URL; empty: the SDK
	// reads the environment.
	MetricsEndpointURL string

	// Sampler decides which spans are kept; nil: always on.
	Sampler sdktrace.Sampler
	// ServiceName overrides the executable's name as service.name.
	ServiceName string
	// ResourceAttributes are added to every span's resource
	// (OTEL_RESOURCE_ATTRIBUTES).
	ResourceAttributes []attribute.KeyValue
}

// Has reports whether exporter name is configured.
func (c *Config) Has(name string) bool {
	for _, e := range c.Exporters {
		if e == name {
			return true
		}
	}
	return false
}

// Describe says where spans go, for people to read.
func (c *Config) Describe() string {
	var parts []string
	for _, e := range c.Exporters {
		switch e {
		case ExporterOTLP:
			parts = append(parts, "OTLP "+c.Protocol+" to "+c.Endpoint)
		case ExporterConsole:
			parts = append(parts, "stdout")
		}
	}
	out := strings.Join(parts, " and ")
	if len(parts) == 0 {
		out = "nowhere (OTEL_TRACES_EXPORTER=none)"
	}
	if c.Metrics {
		out += "; RED metrics over OTLP " + c.Protocol
	}
	return out
}

// ParseExporters parses OTEL_TRACES_EXPORTER: a comma-separated list of
// otlp, console and none ("none" alone: no exporter).
func ParseExporters(v string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, p := range strings.Split(v, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		switch p {
		case ExporterOTLP, ExporterConsole:
			if !seen[p] {
				out = append(out, p)
			}
			seen[p] = true
		case ExporterNone:
			seen[p] = true
		case "":
			return nil, fmt.Errorf("empty exporter name; want otlp, console or none")
		default:
			return nil, fmt.Errorf("unknown exporter %q; want otlp, console or none", p)
		}
	}
	if seen[ExporterNone] && len(out) > 0 {
		return nil, fmt.Errorf("none cannot be combined with other exporters")
	}
	return out, nil
}

// ParseProtocol parses OTEL_EXPORTER_OTLP_PROTOCOL.
func ParseProtocol(v string) (string, error) {
	switch strings.TrimSpace(v) {
	case ProtocolGRPC:
		return ProtocolGRPC, nil
	case ProtocolHTTP:
		return ProtocolHTTP, nil
	case "http/json":
		return "", fmt.Errorf("http/json is not supported; want grpc or http/protobuf")
	}
	return "", fmt.Errorf("unknown protocol %q; want grpc or http/protobuf", v)
}

// ParseEndpoint checks an OTLP endpoint URL: http or https, with a host and
// a valid port if one is given.
func ParseEndpoint(v string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil {
		return nil, fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("want a URL like http://host:4317 (scheme http or https)")
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("want a URL like http://host:4317 (no host)")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("port %q out of range", p)
		}
	}
	return u, nil
}

// EndpointPort is the URL's port, or the scheme's default.
func EndpointPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// TracesURL is the traces URL for a base endpoint (OTEL_EXPORTER_OTLP_ENDPOINT):
// with http/protobuf, /v1/traces is appended to its path; gRPC uses only
// the host.
func TracesURL(base *url.URL, protocol string) string {
	u := *base
	if protocol == ProtocolHTTP {
		u.Path = path.Join("/", u.Path, tracesPath)
	}
	return u.String()
}

// MetricsURL is the metrics URL for a base endpoint, like TracesURL.
func MetricsURL(base *url.URL, protocol string) string {
	u := *base
	if protocol == ProtocolHTTP {
		u.Path = path.Join("/", u.Path, metricsPath)
	}
	return u.String()
}

// ParseMetricsExporter parses OTEL_METRICS_EXPORTER: otlp or none (the
// console is for spans).
func ParseMetricsExporter(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case ExporterOTLP:
		return true, nil
	case ExporterNone:
		return false, nil
	}
	return false, fmt.Errorf("unknown metrics exporter %q; want otlp or none", v)
}

// ParseHeaders parses OTEL_EXPORTER_OTLP_HEADERS: key=value pairs separated
// by commas, values percent-encoded.
func ParseHeaders(v string) (map[string]string, error) {
	h := map[string]string{}
	err := parseKeyValues(v, func(k, val string) error {
		if strings.ContainsAny(k, " \t\r\n:;\"") {
			return fmt.Errorf("%q: invalid header name", k)
		}
		h[k] = val
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// ParseResourceAttributes parses OTEL_RESOURCE_ATTRIBUTES: key=value pairs
// separated by commas, values percent-encoded.
func ParseResourceAttributes(v string) ([]attribute.KeyValue, error) {
	var out []attribute.KeyValue
	err := parseKeyValues(v, func(k, val string) error {
		out = append(out, attribute.String(k, val))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// parseKeyValues calls add for each pair of the environment-variable list
// format the specification uses for headers and resource attributes.
func parseKeyValues(v string, add func(k, v string) error) error {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	for _, p := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return fmt.Errorf("%q: want key=value pairs separated by commas", p)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("%q: bad percent-encoding: %v", p, err)
		}
		if err := add(k, dv); err != nil {
			return err
		}
	}
	return nil
}

// ParseSampler builds the sampler OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG name. The parentbased_ forms (the default is
// parentbased_always_on) follow a caller's sampled flag from traceparent
// and keep a server span's client calls with it.
func ParseSampler(name, arg string) (sdktrace.Sampler, error) {
	ratio := func() (float64, error) {
		if strings.TrimSpace(arg) == "" {
			return 1, nil
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(arg), 64)
		if err != nil || f < 0 || f > 1 {
			return 0, fmt.Errorf("sampler argument %q: want a number from 0 to 1", arg)
		}
		return f, nil
	}
	name = strings.ToLower(strings.TrimSpace(name))
	root, parentBased := strings.CutPrefix(name, "parentbased_")
	var s sdktrace.Sampler
	switch root {
	case "", "always_on":
		if parentBased && root == "" { // "parentbased_" alone
			break
		}
		s, parentBased = sdktrace.AlwaysSample(), parentBased || root == ""
	case "always_off":
		s = sdktrace.NeverSample()
	case "traceidratio":
		f, err := ratio()
		if err != nil {
			return nil, err
		}
		s = sdktrace.TraceIDRatioBased(f)
	}
	if s != nil {
		if parentBased {
			return sdktrace.ParentBased(s), nil
		}
		return s, nil
	}
	return nil, fmt.Errorf("unknown sampler %q; want always_on, always_off, traceidratio or their parentbased_ forms", name)
}

// LoadCertificate reads a PEM file of trusted root certificates.
func LoadCertificate(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", file)
	}
	return pool, nil
}

func tlsConfig(file string) (*tls.Config, error) {
	pool, err := LoadCertificate(file)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool}, nil
}

// otlpOptions are one SDK exporter's options for cfg's explicit settings:
// endpoint (the traces or metrics URL; "": the SDK's), headers, insecure,
// certificate. The with functions are that exporter's option constructors.
func otlpOptions[O any](cfg Config, endpoint string, withURL func(string) O, withHeaders func(map[string]string) O,
	withInsecure func() O, withTLS func(*tls.Config) O) ([]O, error) {
	var opts []O
	if endpoint != "" {
		opts = append(opts, withURL(endpoint))
	}
	if cfg.Headers != nil {
		opts = append(opts, withHeaders(cfg.Headers))
	}
	if cfg.Insecure {
		opts = append(opts, withInsecure())
	}
	if cfg.Certificate != "" {
		tc, err := tlsConfig(cfg.Certificate)
		if err != nil {
			return nil, err
		}
		opts = append(opts, withTLS(tc))
	}
	return opts, nil
}
