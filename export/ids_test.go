package export

import (
	"context"
	"math/rand/v2"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer"
)

func randSC(flags trace.TraceFlags, remote bool) trace.SpanContext {
	var tid trace.TraceID
	var sid trace.SpanID
	for i := range tid {
		tid[i] = byte(rand.Uint32())
	}
	for i := range sid {
		sid[i] = byte(rand.Uint32())
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: remote})
}

// Spans keep the IDs the tracer gave them; a server span joins its
// caller's trace; a client span made by a handler is its server span's
// child; parent and child are sampled together under every sampler, the
// child being exported first.
func TestPipelineTraceContext(t *testing.T) {
	// The samplers OTEL_TRACES_SAMPLER (and _ARG) name.
	for _, tc := range []struct {
		sampler, arg string
		s            sdktrace.Sampler
	}{
		{"", "", sdktrace.ParentBased(sdktrace.AlwaysSample())},
		{"parentbased_traceidratio", "0.5", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.5))},
		{"traceidratio", "0.5", sdktrace.TraceIDRatioBased(0.5)},
		{"always_off", "", sdktrace.NeverSample()},
	} {
		sampler := tc.s
		mem := newMem()
		p := newPipeline(Config{Sampler: sampler}, []string{"mem"}, []exporter{sdkExporter{mem}})
		if err := p.Add(context.Background(), target(7)); err != nil {
			t.Fatal(err)
		}
		type pair struct {
			server, client tracer.Span
			caller         trace.SpanContext
		}
		var pairs []pair
		for i := range 300 {
			srv := span(7, i)
			switch i % 3 {
			case 1: // a sampled caller
				srv.Parent = randSC(trace.FlagsSampled, true)
			case 2: // a caller that did not sample
				srv.Parent = randSC(0, true)
			}
			if srv.Parent.IsValid() {
				srv.SpanContext = trace.NewSpanContext(trace.SpanContextConfig{TraceID: srv.Parent.TraceID(),
					SpanID: randSC(0, false).SpanID(), TraceFlags: srv.Parent.TraceFlags()})
			} else {
				srv.SpanContext = randSC(0, false)
			}
			cl := span(7, i)
			cl.Kind = trace.SpanKindClient
			cl.Parent, cl.ParentRoot = srv.SpanContext, !srv.Parent.IsValid()
			cl.SpanContext = trace.NewSpanContext(trace.SpanContextConfig{TraceID: srv.SpanContext.TraceID(), SpanID: randSC(0, false).SpanID()})
			pairs = append(pairs, pair{srv, cl, srv.Parent})
			p.Export(cl) // children end first
			p.Export(srv)
		}
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := map[trace.SpanID]sdktrace.ReadOnlySpan{}
		for _, s := range mem.GetSpans() {
			got[s.SpanContext.SpanID()] = s.Snapshot()
		}
		kept := 0
		for _, pr := range pairs {
			srv, okS := got[pr.server.SpanContext.SpanID()]
			cl, okC := got[pr.client.SpanContext.SpanID()]
			if okS != okC {
				t.Fatalf("%s: server kept %v, its client call kept %v", tc.sampler, okS, okC)
			}
			if pr.caller.IsValid() && tc.sampler != "traceidratio" && tc.sampler != "always_off" && okS != pr.caller.IsSampled() {
				t.Fatalf("%s: server kept %v, caller sampled %v", tc.sampler, okS, pr.caller.IsSampled())
			}
			if !okS {
				continue
			}
			kept++
			if srv.SpanContext().TraceID() != pr.server.SpanContext.TraceID() || pr.caller.IsValid() && srv.Parent().SpanID() != pr.caller.SpanID() {
				t.Fatalf("%s: server span %v parent %v; want trace %v parent %v", tc.sampler, srv.SpanContext(), srv.Parent(), pr.server.SpanContext.TraceID(), pr.caller)
			}
			if pr.caller.IsValid() != srv.Parent().IsValid() || pr.caller.IsValid() && !srv.Parent().IsRemote() {
				t.Fatalf("%s: server parent %v, want remote %v", tc.sampler, srv.Parent(), pr.caller)
			}
			if cl.SpanContext().TraceID() != srv.SpanContext().TraceID() || cl.Parent().SpanID() != srv.SpanContext().SpanID() || cl.Parent().IsRemote() {
				t.Fatalf("%s: client %v parent %v; want the server %v", tc.sampler, cl.SpanContext(), cl.Parent(), srv.SpanContext())
			}
		}
		t.Logf("%s %s: %d of %d pairs kept", tc.sampler, tc.arg, kept, len(pairs))
		if (tc.sampler == "always_off") != (kept == 0) || kept == len(pairs) && tc.arg != "" {
			t.Errorf("%s %s: %d of %d kept", tc.sampler, tc.arg, kept, len(pairs))
		}
	}
}
