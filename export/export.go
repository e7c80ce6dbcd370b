// Package export hands tracer spans to OpenTelemetry SDK exporters.
//
// Each tracer.Span becomes an SDK span with the start and end times the
// tracer measured, so every exporter the SDK offers (stdout, OTLP over gRPC
// or HTTP) sees the same data. Every traced process gets its own
// TracerProvider (its resource names the process); the exporters are
// shared.
//
// The capture path never blocks on export: Export puts the span in a
// bounded queue and returns; a queue that is full drops the span and
// counts it. One goroutine feeds the SDK's batch span processors, which
// hand batches to the exporters; the OTLP exporters retry with backoff.
// Spans an exporter finally gives up on are counted too (Dropped).
package export

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	"github.com/rustscope/rustscope/tracer"
)

// QueueSize is how many spans wait for the exporters at most; past it,
// spans are dropped and counted.
const QueueSize = 16384

// batchTimeout is how long the SDK waits to fill a batch.
const batchTimeout = 500 * time.Millisecond

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

	qmu      sync.Mutex // orders enqueues with removals
	queue    chan tracer.Span
	enqueued uint64 // under qmu
	dequeued atomic.Uint64
	closed   bool // under qmu

	mu       sync.Mutex
	procs    map[uint32]*proc
	removals []removal

	queueDrops atomic.Uint64
	otherDrops atomic.Uint64 // spans of processes not (or no longer) added
	fed        atomic.Uint64 // spans handed to providers
	done       chan struct{}
	wg         sync.WaitGroup // provider shutdowns
}

type proc struct {
	tp      *sdktrace.TracerProvider
	red     *red // nil: no metrics
	tracers map[tracer.Scope]trace.Tracer
}

// removal shuts a process's provider down once the spans queued before
// Remove have been fed to it.
type removal struct {
	pid   uint32
	after uint64
}

// New builds the exporters cfg names. Console spans go to stdout, one JSON
// object per line.
func New(ctx context.Context, cfg Config, stdout io.Writer) (*Pipeline, error) {
	var exps []sdktrace.SpanExporter
	for _, name := range cfg.Exporters {
		var exp sdktrace.SpanExporter
		var err error
		switch name {
		case ExporterConsole:
			exp, err = stdouttrace.New(stdouttrace.WithWriter(stdout))
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

func newPipeline(cfg Config, names []string, exps []sdktrace.SpanExporter) *Pipeline {
	p := &Pipeline{cfg: cfg, sampler: cfg.Sampler, queue: make(chan tracer.Span, QueueSize),
		procs: map[uint32]*proc{}, done: make(chan struct{})}
	if p.sampler == nil {
		p.sampler = sdktrace.AlwaysSample()
	}
	for i, exp := range exps {
		p.exps = append(p.exps, &countingExporter{name: names[i], SpanExporter: exp})
	}
	go p.feed()
	return p
}

func newOTLP(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	if cfg.Protocol == ProtocolHTTP {
		opts, err := otlpOptions(cfg, cfg.EndpointURL, otlptracehttp.WithEndpointURL, otlptracehttp.WithHeaders,
			otlptracehttp.WithInsecure, otlptracehttp.WithTLSClientConfig)
		if err != nil {
			return nil, err
		}
		return otlptracehttp.New(ctx, opts...)
	}
	opts, err := otlpOptions(cfg, cfg.EndpointURL, otlptracegrpc.WithEndpointURL, otlptracegrpc.WithHeaders,
		otlptracegrpc.WithInsecure, func(tc *tls.Config) otlptracegrpc.Option {
			return otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tc))
		})
	if err != nil {
		return nil, err
	}
	return otlptracegrpc.New(ctx, append(opts, otlptracegrpc.WithDialOption(reconnectPolicy))...)
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
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(p.sampler), sdktrace.WithIDGenerator(spanIDs{})}
	for _, e := range p.exps {
		// The feeder goroutine blocks when the batcher's queue is full,
		// never the capture path: Export's own queue drops instead.
		opts = append(opts, sdktrace.WithBatcher(shared{e},
			sdktrace.WithBatchTimeout(batchTimeout), sdktrace.WithBlocking()))
	}
	pr := &proc{tp: sdktrace.NewTracerProvider(opts...), tracers: map[tracer.Scope]trace.Tracer{}}
	if p.metrics != nil {
		if pr.red, err = newRED(res, sdkmetric.NewPeriodicReader(sharedMetrics{p.metrics})); err != nil {
			pr.tp.Shutdown(ctx)
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
// handed to the exporters; its queued spans are flushed.
func (p *Pipeline) Remove(pid uint32) {
	p.qmu.Lock()
	after := p.enqueued
	p.qmu.Unlock()
	p.mu.Lock()
	p.removals = append(p.removals, removal{pid: pid, after: after})
	p.mu.Unlock()
	p.reap()
}

// Export queues s and returns at once. A full queue drops s and counts it.
func (p *Pipeline) Export(s tracer.Span) {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	if p.closed {
		p.queueDrops.Add(1)
		return
	}
	select {
	case p.queue <- s:
		p.enqueued++
	default:
		p.queueDrops.Add(1)
	}
}

// feed hands queued spans to the SDK.
func (p *Pipeline) feed() {
	defer close(p.done)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case s, ok := <-p.queue:
			if !ok {
				p.reap()
				return
			}
			p.emit(s)
			p.dequeued.Add(1)
			p.reap()
		case <-tick.C:
			p.reap()
		}
	}
}

func (p *Pipeline) emit(s tracer.Span) {
	p.mu.Lock()
	pr := p.procs[s.PID]
	var tr trace.Tracer
	var r *red
	if pr != nil {
		r = pr.red
		tr = pr.tracers[s.Scope]
		if tr == nil {
			tr = pr.tp.Tracer(s.Scope.Name, trace.WithInstrumentationVersion(s.Scope.Version))
			pr.tracers[s.Scope] = tr
		}
	}
	p.mu.Unlock()
	if tr == nil {
		p.otherDrops.Add(1)
		return
	}
	if r != nil {
		r.record(&s) // every request, sampled or not
	}
	_, span := tr.Start(p.startContext(&s), s.Name,
		trace.WithTimestamp(s.Start),
		trace.WithSpanKind(s.Kind),
		trace.WithAttributes(s.Attrs...),
	)
	if s.Error {
		span.SetStatus(codes.Error, s.StatusMessage)
	}
	sampled := span.SpanContext().IsSampled()
	span.End(trace.WithTimestamp(s.End))
	if sampled {
		p.fed.Add(uint64(len(p.exps)))
	}
}

// reap shuts down the providers of removed processes whose queued spans
// have all been fed.
func (p *Pipeline) reap() {
	done := p.dequeued.Load()
	p.mu.Lock()
	var gone []*proc
	keep := p.removals[:0]
	for _, r := range p.removals {
		if r.after > done {
			keep = append(keep, r)
			continue
		}
		if pr := p.procs[r.pid]; pr != nil {
			gone = append(gone, pr)
			delete(p.procs, r.pid)
		}
	}
	p.removals = keep
	p.mu.Unlock()
	for _, pr := range gone {
		p.shutdownProc(pr)
	}
}

// shutdownProc flushes and stops one provider in the background.
func (p *Pipeline) shutdownProc(pr *proc) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pr.shutdown(ctx)
	}()
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

// Shutdown exports every queued span, then stops the exporters. Spans that
// could not be delivered before ctx ends are counted as dropped.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	p.qmu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	p.qmu.Unlock()
	var errs []error
	select {
	case <-p.done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("spans still queued: %w", ctx.Err()))
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
	// Whatever was fed but neither delivered nor failed is lost.
	var settled uint64
	for _, e := range p.exps {
		settled += e.ok.Load() + e.failed.Load()
	}
	if fed := p.fed.Load(); fed > settled {
		p.otherDrops.Add(fed - settled)
	}
	for _, e := range p.exps {
		if err := e.SpanExporter.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down %s exporter: %w", e.name, err))
		}
	}
	if p.metrics != nil {
		if err := p.metrics.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down metric exporter: %w", err))
		}
	}
	// Spans still in the queue if the feeder did not finish.
	p.queueDrops.Add(uint64(len(p.queue)))
	return errors.Join(errs...)
}

// shutdown flushes and stops the process's providers.
func (pr *proc) shutdown(ctx context.Context) error {
	err := pr.tp.Shutdown(ctx)
	if pr.red != nil {
		err = errors.Join(err, pr.red.mp.Shutdown(ctx))
	}
	return err
}

// countingExporter counts what an exporter delivers and gives up on.
type countingExporter struct {
	name string
	sdktrace.SpanExporter
	ok, failed atomic.Uint64
	mu         sync.Mutex
	err        error
	errAt      time.Time
}

func (c *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := c.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		c.failed.Add(uint64(len(spans)))
		c.mu.Lock()
		c.err, c.errAt = err, time.Now()
		c.mu.Unlock()
		return err
	}
	c.ok.Add(uint64(len(spans)))
	return nil
}

// shared is an exporter several providers use: their Shutdown must not
// close it (Pipeline.Shutdown does).
type shared struct{ *countingExporter }

func (shared) Shutdown(context.Context) error { return nil }
