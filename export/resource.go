package export

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"go.opentelemetry.io/otel"
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

// spanResource is res as spans carry it: the SDK's TracerProvider merged
// it over resource.Environment() (OTEL_RESOURCE_ATTRIBUTES,
// OTEL_SERVICE_NAME), and spans keep that resource.
func spanResource(res *resource.Resource) *resource.Resource {
	merged, err := resource.Merge(resource.Environment(), res)
	if err != nil {
		otel.Handle(err)
	}
	return merged
}

// resourceProto is res for OTLP requests.
func resourceProto(res *resource.Resource) *resourcepb.Resource {
	var a arena // its own: never reset, the resource keeps what it hands out
	kvs := res.Attributes()
	out := &resourcepb.Resource{Attributes: a.kvPtrs.take(len(kvs))}
	for i, kv := range kvs {
		out.Attributes[i] = a.keyValue(kv)
	}
	return out
}
