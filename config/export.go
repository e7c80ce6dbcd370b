package config

// The span and metric settings besides OTLP's own (otlp.go): service
// name, resource attributes, exporters, sampler.

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/rustscope/rustscope/export"
)

// export resolves cfg.Export's service, resources, exporters, metrics and
// sampler; cfg.Stdout and cfg.Targets are resolved.
func (p *parser) export(cfg *Config) error {
	ec := &cfg.Export
	service, hasService := p.lookup("service-name")
	if hasService {
		ec.ServiceName = strings.TrimSpace(service.text)
	}
	attrsService := false // service.name in the resource attributes of a flag or the environment
	if v, ok := p.lookup("resource-attributes"); ok {
		if v.origin == fromFile {
			ec.ResourceAttributes = p.file.attrs
		} else {
			var err error
			if ec.ResourceAttributes, err = parseResourceAttributes(v.text); err != nil {
				return v.bad(err.Error())
			}
			attrsService = slices.ContainsFunc(ec.ResourceAttributes, func(kv attribute.KeyValue) bool { return kv.Key == semconv.ServiceNameKey })
		}
	}
	// A service name from flags or the environment (also as service.name in
	// the resource attributes) wins over every service name in the file.
	if outside := hasService && service.origin != fromFile; outside || attrsService {
		for i := range cfg.Targets {
			cfg.Targets[i].ServiceName = ""
		}
		if !outside {
			ec.ServiceName = ""
		}
	}

	// Exporters: --stdout / OTEL_STDOUT=true means console; it replaces the
	// default otlp and joins an explicit list.
	ec.Exporters = []string{export.ExporterOTLP}
	v, explicit := p.lookup("exporter")
	if explicit {
		var err error
		if ec.Exporters, err = parseExporters(v.text); err != nil {
			return v.bad(err.Error())
		}
	}
	if cfg.Stdout {
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
	if v, ok := p.lookup("metrics-exporter"); ok {
		var err error
		if ec.Metrics, err = parseMetricsExporter(v.text); err != nil {
			return v.bad(err.Error())
		}
	}

	sampler, _ := p.lookup("sampler")
	arg, _ := p.lookup("sampler-arg")
	var err error
	if ec.Sampler, err = parseSampler(sampler.text, arg.text); errors.Is(err, errSamplerArg) {
		return arg.bad("want a number from 0 to 1")
	} else if err != nil {
		return sampler.bad(err.Error())
	}
	return nil
}

// parseExporters parses OTEL_TRACES_EXPORTER: a comma-separated list of
// otlp, console and none ("none" alone: no exporter).
func parseExporters(v string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, p := range strings.Split(v, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		switch p {
		case export.ExporterOTLP, export.ExporterConsole:
			if !seen[p] {
				out = append(out, p)
			}
			seen[p] = true
		case export.ExporterNone:
			seen[p] = true
		case "":
			return nil, fmt.Errorf("empty exporter name; want otlp, console or none")
		default:
			return nil, fmt.Errorf("unknown exporter %q; want otlp, console or none", p)
		}
	}
	if seen[export.ExporterNone] && len(out) > 0 {
		return nil, fmt.Errorf("none cannot be combined with other exporters")
	}
	return out, nil
}

// parseMetricsExporter parses OTEL_METRICS_EXPORTER: otlp or none (the
// console is for spans).
func parseMetricsExporter(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case export.ExporterOTLP:
		return true, nil
	case export.ExporterNone:
		return false, nil
	}
	return false, fmt.Errorf("unknown metrics exporter %q; want otlp or none", v)
}

// parseResourceAttributes parses OTEL_RESOURCE_ATTRIBUTES: key=value pairs
// separated by commas, values percent-encoded.
func parseResourceAttributes(v string) ([]attribute.KeyValue, error) {
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

// errSamplerArg is a sampler argument that is not a ratio.
var errSamplerArg = errors.New("sampler argument: want a number from 0 to 1")

// parseSampler builds the sampler OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG name. The parentbased_ forms (the default is
// parentbased_always_on) follow a caller's sampled flag from traceparent
// and keep a server span's client calls with it.
func parseSampler(name, arg string) (sdktrace.Sampler, error) {
	ratio := func() (float64, error) {
		if strings.TrimSpace(arg) == "" {
			return 1, nil
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(arg), 64)
		if err != nil || f < 0 || f > 1 {
			return 0, errSamplerArg
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
