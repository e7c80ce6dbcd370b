package tracer

import (
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer/http1"
)

// In-process parent/child links (docs/how-it-works.md, "Client calls under
// their server span").
//
// A handler runs in its connection's tokio task (hyper's HTTP/1 server
// polls the service future in the connection task), so the reads of a
// server connection name the task that handles its requests. A client call
// hands its request to the client connection's task over a channel; the
// send wakes that task, and the BPF task probes carry "woken by task X at
// time T" into the data events of the poll the wake scheduled. The request
// head written in that poll is thus the call of the request X's connection
// was handling at T. Anything less certain (no wake seen, several tasks
// woke it, no single request open at T) gives no parent: a wrong link is
// worse than a missing one.

type taskKey struct {
	pid  uint32
	task uint64
}

// taskMark is what a data event said about the task that made it.
type taskMark struct {
	ts, wokenBy, wokenAt uint64
}

// serverCtx is a server request's span context, given when a client call
// it made needs it as parent, before the server span itself is built.
type serverCtx struct {
	self, parent trace.SpanContext
}

const (
	maxTaskMarks = 8       // client connection writes remembered per connection
	maxTasks     = 1 << 16 // tasks whose server connection is remembered
	maxServerCtx = 64      // server requests per connection with a context given early
)

// noteTask records what a data event says about its task: which server
// connection a task reads, and which task woke the poll that wrote to a
// client connection.
func (a *assembler) noteTask(k connKey, c *conn, dir http1.Direction, role http1.Role, ev *event) {
	switch {
	case dir == http1.Ingress && role == http1.RoleServer:
		if len(a.taskConn) >= maxTasks {
			clear(a.taskConn)
		}
		a.taskConn[taskKey{k.pid, ev.hdr.Task}] = c
	case dir == http1.Egress && role == http1.RoleClient && ev.hdr.WokenBy > 1:
		if len(c.writes) >= maxTaskMarks {
			c.writes = append(c.writes[:0], c.writes[1:]...)
		}
		c.writes = append(c.writes, taskMark{ev.hdr.Ts, ev.hdr.WokenBy, ev.hdr.WokenAt})
	}
}

// linkClient makes s, the span of client exchange x on c, a child of the
// server request whose handler made the call, when that is certain.
func (a *assembler) linkClient(k connKey, c *conn, x *http1.Exchange, s *Span) {
	var m *taskMark
	for i := range c.writes {
		if c.writes[i].ts == x.RequestStart {
			m = &c.writes[i]
		}
	}
	prevEnd := c.lastClientEnd
	c.lastClientEnd = x.ResponseEnd
	if m == nil {
		return
	}
	if m.wokenAt <= prevEnd || m.wokenAt > x.RequestStart {
		// The wake came while the previous call on this connection was
		// still being answered (its caller's, not a send of this request),
		// or, impossibly, after the write.
		a.counters.LinksRefused.Add(1)
		return
	}
	srv := a.taskConn[taskKey{k.pid, m.wokenBy}]
	if srv == nil || srv.closed || srv.h2 != nil || srv.http.Role() != http1.RoleServer {
		return
	}
	req, start, ok := srv.http.Awaiting(m.wokenAt)
	if !ok || start > x.RequestStart {
		a.counters.LinksRefused.Add(1)
		return
	}
	sc := srv.serverContext(req, start)
	s.Parent, s.ParentRoot = sc.self, !sc.parent.IsValid()
	s.SpanContext = newSpanContext(sc.self)
	a.counters.Links.Add(1)
}

// serverContext returns, creating it once, the span context of the server
// request that started at start on c.
func (c *conn) serverContext(req *http1.Request, start uint64) serverCtx {
	if sc, ok := c.serverCtx[start]; ok {
		return sc
	}
	if c.serverCtx == nil || len(c.serverCtx) >= maxServerCtx {
		c.serverCtx = map[uint64]serverCtx{}
	}
	sc := serverIDs(req.Header)
	c.serverCtx[start] = sc
	return sc
}

// takeServerContext returns the span context of the server request that
// started at start on c for its span: the one its client calls already
// named, or a new one.
func (c *conn) takeServerContext(req *http1.Request, start uint64) serverCtx {
	if sc, ok := c.serverCtx[start]; ok {
		delete(c.serverCtx, start)
		return sc
	}
	return serverIDs(req.Header)
}
