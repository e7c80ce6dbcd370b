package tracer

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer/http1"
)

// w3c reads traceparent and tracestate (W3C Trace Context) from request
// headers and gRPC metadata alike: both arrive as header fields.
var w3c = propagation.TraceContext{}

// incoming returns the caller's span context carried by h (remote), or an
// invalid one when h has no valid traceparent.
func incoming(h propagation.TextMapCarrier) trace.SpanContext {
	if h.Get("traceparent") == "" {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(w3c.Extract(context.Background(), h))
}

// h1Carrier hands an HTTP/1 head's fields to the W3C propagator, which
// only calls Get when it extracts. A pointer, so that making one
// allocates nothing.
type h1Carrier http1.Header

// Get copies tracestate: the span context keeps its members, and as
// substrings of the head they would keep all of it.
func (h *h1Carrier) Get(name string) string {
	v := (*http1.Header)(h).Get(name)
	if name == "tracestate" {
		return strings.Clone(v)
	}
	return v
}

func (h *h1Carrier) Set(string, string) {}
func (h *h1Carrier) Keys() []string     { return nil }

// newSpanContext gives a span its own IDs: a new span ID in the parent's
// trace, or a new trace when there is no parent. The sampled flag and the
// trace state follow the parent; a root's sampling is decided at export.
func newSpanContext(parent trace.SpanContext) trace.SpanContext {
	cfg := trace.SpanContextConfig{SpanID: newSpanID()}
	if parent.IsValid() {
		cfg.TraceID, cfg.TraceFlags, cfg.TraceState = parent.TraceID(), parent.TraceFlags(), parent.TraceState()
	} else {
		cfg.TraceID = newTraceID()
	}
	return trace.NewSpanContext(cfg)
}

func newTraceID() (id trace.TraceID) {
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:8], rand.Uint64())
		binary.BigEndian.PutUint64(id[8:], rand.Uint64())
	}
	return id
}

func newSpanID() (id trace.SpanID) {
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:], rand.Uint64())
	}
	return id
}

// serverIDs gives a server request its parent, from the request headers,
// and its own span context.
func serverIDs(h propagation.TextMapCarrier) serverCtx {
	parent := incoming(h)
	return serverCtx{self: newSpanContext(parent), parent: parent}
}
