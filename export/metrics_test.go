package export

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer"
)

// TestREDMetrics: server and client spans become the semantic conventions'
// duration histograms with their bucket boundaries and bounded attributes.
func TestREDMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	r, err := newRED(resource.Empty(), reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mk := func(kind trace.SpanKind, d time.Duration, code int, extra ...attribute.KeyValue) tracer.Span {
		attrs := append([]attribute.KeyValue{attribute.String("http.request.method", "GET"),
			attribute.Int("http.response.status_code", code), attribute.String("url.path", "/users/1"),
			attribute.Int("client.port", 5555), attribute.String("server.address", "db"), attribute.Int("server.port", 80)}, extra...)
		return tracer.Span{Kind: kind, Start: now, End: now.Add(d), Attrs: attrs}
	}
	for range 3 {
		s := mk(trace.SpanKindServer, 20*time.Millisecond, 200)
		r.record(&s)
	}
	s := mk(trace.SpanKindServer, 2*time.Second, 500, attribute.String("error.type", "500"))
	r.record(&s)
	c := mk(trace.SpanKindClient, 30*time.Millisecond, 200)
	r.record(&c)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]metricdata.Histogram[float64]{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Unit != "s" {
				t.Errorf("%s: unit %q", m.Name, m.Unit)
			}
			got[m.Name] = m.Data.(metricdata.Histogram[float64])
		}
	}
	srv, ok := got["http.server.request.duration"]
	if !ok || len(srv.DataPoints) != 2 {
		t.Fatalf("server histogram: %+v", got)
	}
	for _, dp := range srv.DataPoints {
		if !slices.Equal(dp.Bounds, durationBuckets) {
			t.Errorf("bounds %v", dp.Bounds)
		}
		if _, ok := dp.Attributes.Value("url.path"); ok {
			t.Errorf("url.path kept: %v", dp.Attributes.ToSlice())
		}
		if _, ok := dp.Attributes.Value("server.address"); ok {
			t.Errorf("server.address on a server metric: %v", dp.Attributes.ToSlice())
		}
		code, _ := dp.Attributes.Value("http.response.status_code")
		switch code.AsInt64() {
		case 200:
			if dp.Count != 3 {
				t.Errorf("200: count %d", dp.Count)
			}
		case 500:
			if et, _ := dp.Attributes.Value("error.type"); dp.Count != 1 || et.AsString() != "500" || dp.Sum != 2 {
				t.Errorf("500: count %d sum %v error.type %q", dp.Count, dp.Sum, et.AsString())
			}
		}
	}
	cl, ok := got["http.client.request.duration"]
	if !ok || len(cl.DataPoints) != 1 || cl.DataPoints[0].Count != 1 {
		t.Fatalf("client histogram: %+v", cl)
	}
	if v, _ := cl.DataPoints[0].Attributes.Value("server.address"); v.AsString() != "db" {
		t.Errorf("client metric without server.address: %v", cl.DataPoints[0].Attributes.ToSlice())
	}
}

// TestREDSeriesCache: the cached attribute sets give the series that
// building a set per span gave, whatever the order of a span's attributes
// or repeated keys.
func TestREDSeriesCache(t *testing.T) {
	get := attribute.String("http.request.method", "GET")
	post := attribute.String("http.request.method", "POST")
	ok := attribute.Int("http.response.status_code", 200)
	route := attribute.String("http.route", "/users/:id")
	tests := []struct {
		name  string
		spans [][]attribute.KeyValue
		want  map[string]uint64 // series (its attributes' encoding) -> count
	}{
		{"same series", [][]attribute.KeyValue{{get, ok}, {get, ok}},
			map[string]uint64{"http.request.method=GET,http.response.status_code=200": 2}},
		{"order differs", [][]attribute.KeyValue{{get, ok, route}, {route, ok, get}},
			map[string]uint64{"http.request.method=GET,http.response.status_code=200,http.route=/users/:id": 2}},
		{"two series", [][]attribute.KeyValue{{get, ok}, {post, ok}, {get, ok}},
			map[string]uint64{"http.request.method=GET,http.response.status_code=200": 2, "http.request.method=POST,http.response.status_code=200": 1}},
		{"repeated key: the last value", [][]attribute.KeyValue{{get, post, ok}, {post, ok}},
			map[string]uint64{"http.request.method=POST,http.response.status_code=200": 2}},
		{"a key repeated past the key's slots", [][]attribute.KeyValue{{get, get, get, get, get, get, get, get, post, ok}, {post, ok}},
			map[string]uint64{"http.request.method=POST,http.response.status_code=200": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reader := sdkmetric.NewManualReader()
			r, err := newRED(resource.Empty(), reader)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			for _, attrs := range tt.spans {
				s := tracer.Span{Kind: trace.SpanKindServer, Start: now, End: now.Add(time.Millisecond), Attrs: attrs}
				r.record(&s)
			}
			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			got := map[string]uint64{}
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
						got[dp.Attributes.Encoded(attribute.DefaultEncoder())] += dp.Count
					}
				}
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("series %v, want %v", got, tt.want)
			}
		})
	}
}

// TestREDKeysFit: every metric's kept keys have a slot in seriesKey.
func TestREDKeysFit(t *testing.T) {
	for name, keys := range map[string][]attribute.Key{"http server": httpServerKeys, "http client": httpClientKeys, "rpc": rpcKeys} {
		if len(keys) > maxKeys {
			t.Errorf("%s: %d keys, seriesKey has %d slots", name, len(keys), maxKeys)
		}
	}
}

// BenchmarkREDRecord is the RED metrics' cost of one typical server span
// (the flusher records every span, sampled or not).
func BenchmarkREDRecord(b *testing.B) {
	r, err := newRED(resource.Empty(), sdkmetric.NewManualReader())
	if err != nil {
		b.Fatal(err)
	}
	spans := make([]tracer.Span, 1024)
	for i := range spans {
		spans[i] = serverSpan(9, i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.record(&spans[i%len(spans)])
	}
}
