package export

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer"
)

// serverSpan is a span as the tracer makes it for an axum request: the
// attributes of tracer/httpspan.go, its own IDs, a remote caller for one
// request in four.
func serverSpan(pid uint32, i int) tracer.Span {
	now := time.Now()
	s := tracer.Span{Name: "GET /users/:id", Kind: trace.SpanKindServer, Start: now, End: now.Add(80 * time.Microsecond),
		PID: pid, Scope: tracer.Scope{Name: "axum", Version: "0.7.9"}, Measures: tracer.MeasuresServer,
		SpanContext: randSC(0, false)}
	s.Attrs = []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String("GET"),
		semconv.HTTPResponseStatusCodeKey.Int(200),
		semconv.NetworkProtocolName("http"),
		semconv.NetworkProtocolVersion("1.1"),
		semconv.HTTPRequestBodySize(0),
		semconv.HTTPResponseBodySize(43),
		semconv.UserAgentOriginal("curl/7.88.1"),
		semconv.URLScheme("http"),
		semconv.URLPath(fmt.Sprintf("/users/%d", i)),
		semconv.ServerAddress("localhost"),
		semconv.ServerPort(3000),
		semconv.HTTPRoute("/users/:id"),
		semconv.ClientAddress("127.0.0.1"),
		semconv.ClientPort(40000 + i%20000),
	}
	if i%4 == 0 {
		s.Parent = randSC(trace.FlagsSampled, true)
		s.SpanContext = trace.NewSpanContext(trace.SpanContextConfig{TraceID: s.Parent.TraceID(),
			SpanID: s.SpanContext.SpanID(), TraceFlags: trace.FlagsSampled})
	}
	return s
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExportOTLP pushes b.N typical server spans through the Pipeline
// to an in-process OTLP/HTTP sink that reads and discards each request. An
// op is one span, from Export to the collector having read it; cpu-ns/op is
// the CPU time of the whole process (exporter and sink) per span. The
// producer waits when the pipeline is behind, so no span is dropped.
func BenchmarkExportOTLP(b *testing.B) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		requests.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	ctx := context.Background()
	p, err := New(ctx, Config{Exporters: []string{ExporterOTLP}, Protocol: ProtocolHTTP,
		EndpointURL: srv.URL + "/v1/traces", Insecure: true}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Add(ctx, target(9)); err != nil {
		b.Fatal(err)
	}
	spans := make([]tracer.Span, 4096)
	for i := range spans {
		spans[i] = serverSpan(9, i)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		// Stay well under QueueSize: what is measured is the export path,
		// not drops.
		for uint64(i) > p.Exported()+QueueSize/2 {
			time.Sleep(100 * time.Microsecond)
		}
		p.Export(spans[i%len(spans)])
	}
	if err := p.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	if p.Exported() != uint64(b.N) || p.Dropped() != 0 {
		b.Fatalf("exported %d, dropped %d of %d (%d requests)", p.Exported(), p.Dropped(), b.N, requests.Load())
	}
}
