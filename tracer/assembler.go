package tracer

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/rustscope/rustscope/bpf"
)

// Counters are the tracer's running totals; all fields are read atomically.
type Counters struct {
	Events    atomic.Uint64 // ring-buffer records decoded
	BadEvents atomic.Uint64 // records that failed to decode
	Gaps      atomic.Uint64 // per-connection sequence jumps (records lost in the kernel)
	Spans     atomic.Uint64 // spans emitted
	Conns     atomic.Int64  // connections tracked now
	Hits      atomic.Uint64 // library probe hits
	// RoutesRefused counts axum lookups whose arguments did not look as
	// expected: no route is guessed for them.
	RoutesRefused atomic.Uint64
	// Links counts client spans made children of their server span;
	// LinksRefused those whose waking task was known but the link not
	// certain (no single request open at the wake, or a wake outside the
	// call's window): they stay roots.
	Links, LinksRefused atomic.Uint64
	// LinksUnsampled counts client spans left roots that were made while
	// the task probes were away (the link budget, tracer/tasks.go).
	LinksUnsampled atomic.Uint64
	// TLSConns counts connections seen to carry TLS records; TLSBound the
	// bindings of a library object's plaintext to one (tls.go);
	// TLSUnbound plaintext records no binding claimed in time.
	TLSConns, TLSBound, TLSUnbound atomic.Uint64
	// Dropped counts HTTP/1 requests the parser gave up on, so that no
	// span came of them: bytes lost in the kernel (the requests in
	// progress when a sequence gap shows), a response whose request was
	// never seen, a connection closed before its response.
	Dropped atomic.Uint64
}

// assembler turns the ordered event stream into spans. It is used by one
// goroutine only. Its state is in parts, each owned by the file that
// changes it: the connections and their parsers (conns.go), what library
// probe hits left (enrich.go), the links between client calls and the
// requests that made them (link.go), and HTTP/2 route lookups across
// connections (h2enrich.go).
type assembler struct {
	clock    *clock
	counters *Counters
	emit     func(Span)
	meta     func(pid uint32) *Target
	log      *slog.Logger
	warned   map[string]bool // warnOnce

	clientSeen   func(pid uint32, ts uint64)             // an event on a client connection (tasks.go)
	placeRoutes  func(pid uint32)                        // the route probe is needed again (routes.go)
	placeClient  func(pid uint32)                        // the client probe is needed again (clientprobe.go)
	setTLSOffset func(pid uint32, role uint8, d int64)   // a TLS key offset is trusted (tls.go)
	execed       func(pid uint32, ev *bpf.WireExecEvent) // a process ran a new executable (exec.go)

	conns    map[connKey]*conn // conns.go
	hits     hitState          // enrich.go
	links    linkState         // link.go
	h2routes h2Routes          // h2enrich.go
	tlsWait  tlsWaiting        // tls.go
}

func newAssembler(c *clock, counters *Counters, meta func(uint32) *Target, emit func(Span)) *assembler {
	return &assembler{clock: c, counters: counters, emit: emit, meta: meta,
		log: slog.New(slog.DiscardHandler), warned: map[string]bool{},
		conns: map[connKey]*conn{}, hits: newHitState(), links: newLinkState()}
}

// handle dispatches one record by kind.
func (a *assembler) handle(ev *event) {
	a.counters.Events.Add(1)
	h := &ev.head
	tk := uint64(h.Tgid)<<32 | uint64(h.Tid)
	if len(a.links.held) > 0 {
		a.releaseCalls(h.Ts)
	}
	switch h.Kind {
	case evProbe:
		a.probeHit(tk, &ev.probe)
		a.unpark(tk, h.Ts)
		return
	case evTask:
		if a.tasksLive(h.Tgid, h.Ts) {
			a.taskPolled(&ev.task)
		}
		return
	case evBody:
		if a.tasksLive(h.Tgid, h.Ts) {
			a.bodyRead(&ev.body)
		}
		return
	case evExec:
		if a.execed != nil {
			a.execed(h.Tgid, &ev.exec)
		}
		return
	}
	a.unpark(tk, 0) // the thread moved on: no hit follows for what it parked
	switch h.Kind {
	case evOpen:
		a.opened(ev)
	case evData:
		a.data(tk, ev)
	case evClose:
		a.closed(ev)
	case evTLSBind:
		a.tlsBound(ev)
	default:
		a.counters.BadEvents.Add(1)
	}
}

// warnOnce logs msg once per process and what.
func (a *assembler) warnOnce(pid uint32, what, msg string, args ...any) {
	key := fmt.Sprint(pid, what)
	if a.warned[key] {
		return
	}
	a.warned[key] = true
	a.log.Warn(msg, append([]any{"pid", pid}, args...)...)
}
