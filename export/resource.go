package export

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/rustscope/rustscope/tracer"
)

// ServiceName is t's service.name: service if set, else a service.name
// among the extra resource attributes, else the executable's name.
func ServiceName(service string, extra []attribute.KeyValue, t *tracer.Target) string {
	if service != "" {
		return service
	}
	for _, kv := range extra {
		if kv.Key == semconv.ServiceNameKey {
			service = kv.Value.Emit()
		}
	}
	if service == "" {
		service = filepath.Base(strings.TrimSuffix(t.Exe, " (deleted)"))
	}
	return service
}

// Resource describes the traced process. service is OTEL_SERVICE_NAME;
// empty means service.name from extra (OTEL_RESOURCE_ATTRIBUTES), else the
// executable's name. extra is added last, so it overrides detected
// attributes, except service.name when service is set.
func Resource(ctx context.Context, service string, extra []attribute.KeyValue, t *tracer.Target) (*resource.Resource, error) {
	exe := strings.TrimSuffix(t.Exe, " (deleted)")
	service = ServiceName(service, extra, t)
	attrs := []attribute.KeyValue{
		semconv.ProcessPID(int(t.PID)),
		semconv.ProcessExecutableName(filepath.Base(exe)),
		semconv.ProcessExecutablePath(exe),
		semconv.ProcessRuntimeName("rustc"),
		attribute.String("telemetry.distro.name", "rustscope"),
		attribute.String("telemetry.distro.version", tracer.Version),
	}
	if len(t.Cmdline) > 0 {
		attrs = append(attrs, semconv.ProcessCommandArgs(t.Cmdline...))
	}
	if t.Analysis != nil && t.Analysis.RustcVersion != "" {
		attrs = append(attrs, semconv.ProcessRuntimeVersion(t.Analysis.RustcVersion))
	}
	attrs = append(attrs, extra...)
	attrs = append(attrs, semconv.ServiceName(service))
	res, err := resource.New(ctx,
		resource.WithHost(),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
	)
	if err != nil {
		return nil, fmt.Errorf("build resource: %w", err)
	}
	return res, nil
}
