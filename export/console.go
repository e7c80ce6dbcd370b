package export

import (
	"context"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer"
)

// sdkExporter hands spans to an SDK span exporter (the stdout one) as the
// read-only spans the SDK made of them before, so that what it prints is
// unchanged. Building them costs allocations, but the console is for
// people to read, not for 5,000 spans a second.
type sdkExporter struct{ sdktrace.SpanExporter }

func (e sdkExporter) export(ctx context.Context, pr *proc, spans []spanData) error {
	ro := make([]sdktrace.ReadOnlySpan, len(spans))
	for i := range spans {
		ro[i] = spans[i].stub(pr.res).Snapshot()
	}
	return e.ExportSpans(ctx, ro)
}

func (e sdkExporter) shutdown(ctx context.Context) error { return e.Shutdown(ctx) }

// stub is d as the SDK's snapshot of an ended span.
func (d *spanData) stub(res *resource.Resource) tracetest.SpanStub {
	s := d.s
	var st sdktrace.Status
	if s.Error {
		st = sdktrace.Status{Code: codes.Error, Description: s.StatusMessage}
	}
	return tracetest.SpanStub{
		Name:                 s.Name,
		SpanContext:          d.sc,
		Parent:               d.parent,
		SpanKind:             trace.ValidateSpanKind(s.Kind),
		StartTime:            s.Start,
		EndTime:              s.End,
		Attributes:           d.attrs,
		Status:               st,
		DroppedAttributes:    d.dropped,
		Resource:             res,
		InstrumentationScope: scope(s.Scope),
	}
}

// defaultScopeName is the SDK's name for a tracer asked for without one.
const defaultScopeName = "go.opentelemetry.io/otel/sdk/tracer"

// scope is the instrumentation scope of a span of s.
func scope(s tracer.Scope) instrumentation.Scope {
	if s.Name == "" {
		s.Name = defaultScopeName
	}
	return instrumentation.Scope{Name: s.Name, Version: s.Version}
}
