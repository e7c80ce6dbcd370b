package export

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
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
)

// Config is the resolved export configuration (package config resolves
// it).
//
// The SDK's OTLP exporters read the OTEL_EXPORTER_OTLP_* environment
// themselves (endpoint, headers, insecure, certificate, compression,
// timeout, their TRACES_ forms). rustscope validates those variables up
// front and passes explicit options only for what came from flags, the
// configuration file or its own defaults: the fields below marked
// "explicit".
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
