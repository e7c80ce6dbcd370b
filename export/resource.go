package export

import (
	"context"
	"fmt"
	"path/filepath"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/rustscope/rustscope/tracer"
)

// Resource describes the traced process. service is OTEL_SERVICE_NAME;
// empty means the executable's name.
func Resource(ctx context.Context, service string, t *tracer.Target) (*resource.Resource, error) {
	if service == "" {
		service = filepath.Base(t.Exe)
	}
	attrs := []attribute.KeyValue{
		semconv.ServiceName(service),
		semconv.ProcessPID(int(t.PID)),
		semconv.ProcessExecutableName(filepath.Base(t.Exe)),
		semconv.ProcessExecutablePath(t.Exe),
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
	res, err := resource.New(ctx,
		resource.WithAttributes(attrs...),
		resource.WithHost(),
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, fmt.Errorf("build resource: %w", err)
	}
	return res, nil
}
