// Package export sends tracer spans to OTLP collectors and to stdout.
//
// Spans do not become OpenTelemetry SDK spans: one per request through the
// SDK's span objects, batch span processors and the OTLP exporter's
// conversion cost more CPU than the rest of rustscope. Instead the
// Pipeline does what the SDK did, once per batch where it can:
//
//   - Export appends the span to a bounded queue under a mutex and
//     returns; a full queue drops the span and counts it. The flusher
//     goroutine is woken only when a batch's worth is queued (or every
//     batchTimeout), not per span (batch.go).
//   - The flusher gives each span the IDs, parent, trace flags and state
//     the SDK gave it (the tracer's own IDs; the configured Sampler asked
//     with the SDK's parameters, ids.go), records the RED metrics, and
//     applies the SDK's span limits to the attributes (limits.go).
//   - Sampled spans are grouped per process (one resource each, as the SDK
//     had one TracerProvider per process) and sent in batches of up to
//     batchSize: as OTLP protobuf requests built straight from the spans
//     and sent by the OTLP clients (otlptracegrpc, otlptracehttp: every
//     OTEL_EXPORTER_OTLP_* setting, retries with backoff; otlp.go), and as
//     SDK read-only span snapshots to the stdout exporter (console.go),
//     whose JSON lines are the same as ever.
//
// Spans an exporter finally gives up on are counted too (Dropped).
package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/rustscope/rustscope/tracer"
)

// QueueSize is how many spans wait for the exporters at most; past it,
// spans are dropped and counted.
const QueueSize = 16384

// reconnectPolicy is the gRPC exporters' reconnection backoff: gRPC's own
// grows to 2 minutes, but an agent should see a collector that came back
// within seconds.
var reconnectPolicy = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: time.Second, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
	MinConnectTimeout: 5 * time.Second,
})

// Pipeline exports the spans of every traced process.
type Pipeline struct {
	cfg     Config
	exps    []*countingExporter
	metrics sdkmetric.Exporter // nil: no metrics
	sampler sdktrace.Sampler
	limits  sdktrace.SpanLimits

	qmu      sync.Mutex // guards q; orders enqueues with removals
	q        queue
	enqueued uint64 // under qmu
	closed   bool   // under qmu
	wake     chan struct{}
	closing  chan struct{}
	dequeued atomic.Uint64 // spans the flusher is done with

	mu       sync.Mutex
	procs    map[uint32]*proc
	removals []removal

	queueDrops atomic.Uint64
	otherDrops atomic.Uint64 // spans of processes not (or no longer) added
	fed        atomic.Uint64 // spans handed to exporters (once per exporter)
	done       chan struct{}
	wg         sync.WaitGroup // process shutdowns

	// uploads run under ctx, which Shutdown cancels when its own ends.
	ctx    context.Context
	cancel context.CancelFunc
	fl     flusher // the flusher goroutine's own
}

// proc is one traced process.
type proc struct {
	res   *resource.Resource   // its spans' resource
	resPB *resourcepb.Resource // res for OTLP, converted once
	red   *red                 // nil: no metrics
}

// removal forgets a process once the spans queued before Remove have been
// exported.
type removal struct {
	pid   uint32
	after uint64
}

// New builds the exporters cfg names. Console spans go to stdout, one JSON
// object per line.
func New(ctx context.Context, cfg Config, stdout io.Writer) (*Pipeline, error) {
	var exps []exporter
	for _, name := range cfg.Exporters {
		var exp exporter
		var err error
		switch name {
		case ExporterConsole:
			var se *stdouttrace.Exporter
			se, err = stdouttrace.New(stdouttrace.WithWriter(stdout))
			exp = sdkExporter{se}
		case ExporterOTLP:
			exp, err = newOTLP(ctx, cfg)
		default:
			err = fmt.Errorf("unknown exporter %q", name)
		}
		if err != nil {
			return nil, fmt.Errorf("create %s exporter: %w", name, err)
		}
		exps = append(exps, exp)
	}
	p := newPipeline(cfg, cfg.Exporters, exps)
	if cfg.Metrics {
		m, err := newMetricExporter(ctx, cfg)
		if err != nil {
			p.Shutdown(ctx)
			return nil, fmt.Errorf("create otlp metric exporter: %w", err)
		}
		p.metrics = m
	}
	return p, nil
}

func newPipeline(cfg Config, names []string, exps []exporter) *Pipeline {
	p := &Pipeline{cfg: cfg, sampler: cfg.Sampler, limits: sdktrace.NewSpanLimits(), procs: map[uint32]*proc{},
		wake: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if p.sampler == nil {
		p.sampler = sdktrace.AlwaysSample()
	}
	for i, exp := range exps {
		p.exps = append(p.exps, &countingExporter{name: names[i], exporter: exp})
	}
	go p.run()
	return p
}

// Add starts exporting the spans of t, under a resource that describes it.
func (p *Pipeline) Add(ctx context.Context, t *tracer.Target) error {
	return p.AddService(ctx, t, "")
}

// AddService is Add with service as t's service.name, when not empty,
// instead of Config.ServiceName: the name a configuration file's target
// gives its processes.
func (p *Pipeline) AddService(ctx context.Context, t *tracer.Target, service string) error {
	if service == "" {
		service = p.cfg.ServiceName
	}
	res, err := Resource(ctx, service, p.cfg.ResourceAttributes, t)
	if err != nil {
		return err
	}
	spanRes := spanResource(res)
	pr := &proc{res: spanRes, resPB: resourceProto(spanRes)}
	if p.metrics != nil {
		if pr.red, err = newRED(res, sdkmetric.NewPeriodicReader(sharedMetrics{p.metrics})); err != nil {
			return err
		}
	}
	p.mu.Lock()
	old := p.procs[t.PID]
	p.procs[t.PID] = pr
	p.mu.Unlock()
	if old != nil {
		p.shutdownProc(old)
	}
	return nil
}

// Remove stops exporting for pid once the spans already queued for it are
// exported.
func (p *Pipeline) Remove(pid uint32) {
	p.qmu.Lock()
	after := p.enqueued
	p.qmu.Unlock()
	p.mu.Lock()
	p.removals = append(p.removals, removal{pid: pid, after: after})
	p.mu.Unlock()
	p.reap()
}

// Dropped is how many spans were lost so far: queue full, or given up on by
// an exporter (a span lost by two exporters counts twice).
func (p *Pipeline) Dropped() uint64 {
	n := p.queueDrops.Load() + p.otherDrops.Load()
	for _, e := range p.exps {
		n += e.failed.Load()
	}
	return n
}

// Exported is how many spans the exporters accepted (a span sent by two
// exporters counts twice).
func (p *Pipeline) Exported() uint64 {
	var n uint64
	for _, e := range p.exps {
		n += e.ok.Load()
	}
	return n
}

// LastError is the last export error, or nil.
func (p *Pipeline) LastError() error {
	var last error
	var at time.Time
	for _, e := range p.exps {
		e.mu.Lock()
		if e.err != nil && e.errAt.After(at) {
			last, at = e.err, e.errAt
		}
		e.mu.Unlock()
	}
	return last
}

// abortGrace is how long Shutdown still waits for the flusher once its
// context ended and the uploads in flight were cancelled.
const abortGrace = time.Second

// Shutdown exports every queued span, then stops the exporters. Spans that
// could not be delivered before ctx ends are counted as dropped.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	p.qmu.Lock()
	if !p.closed {
		p.closed = true
		close(p.closing)
	}
	p.qmu.Unlock()
	var errs []error
	select {
	case <-p.done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("spans still queued: %w", ctx.Err()))
		// Uploads in flight fail now, and count as dropped.
		p.cancel()
		select {
		case <-p.done:
		case <-time.After(abortGrace):
		}
	}
	p.mu.Lock()
	procs := p.procs
	p.procs = map[uint32]*proc{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, pr := range procs {
		wg.Go(func() {
			if err := pr.shutdown(ctx); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		})
	}
	wg.Wait()
	waited := make(chan struct{})
	go func() { p.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
	}
	// The flusher did not finish: what it had taken is lost, and so is
	// what is still queued.
	var settled uint64
	for _, e := range p.exps {
		settled += e.ok.Load() + e.failed.Load()
	}
	if fed := p.fed.Load(); fed > settled {
		p.otherDrops.Add(fed - settled)
	}
	p.qmu.Lock()
	p.queueDrops.Add(uint64(p.q.n))
	p.q = queue{}
	p.qmu.Unlock()
	for _, e := range p.exps {
		if err := e.shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down %s exporter: %w", e.name, err))
		}
	}
	if p.metrics != nil {
		if err := p.metrics.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down metric exporter: %w", err))
		}
	}
	p.cancel()
	return errors.Join(errs...)
}

// shutdown flushes and stops the process's metrics.
func (pr *proc) shutdown(ctx context.Context) error {
	if pr.red != nil {
		return pr.red.mp.Shutdown(ctx)
	}
	return nil
}
