package export

import (
	"context"
	"errors"
	"maps"
	"os"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer"
)

func span(pid uint32, i int) tracer.Span {
	now := time.Now()
	return tracer.Span{Name: "GET", Kind: trace.SpanKindServer, Start: now, End: now.Add(time.Millisecond), PID: pid,
		Attrs: []attribute.KeyValue{attribute.Int("i", i)}, Scope: tracer.Scope{Name: "wire"}}
}

func target(pid uint32) *tracer.Target {
	return &tracer.Target{PID: pid, Exe: "/srv/app (deleted)", Cmdline: []string{"/srv/app", "--port", "1"}}
}

func resourceAttr(s tracetest.SpanStub, k string) string {
	for _, kv := range s.Resource.Attributes() {
		if string(kv.Key) == k {
			return kv.Value.Emit()
		}
	}
	return ""
}

func TestMain(m *testing.M) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
	os.Exit(m.Run())
}

func TestPipelineDeliversEverySpanPerProcess(t *testing.T) {
	mem := newMem()
	cfg := Config{ServiceName: "", ResourceAttributes: []attribute.KeyValue{attribute.String("deployment.environment.name", "test")}}
	p := newPipeline(cfg, []string{"mem"}, []exporter{sdkExporter{mem}})
	ctx := context.Background()
	for _, pid := range []uint32{11, 22} {
		if err := p.Add(ctx, target(pid)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3000 {
		p.Export(span(11+11*uint32(i%2), i))
	}
	p.Remove(22) // its queued spans are still delivered
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := mem.GetSpans()
	if len(got) != 3000 || p.Exported() != 3000 || p.Dropped() != 0 {
		t.Fatalf("got %d spans, exported %d, dropped %d; want 3000, 3000, 0", len(got), p.Exported(), p.Dropped())
	}
	perPID := map[string]int{}
	for _, s := range got {
		perPID[resourceAttr(s, "process.pid")]++
		if v := resourceAttr(s, "service.name"); v != "app" {
			t.Fatalf("service.name = %q, want app", v)
		}
		if v := resourceAttr(s, "process.executable.path"); v != "/srv/app" {
			t.Fatalf("process.executable.path = %q", v)
		}
		if v := resourceAttr(s, "deployment.environment.name"); v != "test" {
			t.Fatalf("deployment.environment.name = %q", v)
		}
		if v := resourceAttr(s, "telemetry.distro.name"); v != "rustscope" {
			t.Fatalf("telemetry.distro.name = %q", v)
		}
	}
	if perPID["11"] != 1500 || perPID["22"] != 1500 {
		t.Fatalf("spans per pid: %v", perPID)
	}
}

func TestPipelineServiceNamePrecedence(t *testing.T) {
	for _, tc := range []struct {
		service string
		attrs   []attribute.KeyValue
		want    string
	}{
		{"", nil, "app"},
		{"", []attribute.KeyValue{attribute.String("service.name", "fromattrs")}, "fromattrs"},
		{"svc", []attribute.KeyValue{attribute.String("service.name", "fromattrs")}, "svc"},
	} {
		res, err := Resource(context.Background(), tc.service, tc.attrs, target(1))
		if err != nil {
			t.Fatal(err)
		}
		v, _ := res.Set().Value("service.name")
		if v.Emit() != tc.want {
			t.Errorf("service %q attrs %v: service.name %q, want %q", tc.service, tc.attrs, v.Emit(), tc.want)
		}
	}
}

// keep is an in-memory exporter whose Shutdown keeps the spans.
type keep struct{ *tracetest.InMemoryExporter }

func (keep) Shutdown(context.Context) error { return nil }

func newMem() keep { return keep{tracetest.NewInMemoryExporter()} }

type failing struct{ calls int }

func (f *failing) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	f.calls++
	return errors.New("endpoint down")
}
func (f *failing) Shutdown(context.Context) error { return nil }

func TestPipelineCountsFailedExports(t *testing.T) {
	p := newPipeline(Config{}, []string{"failing"}, []exporter{sdkExporter{&failing{}}})
	p.Add(context.Background(), target(5))
	for i := range 700 {
		p.Export(span(5, i))
	}
	p.Export(span(6, 0)) // a process never added
	p.Shutdown(context.Background())
	if p.Dropped() != 701 || p.Exported() != 0 {
		t.Fatalf("dropped %d, exported %d; want 701, 0", p.Dropped(), p.Exported())
	}
	if err := p.LastError(); err == nil || err.Error() != "endpoint down" {
		t.Fatalf("last error %v", err)
	}
}

// blocking holds every export until released, like a slow endpoint.
type blocking struct {
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (b *blocking) ExportSpans(_ context.Context, s []sdktrace.ReadOnlySpan) error {
	<-b.release
	b.mu.Lock()
	b.n += len(s)
	b.mu.Unlock()
	return nil
}
func (b *blocking) Shutdown(context.Context) error { return nil }

func TestPipelineNeverBlocksCapture(t *testing.T) {
	b := &blocking{release: make(chan struct{})}
	p := newPipeline(Config{}, []string{"slow"}, []exporter{sdkExporter{b}})
	p.Add(context.Background(), target(7))
	const n = 3 * QueueSize
	t0 := time.Now()
	for i := range n {
		p.Export(span(7, i))
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("Export blocked: %v for %d spans", d, n)
	}
	if p.Dropped() == 0 {
		t.Fatal("a full queue dropped nothing")
	}
	close(b.release)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := p.Exported() + p.Dropped(); got != n || uint64(b.n) != p.Exported() {
		t.Fatalf("exported %d + dropped %d = %d, exporter saw %d; want %d in all", p.Exported(), p.Dropped(), got, b.n, n)
	}
}

func TestPipelineSampler(t *testing.T) {
	mem := newMem()
	p := newPipeline(Config{Sampler: sdktrace.NeverSample()}, []string{"mem"}, []exporter{sdkExporter{mem}})
	p.Add(context.Background(), target(8))
	for i := range 100 {
		p.Export(span(8, i))
	}
	p.Shutdown(context.Background())
	if n := len(mem.GetSpans()); n != 0 || p.Dropped() != 0 {
		t.Fatalf("always_off: %d spans exported, %d dropped", n, p.Dropped())
	}
}

// TestPipelineAddService: a target's own service name wins over the
// configured one for its process only.
func TestPipelineAddService(t *testing.T) {
	mem := newMem()
	p := newPipeline(Config{ServiceName: "global"}, []string{"mem"}, []exporter{sdkExporter{mem}})
	ctx := context.Background()
	if err := p.AddService(ctx, target(1), "checkout"); err != nil {
		t.Fatal(err)
	}
	if err := p.AddService(ctx, target(2), ""); err != nil {
		t.Fatal(err)
	}
	p.Export(span(1, 0))
	p.Export(span(2, 1))
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range mem.GetSpans() {
		got[resourceAttr(s, "process.pid")] = resourceAttr(s, "service.name")
	}
	if want := map[string]string{"1": "checkout", "2": "global"}; !maps.Equal(got, want) {
		t.Errorf("service.name by pid %v, want %v", got, want)
	}
}

// calls records every export call's spans' process IDs.
type calls struct {
	mu   sync.Mutex
	pids [][]string
}

func (c *calls) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	var pids []string
	for _, s := range tracetest.SpanStubsFromReadOnlySpans(spans) {
		pids = append(pids, resourceAttr(s, "process.pid"))
	}
	c.mu.Lock()
	c.pids = append(c.pids, pids)
	c.mu.Unlock()
	return nil
}
func (*calls) Shutdown(context.Context) error { return nil }

// TestPipelineBatches: every export call carries one process's spans, at
// most batchSize of them.
func TestPipelineBatches(t *testing.T) {
	c := &calls{}
	p := newPipeline(Config{}, []string{"calls"}, []exporter{sdkExporter{c}})
	for _, pid := range []uint32{3, 4} {
		if err := p.Add(context.Background(), target(pid)); err != nil {
			t.Fatal(err)
		}
	}
	const n = 5000
	for i := range n {
		p.Export(span(3+uint32(i%2), i))
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, pids := range c.pids {
		total += len(pids)
		if len(pids) > batchSize || len(pids) == 0 {
			t.Fatalf("an export of %d spans", len(pids))
		}
		for _, pid := range pids {
			if pid != pids[0] {
				t.Fatalf("one export with spans of pids %s and %s", pids[0], pid)
			}
		}
	}
	if total != n || len(c.pids) < n/batchSize {
		t.Fatalf("%d spans in %d exports, want %d", total, len(c.pids), n)
	}
	t.Logf("%d spans in %d exports", total, len(c.pids))
}
