package export

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"sync"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/credentials"

	"github.com/rustscope/rustscope/tracer"
)

// newOTLP starts the OTLP client cfg names. The clients are the SDK
// exporters' own: they read the OTEL_EXPORTER_OTLP_* environment and
// retry with backoff; cfg's explicit settings are options.
func newOTLP(ctx context.Context, cfg Config) (*otlpExporter, error) {
	var client otlptrace.Client
	if cfg.Protocol == ProtocolHTTP {
		opts, err := otlpOptions(cfg, cfg.EndpointURL, otlptracehttp.WithEndpointURL, otlptracehttp.WithHeaders,
			otlptracehttp.WithInsecure, otlptracehttp.WithTLSClientConfig)
		if err != nil {
			return nil, err
		}
		client = otlptracehttp.NewClient(opts...)
	} else {
		opts, err := otlpOptions(cfg, cfg.EndpointURL, otlptracegrpc.WithEndpointURL, otlptracegrpc.WithHeaders,
			otlptracegrpc.WithInsecure, func(tc *tls.Config) otlptracegrpc.Option {
				return otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tc))
			})
		if err != nil {
			return nil, err
		}
		client = otlptracegrpc.NewClient(append(opts, otlptracegrpc.WithDialOption(reconnectPolicy))...)
	}
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("start otlp client: %w", err)
	}
	return &otlpExporter{client: client}, nil
}

// otlpExporter sends each batch as one OTLP request built straight from
// the spans. Its messages come from an arena reused from request to
// request: the client has marshalled them when UploadTraces returns, and
// the flusher sends one batch at a time.
type otlpExporter struct {
	client otlptrace.Client
	a      arena
	stop   sync.Once
}

func (e *otlpExporter) export(ctx context.Context, pr *proc, spans []spanData) error {
	rs := e.a.resourceSpans(pr, spans)
	err := e.client.UploadTraces(ctx, []*tracepb.ResourceSpans{rs})
	e.a.reset()
	if err != nil {
		return fmt.Errorf("export traces: %w", err)
	}
	return nil
}

func (e *otlpExporter) shutdown(ctx context.Context) error {
	err := error(nil)
	e.stop.Do(func() { err = e.client.Stop(ctx) })
	return err
}

// arena hands out the messages of one request (what the OTLP exporter's
// tracetransform package allocated one by one), from slabs reused after
// reset.
type arena struct {
	spans    slab[tracepb.Span]
	spanPtrs slab[*tracepb.Span]
	statuses slab[tracepb.Status]
	ids      slab[byte]
	kvs      slab[commonpb.KeyValue]
	kvPtrs   slab[*commonpb.KeyValue]
	vals     slab[commonpb.AnyValue]
	strs     slab[commonpb.AnyValue_StringValue]
	ints     slab[commonpb.AnyValue_IntValue]
	scopes   []tracer.Scope // of the request being built
}

func (a *arena) reset() {
	a.spans.reset()
	a.spanPtrs.reset()
	a.statuses.reset()
	a.ids.reset()
	a.kvs.reset()
	a.kvPtrs.reset()
	a.vals.reset()
	a.strs.reset()
	a.ints.reset()
}

// resourceSpans is spans of pr as one ResourceSpans, one ScopeSpans per
// instrumentation scope in the order they first come.
func (a *arena) resourceSpans(pr *proc, spans []spanData) *tracepb.ResourceSpans {
	a.scopes = a.scopes[:0]
	var counts []int
	for i := range spans {
		k := scopeIndex(a.scopes, spans[i].s.Scope)
		if k < 0 {
			k = len(a.scopes)
			a.scopes = append(a.scopes, spans[i].s.Scope)
			counts = append(counts, 0)
		}
		counts[k]++
	}
	rs := &tracepb.ResourceSpans{Resource: pr.resPB, SchemaUrl: pr.res.SchemaURL(),
		ScopeSpans: make([]*tracepb.ScopeSpans, len(a.scopes))}
	for k, sc := range a.scopes {
		is := scope(sc)
		rs.ScopeSpans[k] = &tracepb.ScopeSpans{Scope: &commonpb.InstrumentationScope{Name: is.Name, Version: is.Version},
			Spans: a.spanPtrs.take(counts[k])[:0]}
	}
	for i := range spans {
		ss := rs.ScopeSpans[scopeIndex(a.scopes, spans[i].s.Scope)]
		ss.Spans = append(ss.Spans, a.span(&spans[i]))
	}
	return rs
}

func scopeIndex(scopes []tracer.Scope, s tracer.Scope) int {
	for i := range scopes {
		if scopes[i] == s {
			return i
		}
	}
	return -1
}

// span is d as OTLP has it (tracetransform's conversion of the SDK span).
func (a *arena) span(d *spanData) *tracepb.Span {
	s := d.s
	out := a.spans.one()
	tid, sid := d.sc.TraceID(), d.sc.SpanID()
	out.TraceId = a.bytes(tid[:])
	out.SpanId = a.bytes(sid[:])
	out.TraceState = d.sc.TraceState().String()
	if psid := d.parent.SpanID(); psid.IsValid() {
		out.ParentSpanId = a.bytes(psid[:])
	}
	// The low 8 bits are the W3C trace flags; the others say whether the
	// parent is remote, and that this is known.
	out.Flags = uint32(d.sc.TraceFlags()) | uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK)
	if d.parent.IsRemote() {
		out.Flags |= uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK)
	}
	out.Name = s.Name
	out.Kind = spanKind(trace.ValidateSpanKind(s.Kind))
	out.StartTimeUnixNano = uint64(max(0, s.Start.UnixNano()))
	out.EndTimeUnixNano = uint64(max(0, s.End.UnixNano()))
	if len(d.attrs) > 0 {
		out.Attributes = a.kvPtrs.take(len(d.attrs))
		for i, kv := range d.attrs {
			out.Attributes[i] = a.keyValue(kv)
		}
	}
	out.DroppedAttributesCount = uint32(min(d.dropped, math.MaxUint32))
	out.Status = a.statuses.one()
	if s.Error {
		out.Status.Code, out.Status.Message = tracepb.Status_STATUS_CODE_ERROR, s.StatusMessage
	}
	return out
}

func spanKind(k trace.SpanKind) tracepb.Span_SpanKind {
	switch k {
	case trace.SpanKindInternal:
		return tracepb.Span_SPAN_KIND_INTERNAL
	case trace.SpanKindServer:
		return tracepb.Span_SPAN_KIND_SERVER
	case trace.SpanKindClient:
		return tracepb.Span_SPAN_KIND_CLIENT
	case trace.SpanKindProducer:
		return tracepb.Span_SPAN_KIND_PRODUCER
	case trace.SpanKindConsumer:
		return tracepb.Span_SPAN_KIND_CONSUMER
	}
	return tracepb.Span_SPAN_KIND_UNSPECIFIED
}

func (a *arena) bytes(b []byte) []byte {
	out := a.ids.take(len(b))
	copy(out, b)
	return out
}

func (a *arena) keyValue(kv attribute.KeyValue) *commonpb.KeyValue {
	out := a.kvs.one()
	out.Key = string(kv.Key)
	out.Value = a.value(kv.Value)
	return out
}

// value is v as an OTLP AnyValue. Strings and integers, nearly every
// attribute, come from the slabs; the rest is allocated.
func (a *arena) value(v attribute.Value) *commonpb.AnyValue {
	out := a.vals.one()
	switch v.Type() {
	case attribute.STRING:
		sv := a.strs.one()
		sv.StringValue = v.AsString()
		out.Value = sv
	case attribute.INT64:
		iv := a.ints.one()
		iv.IntValue = v.AsInt64()
		out.Value = iv
	case attribute.BOOL:
		out.Value = &commonpb.AnyValue_BoolValue{BoolValue: v.AsBool()}
	case attribute.FLOAT64:
		out.Value = &commonpb.AnyValue_DoubleValue{DoubleValue: v.AsFloat64()}
	case attribute.BYTESLICE:
		out.Value = &commonpb.AnyValue_BytesValue{BytesValue: v.AsByteSlice()}
	case attribute.BOOLSLICE:
		out.Value = array(a, v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		out.Value = array(a, v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		out.Value = array(a, v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		out.Value = array(a, v.AsStringSlice(), attribute.StringValue)
	case attribute.SLICE:
		out.Value = array(a, v.AsSlice(), func(v attribute.Value) attribute.Value { return v })
	case attribute.MAP:
		kvs := v.AsMap()
		list := &commonpb.KeyValueList{Values: make([]*commonpb.KeyValue, len(kvs))}
		for i, kv := range kvs {
			list.Values[i] = a.keyValue(kv)
		}
		out.Value = &commonpb.AnyValue_KvlistValue{KvlistValue: list}
	case attribute.EMPTY:
	default:
		out.Value = &commonpb.AnyValue_StringValue{StringValue: "INVALID"}
	}
	return out
}

func array[T any](a *arena, vs []T, value func(T) attribute.Value) *commonpb.AnyValue_ArrayValue {
	arr := &commonpb.ArrayValue{Values: make([]*commonpb.AnyValue, len(vs))}
	for i, v := range vs {
		arr.Values[i] = a.value(value(v))
	}
	return &commonpb.AnyValue_ArrayValue{ArrayValue: arr}
}

// slab hands out Ts from chunks that reset makes available again (zeroed:
// a proto message's zero value is a new message).
type slab[T any] struct {
	chunks [][]T
	c, i   int // the chunk in use, and its next free element
}

// take returns n contiguous Ts, nil for none.
func (s *slab[T]) take(n int) []T {
	if n == 0 {
		return nil
	}
	for {
		if s.c == len(s.chunks) {
			size := 16
			if s.c > 0 {
				size = min(2*len(s.chunks[s.c-1]), 4096)
			}
			s.chunks = append(s.chunks, make([]T, max(size, n)))
		}
		if ch := s.chunks[s.c]; s.i+n <= len(ch) {
			s.i += n
			return ch[s.i-n : s.i : s.i]
		}
		s.c, s.i = s.c+1, 0
	}
}

func (s *slab[T]) one() *T { return &s.take(1)[0] }

func (s *slab[T]) reset() {
	for _, ch := range s.chunks[:min(s.c+1, len(s.chunks))] {
		clear(ch)
	}
	s.c, s.i = 0, 0
}
