package export

import (
	"context"
	crand "crypto/rand"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer"
)

// identify gives s what the SDK gave it when rustscope started SDK spans:
// its span context (the tracer's IDs, flags and trace state from the
// sampler's decision), its parent, and that decision.
//
// The tracer gives every span its IDs when it makes it (a client call's
// span names its server span as parent before either is exported), so
// those IDs are kept; the parent's trace ID wins when there is a parent,
// and random ones stand in for IDs the tracer did not give, as the SDK's
// ID generator did.
//
// A local parent without a parent of its own carries no sampling decision
// yet (it is exported after its children); the root sampler's decision on
// the trace ID is the one the parent gets too.
func (p *Pipeline) identify(s *tracer.Span) (sc, parent trace.SpanContext, r sdktrace.SamplingResult) {
	ctx := context.Background()
	if s.Parent.IsValid() {
		parent = s.Parent
		if s.ParentRoot {
			root := p.sampler.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(),
				TraceID: parent.TraceID(), Kind: trace.SpanKindServer})
			parent = parent.WithTraceFlags(parent.TraceFlags().WithSampled(root.Decision == sdktrace.RecordAndSample))
		}
		if parent.IsRemote() {
			ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
		} else {
			ctx = trace.ContextWithSpanContext(ctx, parent)
		}
	}
	tid, sid := s.SpanContext.TraceID(), s.SpanContext.SpanID()
	switch {
	case parent.IsValid():
		tid = parent.TraceID()
		if !sid.IsValid() {
			crand.Read(sid[:])
		}
	case !s.SpanContext.IsValid():
		crand.Read(tid[:])
		crand.Read(sid[:])
	}
	r = p.sampler.ShouldSample(sdktrace.SamplingParameters{ParentContext: ctx, TraceID: tid, Name: s.Name,
		Kind: s.Kind, Attributes: s.Attrs})
	flags := parent.TraceFlags().WithSampled(r.Decision == sdktrace.RecordAndSample)
	sc = trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, TraceState: r.Tracestate})
	return sc, parent, r
}
