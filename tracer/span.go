package tracer

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Span is one finished request as the tracer saw it: the unit every
// consumer (UI, exporters) receives. Attributes follow the OpenTelemetry
// semantic conventions.
type Span struct {
	Name  string
	Kind  trace.SpanKind
	Start time.Time
	End   time.Time
	PID   uint32
	Attrs []attribute.KeyValue
	// Error marks a failed request (5xx on a server, 4xx/5xx on a client);
	// StatusMessage says why.
	Error         bool
	StatusMessage string
	// Scope names what produced the span: the instrumented crate and its
	// version when a library probe saw the request, else the wire layer.
	Scope Scope
	// Measures says what Start and End bracket, for the reader of a duration.
	Measures string

	// SpanContext is the span's own trace and span ID, given when the span
	// is made so that the spans of calls it made can name it as parent.
	SpanContext trace.SpanContext
	// Parent is the caller's span from a W3C traceparent header (remote),
	// or for a client call the server span whose handler made it (local).
	// Invalid for a root span.
	Parent trace.SpanContext
	// ParentRoot says Parent is a local span with no parent of its own: its
	// sampling decision is the root sampler's on the trace ID.
	ParentRoot bool
}

// Parented reports whether the span has a parent.
func (s *Span) Parented() bool { return s.Parent.IsValid() }

// Scope is the instrumentation scope of a span.
type Scope struct {
	Name    string
	Version string
}

// Duration is End - Start.
func (s *Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Attr returns the value of the attribute with key k.
func (s *Span) Attr(k attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attrs {
		if kv.Key == k {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}
