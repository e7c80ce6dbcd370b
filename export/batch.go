package export

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer"
)

// batchSize is how many spans wake the flusher, and the most one export
// request carries (the SDK batch span processor's default).
const batchSize = 512

// batchTimeout is how long spans wait for a batch to fill.
const batchTimeout = 500 * time.Millisecond

// exportTimeout bounds one export call, retries included (the SDK batch
// span processor's default; the OTLP clients' own timeout is shorter).
const exportTimeout = 30 * time.Second

// spanData is a span as the SDK would have recorded it: s with its span
// context, parent and the attributes the span limits leave.
type spanData struct {
	s          *tracer.Span
	sc, parent trace.SpanContext
	attrs      []attribute.KeyValue
	dropped    int // attributes
}

// batch is up to batchSize sampled spans of one process, in the order they
// came.
type batch struct {
	pr    *proc
	spans []spanData
}

// maxFree is how many chunks of batchSize spans the queue and the flusher
// each keep for reuse: a burst's are left to the garbage collector.
const maxFree = 4

// queue is the spans waiting for the flusher, in chunks of batchSize: a
// full chunk wakes the flusher, and chunks are reused, so neither a span
// nor a burst copies the queue or grows a slice.
type queue struct {
	chunks [][]tracer.Span // the last one is being filled
	n      int
	free   [][]tracer.Span
}

// push appends s and reports whether that filled a chunk.
func (q *queue) push(s tracer.Span) bool {
	k := len(q.chunks)
	if k == 0 || len(q.chunks[k-1]) == batchSize {
		var c []tracer.Span
		if f := len(q.free); f > 0 {
			c, q.free = q.free[f-1], q.free[:f-1]
		} else {
			c = make([]tracer.Span, 0, batchSize)
		}
		q.chunks = append(q.chunks, c)
		k++
	}
	q.chunks[k-1] = append(q.chunks[k-1], s)
	q.n++
	return len(q.chunks[k-1]) == batchSize
}

// recycle takes back chunks the flusher is done with.
func (q *queue) recycle(chunks [][]tracer.Span) {
	for _, c := range chunks {
		if len(q.free) < maxFree {
			clear(c)
			q.free = append(q.free, c[:0])
		}
	}
}

// flusher is the flusher goroutine's state, reused from flush to flush.
type flusher struct {
	open  map[uint32]*batch // each process's batch being filled
	order []*batch          // every batch of this flush
	free  [][]spanData
}

// Export queues s and returns at once. A full queue drops s and counts it.
// Only the span that fills a batch wakes the flusher.
func (p *Pipeline) Export(s tracer.Span) {
	p.qmu.Lock()
	if p.closed || p.q.n >= QueueSize {
		p.qmu.Unlock()
		p.queueDrops.Add(1)
		return
	}
	full := p.q.push(s)
	p.enqueued++
	p.qmu.Unlock()
	if full {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// run is the flusher goroutine: it exports what is queued when a batch is
// full, every batchTimeout, and until the queue is empty once closed.
func (p *Pipeline) run() {
	defer close(p.done)
	p.fl.open = map[uint32]*batch{}
	timer := time.NewTimer(batchTimeout)
	defer timer.Stop()
	for {
		select {
		case <-p.wake:
		case <-timer.C:
		case <-p.closing:
		}
		p.qmu.Lock()
		chunks, n, closed := p.q.chunks, p.q.n, p.closed
		p.q.chunks, p.q.n = nil, 0
		p.qmu.Unlock()
		p.flush(chunks)
		p.qmu.Lock()
		p.q.recycle(chunks)
		p.qmu.Unlock()
		p.dequeued.Add(uint64(n))
		p.reap()
		if closed && n == 0 {
			return
		}
		timer.Reset(batchTimeout)
	}
}

// flush exports spans: first every span is looked at (its process, RED
// metrics, sampling, limits), then the batches are sent.
func (p *Pipeline) flush(chunks [][]tracer.Span) {
	fl := &p.fl
	fed := 0
	for _, c := range chunks {
		for i := range c {
			s := &c[i]
			b := fl.open[s.PID]
			if b == nil || len(b.spans) == batchSize {
				if b = p.openBatch(s.PID, b); b == nil {
					p.otherDrops.Add(1)
					continue
				}
			}
			if b.pr.red != nil {
				b.pr.red.record(s) // every request, sampled or not
			}
			if len(p.exps) == 0 {
				continue // metrics only
			}
			sc, parent, r := p.identify(s)
			if r.Decision != sdktrace.RecordAndSample {
				continue
			}
			d := spanData{s: s, sc: sc, parent: parent}
			d.attrs, d.dropped = limitAttrs(p.limits, r.Attributes, s.Attrs)
			b.spans = append(b.spans, d)
			fed++
		}
	}
	p.fed.Add(uint64(fed * len(p.exps)))
	for _, b := range fl.order {
		if len(b.spans) > 0 {
			p.send(b.pr, b.spans)
		}
		if len(fl.free) < maxFree {
			clear(b.spans)
			fl.free = append(fl.free, b.spans[:0])
		}
	}
	// Only this flush's processes: removed ones are not held.
	clear(fl.open)
	clear(fl.order)
	fl.order = fl.order[:0]
}

// openBatch starts pid's next batch, after full if pid has one already.
// It returns nil if pid is not (or no longer) added.
func (p *Pipeline) openBatch(pid uint32, full *batch) *batch {
	var pr *proc
	if full != nil {
		pr = full.pr
	} else {
		p.mu.Lock()
		pr = p.procs[pid]
		p.mu.Unlock()
	}
	if pr == nil {
		return nil
	}
	b := &batch{pr: pr}
	if f := len(p.fl.free); f > 0 {
		b.spans, p.fl.free = p.fl.free[f-1], p.fl.free[:f-1]
	} else {
		b.spans = make([]spanData, 0, batchSize)
	}
	p.fl.open[pid] = b
	p.fl.order = append(p.fl.order, b)
	return b
}

// send hands one batch to every exporter.
func (p *Pipeline) send(pr *proc, spans []spanData) {
	for _, e := range p.exps {
		ctx, cancel := context.WithTimeout(p.ctx, exportTimeout)
		e.send(ctx, pr, spans)
		cancel()
	}
}

// reap forgets removed processes whose queued spans have all been exported.
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

// shutdownProc flushes and stops one process's metrics in the background.
func (p *Pipeline) shutdownProc(pr *proc) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pr.shutdown(ctx)
	}()
}

// exporter sends batches of one process's spans somewhere.
type exporter interface {
	export(ctx context.Context, pr *proc, spans []spanData) error
	shutdown(ctx context.Context) error
}

// countingExporter counts what an exporter delivers and gives up on.
type countingExporter struct {
	name string
	exporter
	ok, failed atomic.Uint64
	mu         sync.Mutex
	err        error
	errAt      time.Time
}

func (c *countingExporter) send(ctx context.Context, pr *proc, spans []spanData) {
	err := ctx.Err() // Shutdown gave up: fail fast
	if err == nil {
		err = c.export(ctx, pr, spans)
	}
	if err != nil {
		c.failed.Add(uint64(len(spans)))
		c.mu.Lock()
		c.err, c.errAt = err, time.Now()
		c.mu.Unlock()
		otel.Handle(err)
		return
	}
	c.ok.Add(uint64(len(spans)))
}
