package tracer

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/rustscope/rustscope/tracer/flow"
	"github.com/rustscope/rustscope/tracer/http1"
	"github.com/rustscope/rustscope/tracer/http2"
)

// connIdle is how long a connection may stay silent before its state is
// freed: a close the tracer missed (fd closed by exec, lost event) must not
// leak memory.
const connIdle = 10 * time.Minute

// maxConns bounds the connections tracked at once, as the BPF program's
// conns map (an LRU of as many entries) does in the kernel: when closes
// were missed (lost records, fds closed by exec or exit), the least
// recently seen quarter is freed. Each connection's parser is bounded on
// its own (http1: a 64 KiB head per direction, 64 requests awaiting their
// response).
const maxConns = 1 << 16

type connKey struct {
	pid uint32
	fd  int32
}

// conn is the user-space state of one traced TCP connection.
type conn struct {
	local, remote netip.AddrPort // zero when the open was not seen
	remoteStr     string         // remote's address as text, once a span wanted it
	http          *http1.Conn
	h2            *http2.Conn         // set once the connection is seen to speak HTTP/2
	h2queue       []h2Waiting         // HTTP/2 streams waiting for their route lookup
	h2paths       map[uint32]h2Lookup // and what it said
	nextSeq       [2]uint32           // per direction: the BPF program numbers each
	seqKnown      [2]bool             // direction's records on its own
	lastSeen      uint64              // monotonic ns
	marks         []mark              // library probe hits not yet given to an exchange
	parked        []http1.Exchange
	parkedBy      uint64               // thread whose next event releases parked
	parkedAt      uint64               // when that thread's read parked them
	writes        []taskMark           // client: recent writes and the task that woke their poll
	serverCtx     map[uint64]serverCtx // server: contexts given to requests (by start) before their span
	lastClientEnd uint64               // client: when the last exchange's response ended
	lastDone      uint64               // client: the request start of the last exchange completed
	library       connLibrary          // client: the library driving it, once known (clientprobe.go)
	noLib         []Span               // client: spans waiting for library to be learnt (clientprobe.go)
	noLibAt       uint64               // when the first of them was done
	tls           bool                 // its bytes are TLS records (tls.go)
	tlsPlain      bool                 // its TLS plaintext comes from a library's probes
	tlsVersion    string               // the TLS version its records say ("1.3"), once bound
	lastFed       [2]uint64            // per direction: when its last capture fed the parser
	tlsKeys       [2]uint64            // per direction: the TLS library's key evidence bound last
	tlsBound      [2]bool              // per direction: a TLS library key was bound to it
	tlsHeld       []tlsRecord          // plaintext held until both directions are bound (tls.go)
	tlsHeldBytes  int
	tlsMarks      []mark // hits that wait for the plaintext they follow to be fed
	tlsFlowing    bool   // its plaintext is fed as it comes
	bpfRole       uint8  // the role the BPF program announced (roleServer...)
	dropped       uint64 // http.Stats().Dropped already added to Counters.Dropped
	closed        bool   // finished: a task that read it is gone too
}

// remoteAddr is the remote address as text (client.address), formatted
// once per connection rather than once per span.
func (c *conn) remoteAddr() string {
	if c.remoteStr == "" {
		c.remoteStr = c.remote.Addr().String()
	}
	return c.remoteStr
}

// opened starts tracking a connection the BPF program announced.
func (a *assembler) opened(ev *event) {
	h := &ev.head
	k := connKey{pid: h.Tgid, fd: ev.open.Fd}
	if old := a.conns[k]; old != nil {
		a.finish(k, old, h.Ts) // fd reused and the close was missed
	}
	role := flow.RoleUnknown
	switch ev.open.Role {
	case roleServer:
		role = flow.RoleServer
	case roleClient:
		role = flow.RoleClient
	}
	// The BPF program announces a connection before its first data
	// and numbers each direction's records from 0, so even the loss
	// of a direction's first record shows.
	a.add(k, &conn{local: ev.local(), remote: ev.remote(), http: http1.NewConn(role), lastSeen: h.Ts,
		seqKnown: [2]bool{true, true}, bpfRole: ev.open.Role}, h.Ts)
	if role == flow.RoleClient && a.clientSeen != nil {
		a.clientSeen(k.pid, h.Ts)
	}
}

// dirOf is a record's direction.
func dirOf(d uint8) flow.Direction {
	if d == dirEgress {
		return flow.Egress
	}
	return flow.Ingress
}

// data feeds a capture to its connection's parser, on thread tk.
func (a *assembler) data(tk uint64, ev *event) {
	h := &ev.head
	d := &ev.data
	if d.Fd < 0 { // TLS plaintext whose connection is not known yet
		a.keepTLS(tk, ev)
		return
	}
	k := connKey{pid: h.Tgid, fd: d.Fd}
	c := a.conns[k]
	if c == nil { // its open record was lost
		c = &conn{http: http1.NewConn(flow.RoleUnknown)}
		a.add(k, c, h.Ts)
	}
	c.lastSeen = h.Ts
	dir := dirOf(d.Dir)
	if c.seqKnown[dir] && d.Seq != c.nextSeq[dir] {
		a.counters.Gaps.Add(1)
		a.lose(c, dir) // bytes are missing
	}
	c.seqKnown[dir], c.nextSeq[dir] = true, d.Seq+1
	if a.tlsData(tk, ev, k, c, dir) {
		return
	}
	a.feed(tk, ev, k, c, dir)
}

// feed gives a capture of connection k, in order, to its parser. tk is
// the thread that made it, 0 for one fed late (tls.go): its thread's
// library hits were tied to k when it came.
func (a *assembler) feed(tk uint64, ev *event, k connKey, c *conn, dir flow.Direction) {
	h := &ev.head
	d := &ev.data
	c.lastFed[dir] = h.Ts
	role := c.http.Role()
	if c.h2 != nil {
		role = c.h2.Role()
	}
	if d.Task != 0 && a.tasksLive(k.pid, h.Ts) {
		a.noteTask(k, c, dir, role, d)
	}
	if dir == flow.Egress && role == flow.RoleClient {
		if a.clientSeen != nil {
			a.clientSeen(k.pid, h.Ts)
		}
		if tg := a.meta(k.pid); tg != nil && c.h2 == nil && !c.library.known {
			a.clientUnknown(tg)
		}
	}
	if dir == flow.Ingress && tk != 0 {
		a.hits.read(tk, k)
	}
	if c.h2 == nil && c.http.Stats().Exchanges == 0 && startsHTTP2(ev.captured) {
		role := c.http.Role()
		if role == flow.RoleUnknown {
			role = serverRole(k.pid, c.local)
		}
		c.h2 = http2.NewConn(role)
		if c.tlsPlain {
			// Its first plaintext may have been missed (rustls.bpf.h).
			c.h2.RequireStart(flow.Ingress)
			c.h2.RequireStart(flow.Egress)
		}
		if role != flow.RoleClient {
			a.h2Server(k.pid)
		}
	}
	if c.h2 != nil {
		sts := c.h2.Feed(dir, ev.captured, int(d.Size), h.Ts)
		a.h2Opened(k.pid, c)
		a.h2Emit(k, c, sts)
		return
	}
	xs := c.http.Feed(dir, ev.captured, int(d.Size), h.Ts)
	a.countDrops(c)
	if len(xs) > 0 {
		c.lastDone = xs[len(xs)-1].RequestStart
	}
	if dir == flow.Ingress && c.http.Role() == flow.RoleClient && a.wantsClientHits(k.pid, c) && tk != 0 {
		if len(xs) > 0 {
			a.park(tk, k, c, xs, h.Ts)
		}
		return
	}
	a.spans(k, c, xs)
}

// closed finishes a connection.
func (a *assembler) closed(ev *event) {
	h := &ev.head
	k := connKey{pid: h.Tgid, fd: ev.close.Fd}
	if c := a.conns[k]; c != nil {
		a.finish(k, c, h.Ts)
	}
}

func (a *assembler) finish(k connKey, c *conn, ts uint64) {
	c.closed = true
	a.flushNoLib(c)
	a.release(k, c, 0)
	xs := c.http.Close(ts)
	a.countDrops(c)
	a.spans(k, c, xs)
	delete(a.conns, k)
	a.counters.Conns.Add(-1)
}

// add tracks a new connection, first freeing the least recently seen
// quarter of them when maxConns are tracked: one sort per maxConns/4
// connections added.
func (a *assembler) add(k connKey, c *conn, now uint64) {
	if len(a.conns) >= maxConns {
		type aged struct {
			k    connKey
			seen uint64
		}
		all := make([]aged, 0, len(a.conns))
		for k, c := range a.conns {
			all = append(all, aged{k, c.lastSeen})
		}
		slices.SortFunc(all, func(x, y aged) int { return cmp.Compare(x.seen, y.seen) })
		for _, o := range all[:len(all)/4] {
			a.finish(o.k, a.conns[o.k], now)
		}
	}
	a.conns[k] = c
	a.counters.Conns.Add(1)
}

// restart replaces c's HTTP/1 parser after lost bytes. The requests the
// old one held are dropped and counted: their responses, or the records
// that pair them, may be among the lost bytes.
func (a *assembler) restart(c *conn, ts uint64) {
	xs := c.http.Close(ts) // close-delimited responses cut short by the gap
	a.countDrops(c)
	a.counters.Dropped.Add(uint64(len(xs)))
	c.http, c.dropped = http1.NewConn(flow.RoleUnknown), 0
}

// lose says bytes of c's direction dir were lost (a sequence jump, TLS
// plaintext let go): its parsers cannot know where messages begin, nor
// HTTP/2's what its HPACK table holds.
func (a *assembler) lose(c *conn, dir flow.Direction) {
	if c.h2 != nil {
		c.h2.Gap(dir)
		return
	}
	// HTTP/1: restart with an unknown role; it resyncs at the next
	// request line, which also tells the role again.
	a.restart(c, c.lastSeen)
}

// countDrops adds the requests c's parser dropped since the last call to
// Counters.Dropped.
func (a *assembler) countDrops(c *conn) {
	if n := c.http.Stats().Dropped; n != c.dropped {
		a.counters.Dropped.Add(n - c.dropped)
		c.dropped = n
	}
}

// expire frees connections idle since before now-connIdle.
func (a *assembler) expire(now uint64) {
	for k, c := range a.conns {
		if now-c.lastSeen > uint64(connIdle) {
			a.finish(k, c, now)
		} else if len(c.noLib) > 0 && now-c.noLibAt > noLibMax {
			a.flushNoLib(c)
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
	a.hits.drop(pid)
	for k := range a.tlsWait.keys {
		if k.pid == pid {
			a.dropTLS(k)
		}
	}
	for k := range a.tlsWait.offsets {
		if k.pid == pid {
			delete(a.tlsWait.offsets, k)
		}
	}
	a.links.drop(pid)
	a.h2routes.drop(pid)
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
	adds := a.enrich(k.pid, c, role, x, tg, hit)
	if role == flow.RoleClient && tg != nil {
		a.clientLibrary(tg, c, x, hit, &adds)
	}
	s := httpSpan(a.clock, k.pid, c, role, x, adds)
	if role != flow.RoleServer && tg != nil && tg.probed[hitTasks] {
		call := a.holdCall(callKey{c, x.RequestStart}, x.RequestStart, max(x.ResponseEnd, x.RequestEnd), s)
		if cand, ok := a.sentBy(k, c, x); ok {
			call.cands = append(call.cands, cand)
		}
		return
	}
	a.emitSpan(c, &s, x.ResponseEnd)
}

// wantsClientHits says whether c's client exchanges must wait for a hit
// that names their library (see parked): pid has the probe, in place, and
// c's library is not known yet.
func (a *assembler) wantsClientHits(pid uint32, c *conn) bool {
	tg := a.meta(pid)
	return tg != nil && tg.probed[hitClient] && !c.library.known && tg.client.isPlaced()
}
