// Package export hands tracer spans to OpenTelemetry SDK exporters.
//
// Each tracer.Span becomes an SDK span with the start and end times the
// tracer measured, so every exporter the SDK offers (stdout now, OTLP
// later) sees the same data.
package export

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer"
)

// Exporter turns tracer spans into SDK spans and ships them.
type Exporter struct {
	tp      *sdktrace.TracerProvider
	mu      sync.Mutex
	tracers map[tracer.Scope]trace.Tracer
}

// NewStdout writes spans to w with the SDK's stdout exporter: one JSON
// object per span and line.
func NewStdout(w io.Writer, res *resource.Resource) (*Exporter, error) {
	exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
	if err != nil {
		return nil, fmt.Errorf("create stdout exporter: %w", err)
	}
	return newExporter(exp, res), nil
}

func newExporter(exp sdktrace.SpanExporter, res *resource.Resource) *Exporter {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(500*time.Millisecond)),
	)
	return &Exporter{tp: tp, tracers: map[tracer.Scope]trace.Tracer{}}
}

// Export queues s. It never blocks on the exporter: the SDK's batch queue
// drops when full.
func (e *Exporter) Export(s tracer.Span) {
	tr := e.tracer(s.Scope)
	_, span := tr.Start(context.Background(), s.Name,
		trace.WithTimestamp(s.Start),
		trace.WithSpanKind(s.Kind),
		trace.WithAttributes(s.Attrs...),
	)
	if s.Error {
		span.SetStatus(codes.Error, s.StatusMessage)
	}
	span.End(trace.WithTimestamp(s.End))
}

func (e *Exporter) tracer(sc tracer.Scope) trace.Tracer {
	e.mu.Lock()
	defer e.mu.Unlock()
	tr, ok := e.tracers[sc]
	if !ok {
		tr = e.tp.Tracer(sc.Name, trace.WithInstrumentationVersion(sc.Version))
		e.tracers[sc] = tr
	}
	return tr
}

// Shutdown flushes queued spans and stops the exporter.
func (e *Exporter) Shutdown(ctx context.Context) error {
	if err := e.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down exporter: %w", err)
	}
	return nil
}
