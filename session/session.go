// Package session fans the tracer's spans out to the terminal UI and the
// exporters. With the UI, an Engine serves its process list and attaches
// and routes the spans of the processes it watches to it; without,
// Headless attaches to the selected processes and exports their spans.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rustscope/rustscope/export"
	"github.com/rustscope/rustscope/lib"
	"github.com/rustscope/rustscope/process"
	"github.com/rustscope/rustscope/symbols"
	"github.com/rustscope/rustscope/tracer"
	"github.com/rustscope/rustscope/ui"
)

// uiBatch is how often spans are handed to the UI: one message per tick
// instead of one per span keeps rendering cheap under load.
const uiBatch = 100 * time.Millisecond

// Options are what an Engine connects.
type Options struct {
	// Tracer is nil when it could not be loaded; LoadErr says why.
	Tracer  *tracer.Tracer
	LoadErr error
	Log     *slog.Logger
	Symbols *symbols.Cache
	Buffer  int              // the UI's span buffer
	Pipe    *export.Pipeline // optional: every span is forwarded there too
	To      string           // where Pipe sends spans, for the status bar
	// Export names the services (service.name) even when nothing is exported.
	Export export.Config
}

// Engine connects one Tracer to the UI (it is the UI's ui.Engine): it runs
// the tracer's read loop for the program's lifetime and routes the spans of
// the watched processes to their session.
type Engine struct {
	t         *tracer.Tracer
	log       *slog.Logger
	cache     *symbols.Cache
	buffer    int
	pipe      *export.Pipeline
	to        string
	exportCfg export.Config
	loadErr   error

	mu  sync.Mutex
	cur *session
}

// New returns an Engine over o.
func New(o Options) *Engine {
	return &Engine{t: o.Tracer, log: o.Log, cache: o.Symbols, buffer: o.Buffer, pipe: o.Pipe, to: o.To, exportCfg: o.Export, loadErr: o.LoadErr}
}

// Run is the tracer loop; it ends with ctx.
func (e *Engine) Run(ctx context.Context) error {
	if e.t == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	return e.t.Run(ctx, e.emit)
}

func (e *Engine) emit(s tracer.Span) {
	e.mu.Lock()
	cur := e.cur
	e.mu.Unlock()
	if cur != nil && cur.watches(s.PID) {
		cur.push(s)
	}
	if e.pipe != nil {
		e.pipe.Export(s)
	}
}

// Exited is the tracer's OnExit hook.
func (e *Engine) Exited(pid uint32) {
	e.mu.Lock()
	cur := e.cur
	e.mu.Unlock()
	if cur != nil {
		cur.exited(pid)
	}
	if e.pipe != nil {
		e.pipe.Remove(pid)
	}
}

// Processes lists the processes for the UI's picker.
func (e *Engine) Processes() ([]ui.Process, error) {
	procs, err := process.Processes(e.cache)
	rows := make([]ui.Process, 0, len(procs))
	for _, p := range procs {
		rows = append(rows, uiProcess(p))
	}
	return rows, err
}

func uiProcess(p process.Process) ui.Process {
	r := ui.Process{PID: p.PID, User: p.User, Container: p.Container, Traceable: p.Traceable, Why: p.Reason}
	// The program's name first: a long directory would hide it.
	if len(p.Cmdline) > 0 && p.Cmdline[0] != "" {
		r.Command = strings.Join(append([]string{filepath.Base(p.Cmdline[0])}, p.Cmdline[1:]...), " ")
	} else {
		r.Command = filepath.Base(p.Exe)
	}
	if a := p.Analysis; a != nil {
		r.Rustc, r.Stripped = a.RustcVersion, a.Stripped
		var cs []string
		for _, name := range lib.Crates() {
			if v, ok := a.Crate(name); ok {
				cs = append(cs, name+" "+v)
			}
		}
		r.Crates = strings.Join(cs, ", ")
		r.TLS = process.TLSColumn(a)
		for _, t := range process.TLSSight(a) {
			r.TLSWhy = append(r.TLSWhy, "TLS "+t)
		}
	}
	return r
}

// Attach attaches every pid, or none: a failure detaches those already
// attached.
func (e *Engine) Attach(pids []int) (ui.Session, error) {
	if e.t == nil {
		return nil, e.loadErr
	}
	s := &session{e: e, ch: make(chan []tracer.Span, 1), done: make(chan struct{}), cap: e.buffer, live: map[uint32]bool{}}
	for _, pid := range pids {
		tg, err := e.attachOne(pid)
		if err != nil {
			s.detach()
			if len(pids) > 1 {
				err = fmt.Errorf("pid %d: %w", pid, err)
			}
			return nil, err
		}
		s.targets = append(s.targets, tg)
		s.live[tg.PID] = true
	}
	e.mu.Lock()
	old := e.cur
	e.cur = s
	e.mu.Unlock()
	if old != nil {
		old.Close()
	}
	go s.flush()
	return s, nil
}

func (e *Engine) attachOne(pid int) (*tracer.Target, error) {
	tg, err := e.t.Attach(pid)
	if err != nil {
		return nil, err
	}
	if e.pipe != nil {
		if err := e.pipe.Add(context.Background(), tg); err != nil {
			e.t.Detach(pid)
			return nil, err
		}
	}
	return tg, nil
}

// session is the UI's view of the processes watched together.
type session struct {
	e       *Engine
	targets []*tracer.Target
	ch      chan []tracer.Span
	cap     int

	mu      sync.Mutex
	live    map[uint32]bool // targets that have not exited
	exits   []uint32
	pending []tracer.Span
	dropped uint64
	err     error
	done    chan struct{}
	once    sync.Once
}

func (s *session) Targets() []*tracer.Target   { return s.targets }
func (s *session) Spans() <-chan []tracer.Span { return s.ch }

// Service is the service.name the exporter gives pid's resource.
func (s *session) Service(pid uint32) string {
	for _, t := range s.targets {
		if t.PID == pid {
			return export.ServiceName(s.e.exportCfg.ServiceName, s.e.exportCfg.ResourceAttributes, t)
		}
	}
	return ""
}

func (s *session) watches(pid uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live[pid]
}

// exited ends the session when its last target exits.
func (s *session) exited(pid uint32) {
	s.mu.Lock()
	if !s.live[pid] {
		s.mu.Unlock()
		return
	}
	delete(s.live, pid)
	s.exits = append(s.exits, pid)
	last := len(s.live) == 0
	s.mu.Unlock()
	if last {
		s.end(fmt.Errorf("pid %d exited", pid))
	}
}

func (s *session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *session) Stats() ui.SessionStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ui.SessionStats{Lost: s.e.t.Lost(), Dropped: s.dropped, Exited: slices.Clone(s.exits)}
	if p := s.e.pipe; p != nil {
		st.Export = fmt.Sprintf("%s: %d sent, %d dropped", s.e.to, p.Exported(), p.Dropped())
	}
	return st
}

// push queues a span for the next batch. Past the UI's buffer size the
// oldest queued span goes: the UI would drop it anyway.
func (s *session) push(sp tracer.Span) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) >= s.cap {
		s.pending = s.pending[1:]
		s.dropped++
	}
	s.pending = append(s.pending, sp)
}

// flush hands pending spans to the UI every uiBatch, never blocking the
// tracer: if the UI has not taken the last batch yet, spans wait.
func (s *session) flush() {
	tick := time.NewTicker(uiBatch)
	defer tick.Stop()
	defer close(s.ch)
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
		}
		batch := s.take()
		if len(batch) == 0 {
			continue
		}
		select {
		case s.ch <- batch:
		default: // the UI is busy: keep the batch for the next tick
			s.mu.Lock()
			s.pending = append(batch, s.pending...)
			s.mu.Unlock()
		}
	}
}

// take returns the pending spans as a batch.
func (s *session) take() []tracer.Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	batch := s.pending
	s.pending = nil
	if len(batch) > 0 {
		// The next batch is likely as large: room for it at once spares
		// growing the slice span by span (copies, garbage).
		s.pending = make([]tracer.Span, 0, len(batch))
	}
	return batch
}

// end stops the session with a reason.
func (s *session) end(err error) {
	s.once.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.done)
	})
}

// Close detaches the processes.
func (s *session) Close() error {
	s.end(nil)
	s.e.mu.Lock()
	if s.e.cur == s {
		s.e.cur = nil
	}
	s.e.mu.Unlock()
	return s.detach()
}

func (s *session) detach() error {
	var errs []error
	for _, t := range s.targets {
		if s.e.pipe != nil {
			s.e.pipe.Remove(t.PID)
		}
		if err := s.e.t.Detach(int(t.PID)); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
