package export

// The reference: how rustscope exported spans before, through SDK spans
// (a TracerProvider per process, its span limits and ID generator), and
// the test that the Pipeline sends the same OTLP messages and prints the
// same console lines.

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer"
)

// spanIDs hands the SDK the IDs the tracer gave a span, through the
// context of Start.
type spanIDs struct{}

type idsKey struct{}

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

// sdkStartContext is the context an SDK span of s started in: its own IDs
// and its parent.
func sdkStartContext(sampler sdktrace.Sampler, s *tracer.Span) context.Context {
	ctx := context.WithValue(context.Background(), idsKey{}, s.SpanContext)
	if !s.Parent.IsValid() {
		return ctx
	}
	parent := s.Parent
	if s.ParentRoot {
		r := sampler.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(),
			TraceID: parent.TraceID(), Kind: trace.SpanKindServer})
		parent = parent.WithTraceFlags(parent.TraceFlags().WithSampled(r.Decision == sdktrace.RecordAndSample))
	}
	if parent.IsRemote() {
		return trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	return trace.ContextWithSpanContext(ctx, parent)
}

// sdkExport exports spans the way rustscope did before, to exps.
func sdkExport(t *testing.T, cfg Config, targets []*tracer.Target, spans []tracer.Span, exps ...sdktrace.SpanExporter) {
	ctx := context.Background()
	sampler := cfg.Sampler
	if sampler == nil {
		sampler = sdktrace.AlwaysSample()
	}
	tps := map[uint32]*sdktrace.TracerProvider{}
	for _, tg := range targets {
		res, err := Resource(ctx, cfg.ServiceName, cfg.ResourceAttributes, tg)
		if err != nil {
			t.Fatal(err)
		}
		opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler),
			sdktrace.WithIDGenerator(spanIDs{})}
		for _, e := range exps {
			opts = append(opts, sdktrace.WithSyncer(e))
		}
		tps[tg.PID] = sdktrace.NewTracerProvider(opts...)
	}
	for _, s := range spans {
		tr := tps[s.PID].Tracer(s.Scope.Name, trace.WithInstrumentationVersion(s.Scope.Version))
		_, span := tr.Start(sdkStartContext(sampler, &s), s.Name,
			trace.WithTimestamp(s.Start), trace.WithSpanKind(s.Kind), trace.WithAttributes(s.Attrs...))
		if s.Error {
			span.SetStatus(codes.Error, s.StatusMessage)
		}
		span.End(trace.WithTimestamp(s.End))
	}
	for _, tp := range tps {
		tp.Shutdown(ctx)
	}
}

// captureClient is an OTLP client that keeps copies of what it is sent.
type captureClient struct {
	mu sync.Mutex
	rs []*tracepb.ResourceSpans
}

func (*captureClient) Start(context.Context) error { return nil }
func (*captureClient) Stop(context.Context) error  { return nil }
func (c *captureClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range rs {
		c.rs = append(c.rs, proto.Clone(r).(*tracepb.ResourceSpans))
	}
	return nil
}

// bySpan is every span sent, alone in a ResourceSpans with its resource
// and scope, by span ID.
func (c *captureClient) bySpan() map[string]*tracepb.ResourceSpans {
	out := map[string]*tracepb.ResourceSpans{}
	for _, rs := range c.rs {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				out[fmt.Sprintf("%x", s.SpanId)] = &tracepb.ResourceSpans{Resource: rs.Resource, SchemaUrl: rs.SchemaUrl,
					ScopeSpans: []*tracepb.ScopeSpans{{Scope: ss.Scope, SchemaUrl: ss.SchemaUrl, Spans: []*tracepb.Span{s}}}}
			}
		}
	}
	return out
}

// noStop is a shared exporter: providers' Shutdown leaves it open.
type noStop struct{ sdktrace.SpanExporter }

func (noStop) Shutdown(context.Context) error { return nil }

// decorating samples like ParentBased(AlwaysSample()), adds attributes
// and a trace state, and only records spans named "record-only".
type decorating struct{}

func (decorating) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	r := sdktrace.ParentBased(sdktrace.AlwaysSample()).ShouldSample(p)
	if p.Name == "record-only" && r.Decision == sdktrace.RecordAndSample {
		r.Decision = sdktrace.RecordOnly
	}
	r.Attributes = []attribute.KeyValue{attribute.String("sampler.note", "kept"), attribute.String("url.path", "/by-sampler")}
	r.Tracestate, _ = r.Tracestate.Insert("rs", "1")
	return r
}
func (decorating) Description() string { return "decorating" }

// goldenSpans covers what the tracer makes: roots, remote parents sampled
// or not (with a trace state), client calls under a local parent with or
// without a parent of its own, errors, scopes (one empty), kinds, and
// attributes the span limits act on.
func goldenSpans() []tracer.Span {
	var out []tracer.Span
	long := strings.Repeat("é", 40) + "\xff" + strings.Repeat("x", 40)
	for i := range 60 {
		pid := uint32(1 + i%2)
		s := serverSpan(pid, i)
		s.Start = time.Unix(1700000000, int64(i)*1e6).In(time.UTC)
		s.End = s.Start.Add(time.Duration(i+1) * time.Microsecond)
		ts, _ := trace.ParseTraceState("vendor=abc,other=1")
		switch i % 6 {
		case 1: // a sampled caller with a trace state
			s.Parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: randSC(0, false).TraceID(),
				SpanID: randSC(0, false).SpanID(), TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true})
		case 2: // a caller that did not sample
			s.Parent = randSC(0, true)
		case 3: // an error, in the wire scope
			s.Error, s.StatusMessage = true, "503"
			s.Scope = tracer.WireScope
		case 4: // no scope, no kind, attributes for the limits
			s.Scope, s.Kind, s.Name = tracer.Scope{}, 0, "record-only"
			s.Attrs = append(s.Attrs, attribute.String("url.path", "/again"), attribute.KeyValue{},
				attribute.String("long", long), attribute.String("bad", "ab\xff"+strings.Repeat("c", 40)), attribute.StringSlice("http.request.header.x", []string{long, "short"}),
				attribute.Bool("rustscope.capture.truncated", true), attribute.Float64("f", 1.5),
				attribute.Int64Slice("ints", []int64{1, 2}))
		}
		if s.Parent.IsValid() {
			s.SpanContext = trace.NewSpanContext(trace.SpanContextConfig{TraceID: s.Parent.TraceID(),
				SpanID: s.SpanContext.SpanID(), TraceFlags: s.Parent.TraceFlags(), TraceState: s.Parent.TraceState()})
		}
		// A client call its handler made, ending first.
		cl := s
		cl.Kind, cl.Name, cl.Scope = trace.SpanKindClient, "GET", tracer.Scope{Name: "reqwest", Version: "0.12.9"}
		cl.Parent, cl.ParentRoot = s.SpanContext, !s.Parent.IsValid()
		cl.SpanContext = trace.NewSpanContext(trace.SpanContextConfig{TraceID: s.SpanContext.TraceID(), SpanID: randSC(0, false).SpanID()})
		cl.Error, cl.StatusMessage = i%5 == 0, "404"
		cl.End = s.End.Add(-time.Nanosecond)
		out = append(out, cl, s)
	}
	return out
}

// TestPipelineMatchesSDK: for the same spans, the Pipeline sends the OTLP
// messages the SDK path sent (IDs, parents, flags, trace state, status,
// scope, resource, attributes after the span limits) and prints the same
// console lines, under several samplers and span limits.
func TestPipelineMatchesSDK(t *testing.T) {
	targets := []*tracer.Target{target(1), target(2)}
	for _, tc := range []struct {
		name    string
		sampler sdktrace.Sampler
		env     map[string]string
	}{
		{"default", nil, nil},
		{"parentbased_always_on", sdktrace.ParentBased(sdktrace.AlwaysSample()), nil},
		{"traceidratio", sdktrace.TraceIDRatioBased(0.5), nil},
		{"parentbased_always_off", sdktrace.ParentBased(sdktrace.NeverSample()), nil},
		{"decorating", decorating{}, nil},
		{"limits", decorating{}, map[string]string{"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "9",
			"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "30", "OTEL_RESOURCE_ATTRIBUTES": "from.env=1,team=env"}},
		{"value length", nil, map[string]string{"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "5"}},
		{"no attributes", nil, map[string]string{"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg := Config{Sampler: tc.sampler, ResourceAttributes: []attribute.KeyValue{attribute.String("team", "cfg")}}
			spans := goldenSpans()

			oldOTLP, newOTLP := &captureClient{}, &captureClient{}
			var oldOut, newOut bytes.Buffer
			oldStdout, _ := stdouttrace.New(stdouttrace.WithWriter(&oldOut))
			sdkExport(t, cfg, targets, spans, noStop{otlptrace.NewUnstarted(oldOTLP)}, noStop{oldStdout})

			newStdout, _ := stdouttrace.New(stdouttrace.WithWriter(&newOut))
			p := newPipeline(cfg, []string{"otlp", "console"}, []exporter{&otlpExporter{client: newOTLP}, sdkExporter{newStdout}})
			for _, tg := range targets {
				if err := p.Add(context.Background(), tg); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range spans {
				p.Export(s)
			}
			if err := p.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}

			want, got := oldOTLP.bySpan(), newOTLP.bySpan()
			oldLines, newLines := strings.Split(oldOut.String(), "\n"), strings.Split(newOut.String(), "\n")
			if len(want) == 0 && tc.name != "parentbased_always_off" {
				t.Fatal("the SDK path exported nothing")
			}
			if len(got) != len(want) {
				t.Errorf("%d spans sent, want %d", len(got), len(want))
			}
			for id, w := range want {
				if g := got[id]; !proto.Equal(g, w) {
					t.Fatalf("span %s:\n got %s\nwant %s", id, prototext.Format(g), prototext.Format(w))
				}
			}
			t.Logf("%d spans made, %d sent; %d console lines", len(spans), len(want), len(newLines)-1)
			if n := p.Exported(); n != uint64(2*len(want)) {
				t.Errorf("exported %d, want %d", n, 2*len(want))
			}
			slices.Sort(oldLines)
			slices.Sort(newLines)
			if !slices.Equal(oldLines, newLines) {
				for i := range min(len(oldLines), len(newLines)) {
					if oldLines[i] != newLines[i] {
						t.Fatalf("console line differs:\n got %s\nwant %s", newLines[i], oldLines[i])
					}
				}
				t.Fatalf("%d console lines, want %d", len(newLines), len(oldLines))
			}
		})
	}
}

// Every attribute value type converts as the OTLP exporter converts it.
func TestOTLPValues(t *testing.T) {
	kvs := []attribute.KeyValue{attribute.String("s", "v"), attribute.Int("i", -3), attribute.Bool("b", true),
		attribute.Float64("f", 0.25), attribute.StringSlice("ss", []string{"a", "b"}), attribute.BoolSlice("bs", []bool{true}),
		attribute.Int64Slice("is", []int64{7}), attribute.Float64Slice("fs", []float64{1}), attribute.ByteSlice("by", []byte("xy")),
		attribute.Slice("sl", attribute.StringValue("x"), attribute.IntValue(1)), attribute.Map("m", attribute.String("k", "v")),
		{Key: "empty"}}
	var a arena
	for _, kv := range kvs {
		got := a.keyValue(kv)
		var want *commonpb.KeyValue
		{
			// The reference: a span through the SDK path.
			c := &captureClient{}
			s := span(1, 0)
			s.Attrs = []attribute.KeyValue{kv}
			s.SpanContext = randSC(0, false)
			sdkExport(t, Config{}, []*tracer.Target{target(1)}, []tracer.Span{s}, otlptrace.NewUnstarted(c))
			if attrs := c.rs[0].ScopeSpans[0].Spans[0].Attributes; len(attrs) == 1 {
				want = attrs[0]
			}
		}
		if !proto.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", kv.Key, got, want)
		}
	}
}
