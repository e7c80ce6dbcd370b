package tracer

import (
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/bpf"
	"github.com/rustscope/rustscope/lib/h2"
	"github.com/rustscope/rustscope/tracer/flow"
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

// tasksLive says whether pid's task probes were placed at ts and stayed:
// only then do the task fields of its events count (tasks.go). What an
// earlier placement taught is forgotten at the first event after a new
// one: a task seen then may have ended, its memory serving another.
func (a *assembler) tasksLive(pid uint32, ts uint64) bool {
	tg := a.meta(pid)
	if tg == nil {
		return false
	}
	if live := tg.tasks.live.Load(); live != a.links.window[pid] {
		a.links.dropTasks(pid)
		a.links.window[pid] = live
	}
	return tg.tasks.liveAt(ts)
}

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
	maxCalls     = 1 << 14 // client calls with candidate parents
	maxTasks     = 1 << 16 // tasks whose server connection is remembered
	maxServerCtx = 64      // server requests per connection with a context given early
)

// noteTask records what a data event says about its task: which server
// connection a task reads, which client connection a task reads (the task
// that decodes an HTTP/2 client connection's frames), and which task woke
// the poll that wrote to an HTTP/1 client connection.
func (a *assembler) noteTask(k connKey, c *conn, dir flow.Direction, role flow.Role, d *bpf.WireDataEvent) {
	tk := taskKey{k.pid, d.Task}
	switch {
	case dir == flow.Ingress && role == flow.RoleServer:
		if len(a.links.taskConn) >= maxTasks {
			clear(a.links.taskConn)
		}
		a.links.taskConn[tk] = c
	case dir == flow.Ingress && role == flow.RoleClient:
		if len(a.links.taskClient) >= maxTasks {
			clear(a.links.taskClient)
		}
		a.links.taskClient[tk] = c
	case dir == flow.Egress && role == flow.RoleClient && c.h2 == nil && d.WokenBy > 1:
		if len(c.writes) >= maxTaskMarks {
			c.writes = append(c.writes[:0], c.writes[1:]...)
		}
		c.writes = append(c.writes, taskMark{d.Head.Ts, d.WokenBy, d.WokenAt})
	}
}

// sentBy returns the server request that the request side names as the
// caller of client exchange x on c: the request the waking task's server
// connection was handling when it woke the poll that wrote x's head.
func (a *assembler) sentBy(k connKey, c *conn, x *http1.Exchange) (callCand, bool) {
	var m *taskMark
	for i := range c.writes {
		if c.writes[i].ts == x.RequestStart {
			m = &c.writes[i]
		}
	}
	prevEnd := c.lastClientEnd
	c.lastClientEnd = x.ResponseEnd
	if m == nil {
		return callCand{}, false // no single waker
	}
	if m.wokenAt <= prevEnd || m.wokenAt > x.RequestStart {
		// The wake came while the previous call on this connection was
		// still being answered (its caller's, not a send of this
		// request), or, impossibly, after the write.
		a.counters.LinksRefused.Add(1)
		return callCand{}, false
	}
	srv := a.links.taskConn[taskKey{k.pid, m.wokenBy}]
	if srv == nil || srv.closed || srv.h2 != nil || srv.http.Role() != flow.RoleServer {
		return callCand{}, false
	}
	req, start, ok := srv.http.Awaiting(m.wokenAt)
	if !ok {
		a.counters.LinksRefused.Add(1)
		return callCand{}, false
	}
	return callCand{srv: srv, reqStart: start, sc: srv.serverContext(req, start), at: m.wokenAt, sent: true}, true
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
	sc := serverIDs((*h1Carrier)(&req.Header))
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
	return serverIDs((*h1Carrier)(&req.Header))
}

// The response side. A call's request passes through tasks that batch
// many callers (tower's Buffer worker, hyper's client task, h2's
// connection task), but its response comes back to its caller alone: the
// task that reads the client connection (an HTTP/1 response, or an HTTP/2
// frame whose stream BPF h2_frame reads from the frame header) wakes the
// caller, directly or through hyper's per-request response task (hop 1),
// and the caller's next poll is reported as a task event. A caller that is
// a server connection's task names the request it was handling then.
//
// A finished client span waits (callHold) for those events and takes a
// parent only when every possible candidate, from either side, names the
// same request (see parent).

// callHold is how long a finished client span waits for the task events
// its response caused (event time).
const callHold = uint64(100 * time.Millisecond)

// h1Read is the "stream" of a task event caused by a read from an HTTP/1
// client connection (BPF H1_READ; HTTP/2 stream ids have 31 bits).
const h1Read = 0x80000000

// linkState is what the task events leave in the assembler: which
// connections tasks read, and the client calls waiting for their parent.
type linkState struct {
	window     map[uint32]uint64 // per process: the placement of the task probes taskConn and taskClient come from
	taskConn   map[taskKey]*conn // tokio task -> server connection it reads
	taskClient map[taskKey]*conn // tokio task -> client connection it reads
	calls      map[callKey]*clientCall
	resps      map[uint32]*respLayout // per process: h2 stream handles
	held       []callKey              // finished client spans waiting for their parent, by due time
}

// drop forgets pid's tasks and stream handles.
func (l *linkState) drop(pid uint32) {
	l.dropTasks(pid)
	delete(l.window, pid)
	delete(l.resps, pid)
}

// dropTasks forgets pid's tasks.
func (l *linkState) dropTasks(pid uint32) {
	for tk := range l.taskConn {
		if tk.pid == pid {
			delete(l.taskConn, tk)
		}
	}
	for tk := range l.taskClient {
		if tk.pid == pid {
			delete(l.taskClient, tk)
		}
	}
}

func newLinkState() linkState {
	return linkState{window: map[uint32]uint64{}, taskConn: map[taskKey]*conn{}, taskClient: map[taskKey]*conn{}, calls: map[callKey]*clientCall{}, resps: map[uint32]*respLayout{}}
}

type callKey struct {
	c  *conn  // the client connection (not its fd: fds are reused)
	id uint64 // HTTP/2: the stream; HTTP/1: the exchange's request start
}

// clientCall is what is known of one client call's caller.
type clientCall struct {
	cands []callCand
	span  *Span  // the finished span, held until due
	start uint64 // the call's request start
	due   uint64
}

// callCand is a server request named as a call's caller.
type callCand struct {
	srv      *conn
	reqStart uint64
	sc       serverCtx
	at       uint64 // the caller's poll (response side) or wake (request side)
	sent     bool   // from the request side
}

// taskPolled handles a task event: task t.Task was polled because task
// t.Origin read a response (HTTP/1, stream h1Read) or a frame of stream
// t.Stream and woke it, directly or (hop 1) through task t.WokenBy; or
// because t.WokenBy, having polled an HTTP/2 client stream's response
// future (t.Resp), woke it.
func (a *assembler) taskPolled(t *bpf.WireTaskEvent) {
	pid := t.Head.Tgid
	if t.Origin > 1 && t.Resp[0] != 0 {
		a.learnResp(t)
	}
	srv := a.taskServer(pid, t.Task)
	if srv == nil {
		return
	}
	if (t.Hop > 0 || t.Origin == 0) && (t.WokenBy <= 1 || a.links.taskConn[taskKey{pid, t.WokenBy}] != nil) {
		// Passed on by another handler (one that dropped a pooled
		// connection, say), not delivered by a response task.
		return
	}
	var cc *conn
	var id uint64
	switch {
	case t.Origin > 1:
		if cc = a.links.taskClient[taskKey{pid, t.Origin}]; cc == nil {
			return
		}
		switch {
		case t.Stream == h1Read && cc.h2 == nil && cc.http.Role() == flow.RoleClient:
			// The exchange being answered: still open, or the last one done.
			var ok bool
			if id, ok = cc.http.Current(); !ok {
				id = cc.lastDone
			}
		case t.Stream != h1Read && cc.h2 != nil && cc.h2.Role() == flow.RoleClient:
			id = uint64(t.Stream)
		default:
			return
		}
	case t.Origin == 0 && t.Resp[0] != 0:
		// No frame woke the response task, or nobody woke the caller:
		// the response was there before they polled. The response
		// future the waker polled names the stream.
		a.addCandByHandle(pid, t.Resp, srv, t.Head.Ts)
		return
	default:
		return
	}
	if cand, ok := a.candAt(srv, t.Head.Ts); ok {
		a.addCand(cc, id, cand)
	}
}

// bodyRead handles a body event: task b.Task read the body of the stream
// whose handle b.Recv holds, which names the call even when the response
// and its body came before the caller polled, so that nobody woke it.
func (a *assembler) bodyRead(b *bpf.WireBodyEvent) {
	pid := b.Head.Tgid
	srv := a.taskServer(pid, b.Task)
	if srv == nil || b.Recv[0] == 0 {
		return
	}
	a.addCandByHandle(pid, b.Recv, srv, b.Head.Ts)
}

// addCandByHandle names the request srv awaits at ts as a caller of the
// client stream that handle names. The caller is taken now, while srv's
// state is that of ts; the stream, when pid's handle layout is not known
// yet, once it is.
func (a *assembler) addCandByHandle(pid uint32, handle [2]uint64, srv *conn, ts uint64) {
	cand, ok := a.candAt(srv, ts)
	if !ok {
		return
	}
	cc, id, known := a.byHandle(pid, handle)
	switch {
	case !known:
		if l := a.respLayout(pid); len(l.pending) < maxRespPending {
			l.pending = append(l.pending, heldCand{handle, cand})
		}
	case cc != nil:
		a.addCand(cc, id, cand)
	}
}

// taskServer returns the open HTTP/1 server connection task reads, if any.
func (a *assembler) taskServer(pid uint32, task uint64) *conn {
	srv := a.links.taskConn[taskKey{pid, task}]
	if srv == nil || srv.closed || srv.h2 != nil || srv.http.Role() != flow.RoleServer {
		return nil
	}
	return srv
}

// candAt returns the request srv awaits a response for at ts, as a
// candidate caller.
func (a *assembler) candAt(srv *conn, ts uint64) (callCand, bool) {
	req, start, ok := srv.http.Awaiting(ts)
	if !ok {
		a.counters.LinksRefused.Add(1)
		return callCand{}, false
	}
	return callCand{srv: srv, reqStart: start, sc: srv.serverContext(req, start), at: ts}, true
}

// addCand names cand as a caller of client call id on cc.
func (a *assembler) addCand(cc *conn, id uint64, cand callCand) {
	call := a.call(callKey{cc, id})
	if len(call.cands) < 8 {
		call.cands = append(call.cands, cand)
	}
}

// byHandle returns the HTTP/2 client connection and stream that the first
// 16 bytes of an h2 stream handle (h2.StreamRef) name:
// known is false while pid's handle layout is not, cc nil when the handle
// names no open client connection.
func (a *assembler) byHandle(pid uint32, handle [2]uint64) (cc *conn, id uint64, known bool) {
	l := a.respLayout(pid)
	half, _, ok := l.ref.Trusted()
	if !ok {
		return nil, 0, false
	}
	if cc = l.stores[handle[0]]; cc == nil || cc.closed || cc.h2 == nil || cc.h2.Role() != flow.RoleClient {
		return nil, 0, true
	}
	return cc, uint64(h2.StreamID(handle[1], half)), true
}

// heldCand is a caller named for a stream by handle alone, kept until
// the handle layout is known.
type heldCand struct {
	handle [2]uint64
	cand   callCand
}

// respLayout is what one process's wakes have taught about h2's client
// stream handles (h2.StreamRef), and which client connection each stream
// store pointer belongs to.
type respLayout struct {
	ref     h2.StreamRef
	stores  map[uint64]*conn // store pointer -> client connection (nil: seen with two)
	pending []heldCand       // callers named before the layout was known
}

const (
	maxRespPending = 256  // callers kept until then
	maxRespStores  = 4096 // store pointers remembered per process
)

func (a *assembler) respLayout(pid uint32) *respLayout {
	l := a.links.resps[pid]
	if l == nil {
		l = &respLayout{stores: map[uint64]*conn{}}
		a.links.resps[pid] = l
	}
	return l
}

// learnResp takes a sample from a task event that names the stream both
// by frame (t.Origin read stream t.Stream) and by the response future its
// waker polled.
func (a *assembler) learnResp(t *bpf.WireTaskEvent) {
	store, key := t.Resp[0], t.Resp[1]
	cc := a.links.taskClient[taskKey{t.Head.Tgid, t.Origin}]
	if cc == nil || cc.h2 == nil || cc.h2.Role() != flow.RoleClient || t.Stream == h1Read {
		return
	}
	l := a.respLayout(t.Head.Tgid)
	_, _, was := l.ref.Trusted()
	if l.ref.Learn(key, t.Stream) {
		a.warnOnce(t.Head.Tgid, "h2-stream-ref", "h2 response futures do not name their stream where expected: calls whose response came before their task polled stay unlinked",
			"stream", t.Stream, "key", fmt.Sprintf("%#x", key))
	}
	if len(l.stores) >= maxRespStores {
		clear(l.stores)
	}
	if old, ok := l.stores[store]; !ok || old != nil && old.closed {
		l.stores[store] = cc // a store freed with its connection may come back for another
	} else if old != cc {
		l.stores[store] = nil
	}
	if h, n, now := l.ref.Trusted(); now && !was {
		a.log.Info("h2 response futures: stream id layout learnt", "pid", t.Head.Tgid, "half", h, "samples", n, "pending", len(l.pending))
		pending := l.pending
		l.pending = nil
		for _, p := range pending {
			if cc, id, _ := a.byHandle(t.Head.Tgid, p.handle); cc != nil {
				a.addCand(cc, id, p.cand)
			}
		}
	}
}

func (a *assembler) call(key callKey) *clientCall {
	call := a.links.calls[key]
	if call == nil {
		if len(a.links.calls) >= maxCalls {
			a.dropUnheldCalls()
		}
		call = &clientCall{}
		a.links.calls[key] = call
	}
	return call
}

// holdCall keeps the finished span s of the call key, whose request
// started at start and which ended at end, until the task events of its
// response have come, and returns the call.
func (a *assembler) holdCall(key callKey, start, end uint64, s Span) *clientCall {
	call := a.call(key)
	call.span, call.start, call.due = &s, start, end+callHold
	a.links.held = append(a.links.held, key)
	return call
}

// releaseCalls emits the held spans due by now, each with its parent when
// one is certain.
func (a *assembler) releaseCalls(now uint64) {
	n := 0
	for _, key := range a.links.held {
		call := a.links.calls[key]
		if call.due > now {
			break
		}
		n++
		delete(a.links.calls, key)
		s := call.span
		if cand, ok := call.parent(); ok {
			s.Parent, s.ParentRoot = cand.sc.self, !cand.sc.parent.IsValid()
			s.SpanContext = newSpanContext(cand.sc.self)
			a.counters.Links.Add(1)
		} else if !a.tasksLive(s.PID, call.start) || !a.tasksLive(s.PID, call.due) {
			// The task probes were away for part of the call or of the
			// wait for its response side's events.
			a.counters.LinksUnsampled.Add(1)
		} else if len(call.cands) > 0 {
			a.counters.LinksRefused.Add(1)
		}
		a.emitSpan(key.c, s, call.due)
	}
	a.links.held = append(a.links.held[:0], a.links.held[n:]...)
}

// parent is the one server request every possible candidate names: one
// that began before the call and, seen from the response side, was still
// running after the call began. The others cannot have made the call.
func (call *clientCall) parent() (callCand, bool) {
	var pick *callCand
	for i := range call.cands {
		cand := &call.cands[i]
		if cand.reqStart > call.start || !cand.sent && cand.at < call.start {
			continue
		}
		if pick != nil && (pick.srv != cand.srv || pick.reqStart != cand.reqStart) {
			return callCand{}, false
		}
		pick = cand
	}
	if pick == nil {
		return callCand{}, false
	}
	return *pick, true
}

// dropUnheldCalls forgets candidates of calls whose span has not come (an
// exchange the parser never finished): the table stays bounded.
func (a *assembler) dropUnheldCalls() {
	for key, call := range a.links.calls {
		if call.span == nil {
			delete(a.links.calls, key)
		}
	}
}
