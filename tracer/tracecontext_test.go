package tracer

import (
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/propagation"
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
		if tc.traceparent != "" {
			h.Set("traceparent", tc.traceparent)
		}
		if tc.tracestate != "" {
			h.Set("tracestate", tc.tracestate)
		}
		sc := incoming(propagation.HeaderCarrier(h))
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
