package tracer

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/rustscope/rustscope/tracer/http1"
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
	nextSeq       [2]uint32 // per direction: the BPF program numbers each
	seqKnown      [2]bool   // direction's records on its own
	lastSeen      uint64    // monotonic ns
}

// Counters are the tracer's running totals; all fields are read atomically.
type Counters struct {
	Events    atomic.Uint64 // ring-buffer records decoded
	BadEvents atomic.Uint64 // records that failed to decode
	Gaps      atomic.Uint64 // per-connection sequence jumps (records lost in the kernel)
	Spans     atomic.Uint64 // spans emitted
	Conns     atomic.Int64  // connections tracked now
}

// assembler turns the ordered event stream into spans. It is used by one
// goroutine only.
type assembler struct {
	conns    map[connKey]*conn
	clock    clock
	counters *Counters
	emit     func(Span)
	meta     func(pid uint32) *Target
}

func newAssembler(c clock, counters *Counters, meta func(uint32) *Target, emit func(Span)) *assembler {
	return &assembler{conns: map[connKey]*conn{}, clock: c, counters: counters, emit: emit, meta: meta}
}

func (a *assembler) handle(ev *event) {
	a.counters.Events.Add(1)
	k := connKey{pid: ev.hdr.Tgid, fd: ev.hdr.Fd}
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
		a.spans(k, c, c.http.Feed(dir, ev.data, int(ev.hdr.Size), ev.hdr.Ts))
	case evClose:
		if c := a.conns[k]; c != nil {
			a.finish(k, c, ev.hdr.Ts)
		}
	default:
		a.counters.BadEvents.Add(1)
	}
}

func (a *assembler) finish(k connKey, c *conn, ts uint64) {
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
}

func (a *assembler) spans(k connKey, c *conn, xs []http1.Exchange) {
	for i := range xs {
		s := httpSpan(a.clock, k.pid, c, c.http.Role(), &xs[i], a.meta(k.pid))
		a.counters.Spans.Add(1)
		a.emit(s)
	}
}
