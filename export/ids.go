package export

import (
	"context"
	crand "crypto/rand"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer"
)

// The tracer gives every span its IDs when it makes it (a client call's
// span names its server span as parent before either is exported), so the
// SDK must use those IDs rather than draw its own: spanIDs hands them to
// the SDK through the context of Start.
type spanIDs struct{}

type idsKey struct{}

func withIDs(ctx context.Context, sc trace.SpanContext) context.Context {
	return context.WithValue(ctx, idsKey{}, sc)
}

func (spanIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if sc, ok := ctx.Value(idsKey{}).(trace.SpanContext); ok && sc.IsValid() {
		return sc.TraceID(), sc.SpanID()
	}
	var t trace.TraceID
	var s trace.SpanID
	crand.Read(t[:])
	crand.Read(s[:])
	return t, s
}

func (spanIDs) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	if sc, ok := ctx.Value(idsKey{}).(trace.SpanContext); ok && sc.SpanID().IsValid() {
		return sc.SpanID()
	}
	var s trace.SpanID
	crand.Read(s[:])
	return s
}

var _ sdktrace.IDGenerator = spanIDs{}

// startContext is the context a span starts in: its own IDs and its
// parent. A local parent without a parent of its own carries no sampling
// decision yet (it is exported after its children); the root sampler's
// decision on the trace ID is the one the parent gets too.
func (p *Pipeline) startContext(s *tracer.Span) context.Context {
	ctx := withIDs(context.Background(), s.SpanContext)
	if !s.Parent.IsValid() {
		return ctx
	}
	parent := s.Parent
	if s.ParentRoot {
		r := p.sampler.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(),
			TraceID: parent.TraceID(), Kind: trace.SpanKindServer})
		parent = parent.WithTraceFlags(parent.TraceFlags().WithSampled(r.Decision == sdktrace.RecordAndSample))
	}
	if parent.IsRemote() {
		return trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	return trace.ContextWithSpanContext(ctx, parent)
}
