package config

// OTLP endpoint, protocol, headers, TLS: resolved into export.Config.
//
// The SDK's OTLP exporters read the OTEL_EXPORTER_OTLP_* variables
// themselves. rustscope checks those variables up front (every one,
// also those a flag hides) and passes explicit options only for values
// from flags, from the file (when no variable sets them: the SDK lets
// explicit options win over the environment) and for its own defaults.

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/rustscope/rustscope/export"
)

// metricsEndpointEnv is the SDK's metrics endpoint variable: checked here,
// read by the SDK. A --traces-endpoint alone does not move metrics.
const metricsEndpointEnv = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"

const (
	tracesPath  = "/v1/traces"
	metricsPath = "/v1/metrics"
)

// otlp resolves ec's OTLP settings.
func (p *parser) otlp(ec *export.Config) error {
	endpoint, traces, err := p.endpoint()
	if err != nil {
		return err
	}

	// Protocol: the flag, the TRACES_ variable, the general one, the file
	// (every one checked), then the endpoint's port.
	if err := p.check("protocol", func(v value) error {
		proto, err := parseProtocol(v.text)
		if ec.Protocol == "" { // the first wins
			ec.Protocol = proto
		}
		return err
	}); err != nil {
		return err
	}
	if ec.Protocol == "" {
		ec.Protocol = export.ProtocolGRPC
		if endpoint != nil {
			u, _ := parseEndpoint(endpoint.text)
			if endpointPort(u) == "4318" {
				ec.Protocol = export.ProtocolHTTP
			}
		}
	}

	switch {
	case endpoint == nil:
		// The SDK's defaults use TLS; the specification's are plain http.
		u, _ := parseEndpoint(defaultEndpoint(ec.Protocol))
		ec.Endpoint = tracesURL(u, ec.Protocol)
	case traces:
		ec.Endpoint = strings.TrimSpace(endpoint.text)
	default:
		u, _ := parseEndpoint(endpoint.text)
		ec.Endpoint = tracesURL(u, ec.Protocol)
	}
	if endpoint == nil || endpoint.origin != fromEnv {
		ec.EndpointURL = ec.Endpoint
	}

	// Metrics go to the general endpoint; the SDK reads the metrics and
	// the general endpoint variables.
	if v := p.getenv(metricsEndpointEnv); v != "" {
		if _, err := parseEndpoint(v); err != nil {
			return value{text: v, src: metricsEndpointEnv, origin: fromEnv}.bad(err.Error())
		}
	}
	general, ok := p.lookup("endpoint")
	sdk := ok && general.origin == fromEnv || p.getenv(metricsEndpointEnv) != "" && !(ok && general.origin == fromFlag)
	switch {
	case sdk:
	case ok:
		u, _ := parseEndpoint(general.text)
		ec.MetricsEndpointURL = metricsURL(u, ec.Protocol)
	default:
		u, _ := parseEndpoint(defaultEndpoint(ec.Protocol))
		ec.MetricsEndpointURL = metricsURL(u, ec.Protocol)
	}

	// Headers, insecure, certificate: checked wherever they come from;
	// passed on from a flag, or from the file when no variable sets them.
	if v, ok, err := p.explicit("headers", func(v value) error {
		if v.origin == fromFile {
			return nil // header names checked with the file
		}
		_, err := parseHeaders(v.text)
		return err
	}); err != nil {
		return err
	} else if ok && v.origin == fromFile {
		ec.Headers = v.raw.(map[string]string)
	} else if ok {
		ec.Headers, _ = parseHeaders(v.text)
	}
	if v, ok, err := p.explicit("insecure", func(v value) error {
		if _, err := strconv.ParseBool(strings.TrimSpace(v.text)); err != nil {
			return errors.New("want true or false")
		}
		return nil
	}); err != nil {
		return err
	} else if ok {
		ec.Insecure = v.text == "true"
	}
	if v, ok, err := p.explicit("certificate", func(v value) error {
		_, err := export.LoadCertificate(v.text)
		return err
	}); err != nil {
		return err
	} else if ok {
		ec.Certificate = v.text
	}
	return nil
}

// endpoint is the traces endpoint that wins, nil for the default, and
// whether it is a traces endpoint (used as is): the flags
// (--traces-endpoint first), then the variables, then the file. Every one
// is checked, even those it hides.
func (p *parser) endpoint() (*value, bool, error) {
	type ep struct {
		value
		traces bool
	}
	var all []ep
	for _, flag := range []string{"traces-endpoint", "endpoint"} {
		for _, v := range p.values(setting(flag)) {
			all = append(all, ep{v, flag == "traces-endpoint"})
		}
	}
	slices.SortStableFunc(all, func(a, b ep) int { return int(a.origin) - int(b.origin) })
	for _, e := range all {
		if _, err := parseEndpoint(e.text); err != nil {
			return nil, false, e.bad(err.Error())
		}
	}
	if len(all) == 0 {
		return nil, false, nil
	}
	return &all[0].value, all[0].traces, nil
}

// check calls ok with every value of --flag's setting, by precedence, and
// returns the first error as one about that value.
func (p *parser) check(flag string, ok func(value) error) error {
	for _, v := range p.values(setting(flag)) {
		if err := ok(v); err != nil {
			return v.bad(err.Error())
		}
	}
	return nil
}

// explicit is the value of --flag's setting to pass to the exporter: the
// flag's, else the file's when no variable sets it (the SDK reads the
// variables). Every value is checked with ok first.
func (p *parser) explicit(flag string, ok func(value) error) (value, bool, error) {
	if err := p.check(flag, ok); err != nil {
		return value{}, false, err
	}
	vs := p.values(setting(flag))
	if len(vs) == 0 || vs[0].origin == fromEnv {
		return value{}, false, nil
	}
	return vs[0], true, nil
}

func defaultEndpoint(protocol string) string {
	if protocol == export.ProtocolHTTP {
		return export.DefaultHTTPEndpoint
	}
	return export.DefaultGRPCEndpoint
}

// parseProtocol parses OTEL_EXPORTER_OTLP_PROTOCOL.
func parseProtocol(v string) (string, error) {
	switch strings.TrimSpace(v) {
	case export.ProtocolGRPC:
		return export.ProtocolGRPC, nil
	case export.ProtocolHTTP:
		return export.ProtocolHTTP, nil
	case "http/json":
		return "", fmt.Errorf("http/json is not supported; want grpc or http/protobuf")
	}
	return "", fmt.Errorf("unknown protocol %q; want grpc or http/protobuf", v)
}

// parseEndpoint checks an OTLP endpoint URL: http or https, with a host and
// a valid port if one is given.
func parseEndpoint(v string) (*url.URL, error) {
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

// endpointPort is the URL's port, or the scheme's default.
func endpointPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// tracesURL is the traces URL for a base endpoint (OTEL_EXPORTER_OTLP_ENDPOINT):
// with http/protobuf, /v1/traces is appended to its path; gRPC uses only
// the host.
func tracesURL(base *url.URL, protocol string) string {
	return signalURL(base, protocol, tracesPath)
}

// metricsURL is the metrics URL for a base endpoint, like tracesURL.
func metricsURL(base *url.URL, protocol string) string {
	return signalURL(base, protocol, metricsPath)
}

func signalURL(base *url.URL, protocol, signal string) string {
	u := *base
	if protocol == export.ProtocolHTTP {
		u.Path = path.Join("/", u.Path, signal)
	}
	return u.String()
}

// parseHeaders parses OTEL_EXPORTER_OTLP_HEADERS: key=value pairs separated
// by commas, values percent-encoded.
func parseHeaders(v string) (map[string]string, error) {
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
