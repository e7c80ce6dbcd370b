package tracer

import (
	"net/http"
	"testing"
	"unsafe"

	"go.opentelemetry.io/otel/propagation"

	"github.com/rustscope/rustscope/tracer/http1"
)

func TestIncoming(t *testing.T) {
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, tc := range []struct {
		traceparent, tracestate string
		valid, sampled          bool
	}{
		{"00-" + tid + "-" + sid + "-01", "congo=t61rcWkgMzE", true, true},
		{"00-" + tid + "-" + sid + "-00", "", true, false},
		{"01-" + tid + "-" + sid + "-01-future", "", true, true}, // a later version may append fields
		{"ff-" + tid + "-" + sid + "-01", "", false, false},
		{"00-00000000000000000000000000000000-" + sid + "-01", "", false, false},
		{"00-" + tid + "-0000000000000000-01", "", false, false},
		{"00-" + tid[:30] + "-" + sid + "-01", "", false, false},
		{"00-" + tid + "-" + sid + "-01-extra", "", false, false},
		{"", "", false, false},
	} {
		h := http.Header{}
		var h1 http1.Header // the same fields as an HTTP/1 head has them
		if tc.traceparent != "" {
			h.Set("traceparent", tc.traceparent)
			h1 = append(h1, http1.Field{Name: "Traceparent", Value: tc.traceparent})
		}
		if tc.tracestate != "" {
			h.Set("tracestate", tc.tracestate)
			h1 = append(h1, http1.Field{Name: "tracestate", Value: tc.tracestate})
		}
		sc := incoming(propagation.HeaderCarrier(h))
		if sc1 := incoming((*h1Carrier)(&h1)); !sc1.Equal(sc) || sc1.IsRemote() != sc.IsRemote() {
			t.Errorf("traceparent %q: HTTP/1 fields give %v, http.Header %v", tc.traceparent, sc1, sc)
		}
		if sc.IsValid() != tc.valid || sc.IsSampled() != tc.sampled || tc.valid && (!sc.IsRemote() || sc.TraceID().String() != tid || sc.SpanID().String() != sid) {
			t.Errorf("traceparent %q: got %v (remote %v)", tc.traceparent, sc, sc.IsRemote())
		}
		if tc.valid && sc.TraceState().String() != tc.tracestate {
			t.Errorf("tracestate %q: got %q", tc.tracestate, sc.TraceState())
		}
		own := newSpanContext(sc)
		if !own.IsValid() || own.IsRemote() || tc.valid && (own.TraceID() != sc.TraceID() || own.SpanID() == sc.SpanID() || own.IsSampled() != sc.IsSampled()) {
			t.Errorf("traceparent %q: own span context %v", tc.traceparent, own)
		}
	}
}

// An HTTP/1 span's trace state is a copy: its members are kept as long as
// the span, and substrings of the head would keep all of it.
func TestH1CarrierCopiesTraceState(t *testing.T) {
	head := "Tracestate: congo=t61rcWkgMzE\r\n"
	h := http1.Header{{Name: head[:10], Value: head[12:29]}}
	st := (*h1Carrier)(&h).Get("tracestate")
	if st != "congo=t61rcWkgMzE" || unsafe.StringData(st) == unsafe.StringData(h[0].Value) {
		t.Errorf("tracestate %q, a copy: %v", st, unsafe.StringData(st) != unsafe.StringData(h[0].Value))
	}
}
