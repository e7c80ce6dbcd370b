package tracer

import (
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/rustscope/rustscope/tracer/axumroute"
	"github.com/rustscope/rustscope/tracer/http1"
	"github.com/rustscope/rustscope/tracer/http2"
)

// connIdle is how long a connection may stay silent before its state is
// freed: a close the tracer missed (fd closed by exec, lost event) must not
// leak memory.
const connIdle = 10 * time.Minute

type connKey struct {
	pid uint32
	fd  int32
}

// conn is the user-space state of one traced TCP connection.
type conn struct {
	local, remote netip.AddrPort // zero when the open was not seen
	http          *http1.Conn
	h2            *http2.Conn         // set once the connection is seen to speak HTTP/2
	h2queue       []uint32            // HTTP/2 streams waiting for their route lookup
	h2paths       map[uint32]h2Lookup // and what it said
	nextSeq       [2]uint32           // per direction: the BPF program numbers each
	seqKnown      [2]bool             // direction's records on its own
	lastSeen      uint64              // monotonic ns
	marks         []mark              // library probe hits not yet given to an exchange
	parked        []http1.Exchange
	parkedBy      uint64               // thread whose next event releases parked
	writes        []taskMark           // client: recent writes and the task that woke their poll
	serverCtx     map[uint64]serverCtx // server: contexts given to requests (by start) before their span
	lastClientEnd uint64               // client: when the last exchange's response ended
	lastDone      uint64               // client: the request start of the last exchange completed
	closed        bool                 // finished: a task that read it is gone too
}

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
}

// assembler turns the ordered event stream into spans. It is used by one
// goroutine only.
type assembler struct {
	conns    map[connKey]*conn
	clock    clock
	counters *Counters
	emit     func(Span)
	meta     func(pid uint32) *Target
	log      *slog.Logger

	// Library probes (see enrich.go).
	hit        func(cookie uint32) (hitRef, bool) // nil: no probes
	clientSeen func(pid uint32, ts uint64)        // an event on a client connection (tasks.go)
	execed     func(pid uint32)                   // a process ran a new executable (Options.OnExec)
	readRoutes func(pid uint32, node uint64) (*axumroute.Table, error)
	lastRead   map[uint64]connKey // thread (tgid<<32|tid) -> connection it last read
	taskConn   map[taskKey]*conn  // tokio task -> server connection it reads (link.go)
	taskClient map[taskKey]*conn  // tokio task -> client connection it reads
	calls      map[callKey]*clientCall
	resps      map[uint32]*respLayout // per process: h2 response futures (link.go)
	held       []callKey              // finished client spans waiting for their parent, by due time
	parkedBy   map[uint64][]connKey   // thread -> connections it parked exchanges on
	routes     map[routeKey]*routeEntry
	warned     map[string]bool
}

func newAssembler(c clock, counters *Counters, meta func(uint32) *Target, emit func(Span)) *assembler {
	return &assembler{conns: map[connKey]*conn{}, clock: c, counters: counters, emit: emit, meta: meta,
		log: slog.New(slog.DiscardHandler), readRoutes: readRoutesProc,
		lastRead: map[uint64]connKey{}, taskConn: map[taskKey]*conn{}, taskClient: map[taskKey]*conn{}, calls: map[callKey]*clientCall{}, resps: map[uint32]*respLayout{}, parkedBy: map[uint64][]connKey{}, routes: map[routeKey]*routeEntry{}, warned: map[string]bool{}}
}

func (a *assembler) handle(ev *event) {
	a.counters.Events.Add(1)
	k := connKey{pid: ev.hdr.Tgid, fd: ev.hdr.Fd}
	tk := uint64(ev.hdr.Tgid)<<32 | uint64(ev.hdr.Tid)
	if len(a.held) > 0 {
		a.releaseCalls(ev.hdr.Ts)
	}
	switch ev.hdr.Kind {
	case evProbe:
		a.probeHit(tk, ev)
		a.unpark(tk, ev.hdr.Ts)
		return
	case evTask:
		a.taskPolled(ev)
		return
	case evExec:
		if a.execed != nil {
			a.execed(ev.hdr.Tgid)
		}
		return
	}
	a.unpark(tk, 0) // the thread moved on: no hit follows for what it parked
	switch ev.hdr.Kind {
	case evOpen:
		if old := a.conns[k]; old != nil {
			a.finish(k, old, ev.hdr.Ts) // fd reused and the close was missed
		}
		role := http1.RoleUnknown
		switch ev.hdr.Role {
		case roleServer:
			role = http1.RoleServer
		case roleClient:
			role = http1.RoleClient
		}
		// The BPF program announces a connection before its first data
		// and numbers each direction's records from 0, so even the loss
		// of a direction's first record shows.
		a.conns[k] = &conn{local: ev.local(), remote: ev.remote(), http: http1.NewConn(role), lastSeen: ev.hdr.Ts,
			seqKnown: [2]bool{true, true}}
		a.counters.Conns.Add(1)
		if role == http1.RoleClient && a.clientSeen != nil {
			a.clientSeen(k.pid, ev.hdr.Ts)
		}
	case evData:
		c := a.conns[k]
		if c == nil { // its open record was lost
			c = &conn{http: http1.NewConn(http1.RoleUnknown)}
			a.conns[k] = c
			a.counters.Conns.Add(1)
		}
		c.lastSeen = ev.hdr.Ts
		dir := http1.Ingress
		if ev.hdr.Dir == 1 {
			dir = http1.Egress
		}
		if c.seqKnown[dir] && ev.hdr.Seq != c.nextSeq[dir] {
			// Bytes are missing: the parser cannot know where messages
			// begin, so restart it with an unknown role; it resyncs at the
			// next request line, which also tells the role again.
			a.counters.Gaps.Add(1)
			c.http = http1.NewConn(http1.RoleUnknown)
		}
		c.seqKnown[dir], c.nextSeq[dir] = true, ev.hdr.Seq+1
		role := c.http.Role()
		if c.h2 != nil {
			role = c.h2.Role()
		}
		if ev.hdr.Task != 0 {
			a.noteTask(k, c, dir, role, ev)
		}
		if dir == http1.Egress && role == http1.RoleClient && a.clientSeen != nil {
			a.clientSeen(k.pid, ev.hdr.Ts)
		}
		if dir == http1.Ingress {
			if len(a.lastRead) >= maxThreads {
				clear(a.lastRead) // threads come and go; forget them in bulk
			}
			a.lastRead[tk] = k
		}
		if c.h2 == nil && c.http.Stats().Exchanges == 0 && startsHTTP2(ev.data) {
			role := c.http.Role()
			if role == http1.RoleUnknown {
				role = serverRole(k.pid, c.local)
			}
			c.h2 = http2.NewConn(role)
		}
		if c.h2 != nil {
			sts := c.h2.Feed(dir, ev.data, int(ev.hdr.Size), ev.hdr.Ts)
			a.h2Opened(c)
			a.h2Emit(k, c, sts)
			break
		}
		xs := c.http.Feed(dir, ev.data, int(ev.hdr.Size), ev.hdr.Ts)
		if len(xs) > 0 {
			c.lastDone = xs[len(xs)-1].RequestStart
		}
		if dir == http1.Ingress && c.http.Role() == http1.RoleClient && a.wantsClientHits(k.pid) {
			if len(xs) > 0 {
				a.park(tk, k, c, xs)
			}
			break
		}
		a.spans(k, c, xs)
	case evClose:
		if c := a.conns[k]; c != nil {
			a.finish(k, c, ev.hdr.Ts)
		}
	default:
		a.counters.BadEvents.Add(1)
	}
}

func (a *assembler) finish(k connKey, c *conn, ts uint64) {
	c.closed = true
	a.release(k, c, 0)
	a.spans(k, c, c.http.Close(ts))
	delete(a.conns, k)
	a.counters.Conns.Add(-1)
}

// expire frees connections idle since before now-connIdle.
func (a *assembler) expire(now uint64) {
	for k, c := range a.conns {
		if now-c.lastSeen > uint64(connIdle) {
			a.finish(k, c, now)
		}
	}
}

// dropPID forgets every connection of a process that is no longer traced.
func (a *assembler) dropPID(pid uint32, now uint64) {
	for k, c := range a.conns {
		if k.pid == pid {
			a.finish(k, c, now)
		}
	}
	for tk := range a.lastRead {
		if uint32(tk>>32) == pid {
			delete(a.lastRead, tk)
		}
	}
	for tk := range a.taskConn {
		if tk.pid == pid {
			delete(a.taskConn, tk)
		}
	}
	for tk := range a.taskClient {
		if tk.pid == pid {
			delete(a.taskClient, tk)
		}
	}
	for rk := range a.routes {
		if rk.pid == pid {
			delete(a.routes, rk)
		}
	}
	delete(a.resps, pid)
}

// startsHTTP2 tells whether a capture that may start a message starts an
// HTTP/2 connection (the client preface) or frame: a frame header's first
// byte is 0 for any frame under 64 KiB, which no HTTP/1 message starts
// with, and its type is at most CONTINUATION (9).
func startsHTTP2(b []byte) bool {
	if len(b) >= 4 && string(b[:4]) == http2.Preface[:4] {
		return true
	}
	return len(b) >= 9 && b[0] == 0 && b[3] <= 9 && b[5]&0x80 == 0
}

// maxThreads bounds the threads whose last read is remembered.
const maxThreads = 1 << 16

func (a *assembler) spans(k connKey, c *conn, xs []http1.Exchange) {
	if len(c.parked) > 0 && len(xs) > 0 {
		a.release(k, c, 0) // in order
	}
	for i := range xs {
		a.emitExchange(k, c, &xs[i], 0)
	}
}

func (a *assembler) emitExchange(k connKey, c *conn, x *http1.Exchange, hit uint64) {
	tg := a.meta(k.pid)
	role := c.http.Role()
	s := httpSpan(a.clock, k.pid, c, role, x, a.enrich(k.pid, c, role, x, tg, hit))
	if role != http1.RoleServer && tg != nil && tg.probed[hitTasks] {
		call := a.holdCall(callKey{c, x.RequestStart}, x.RequestStart, max(x.ResponseEnd, x.RequestEnd), s)
		if cand, ok := a.sentBy(k, c, x); ok {
			call.cands = append(call.cands, cand)
		}
		return
	}
	a.counters.Spans.Add(1)
	a.emit(s)
}

// wantsClientHits says whether pid has a probe that names the library of
// its client exchanges, which then wait for it (see parked).
func (a *assembler) wantsClientHits(pid uint32) bool {
	tg := a.meta(pid)
	return tg != nil && tg.probed[hitClient]
}
