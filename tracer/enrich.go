package tracer

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rustscope/rustscope/bpf"
	"github.com/rustscope/rustscope/lib/axum"
	"github.com/rustscope/rustscope/tracer/flow"
	"github.com/rustscope/rustscope/tracer/http1"
)

// Library probe hits reach the assembler in the same ring as the bytes, in
// order per thread. A hit is tied to the connection its thread last read
// from: hyper parses a head, and axum matches its path, right after the
// read that brought it, in the same task poll. Hits wait on their
// connection as marks until the exchange they belong to completes.

// probeStrMax is the BPF program's string copy limit (PROBE_STR).
const probeStrMax = len(bpf.WireProbeEvent{}.Str)

// maxMarks bounds the marks one connection keeps (hits for requests that
// never complete must not pile up).
const maxMarks = 16

// mark is a library probe hit tied to a connection.
type mark struct {
	ts    uint64
	kind  hitKind
	scope string // the crate it names as the span's scope
	node  uint64 // hitRoute: the router
	path  string // hitRoute: the path the router was asked to match
}

// libAdds is what library probes add to one exchange's span.
type libAdds struct {
	scope Scope // zero: no probe saw the exchange
	route string
}

// Parking: hyper's client parses a response head after the read that
// brought it, so when that read also completes the exchange, the hit that
// names the library comes just after. Such an exchange waits on its
// connection (conn.parked) until the reading thread's next event: the hit,
// or anything else, which means no hit is coming. A connection's
// exchanges are emitted in order: parked ones go before any later one.
//
// Only the stream of events releases a parked exchange, never the reader
// finding the ring empty: between the read's syscall exit and the parse a
// thread can be kept off the CPU for longer than a poll interval on a busy
// machine, and an exchange released then lost its library to timing
// (reqwest client spans came out as rustscope/wire under load). parkMax
// only bounds the wait of a thread that never runs again (no hit and no
// other event: a client the probe does not see, in a process gone quiet).
const parkMax = uint64(2 * time.Second)

type routeKey struct {
	pid  uint32
	node uint64
}

type routeEntry struct {
	tab *axum.Table
	err error
}

// hitState is what library probe hits leave in the assembler.
type hitState struct {
	hit        func(cookie uint32) (hitRef, bool) // nil: no probes
	readRoutes func(pid uint32, node uint64) (*axum.Table, error)
	lastRead   map[uint64]connKey   // thread (tgid<<32|tid) -> connection it last read
	lastTLS    map[uint64]tlsKey    // thread -> TLS key whose plaintext it last read, its connection not known yet (tls.go)
	parkedBy   map[uint64][]connKey // thread -> connections it parked exchanges on
	routes     map[routeKey]*routeEntry
}

// maxThreads bounds the threads whose last read is remembered.
const maxThreads = 1 << 16

// read notes that thread tk last read connection k: the hits that follow
// on the thread are that connection's.
func (h *hitState) read(tk uint64, k connKey) {
	if len(h.lastRead) >= maxThreads {
		clear(h.lastRead) // threads come and go; forget them in bulk
	}
	h.lastRead[tk] = k
	delete(h.lastTLS, tk)
}

// readTLS notes that thread tk last read plaintext of k, a TLS key not
// bound yet: the hits that follow wait with it for its connection.
func (h *hitState) readTLS(tk uint64, k tlsKey) {
	if len(h.lastTLS) >= maxThreads {
		clear(h.lastTLS)
	}
	h.lastTLS[tk] = k
	delete(h.lastRead, tk)
}

// drop forgets what pid's hits left.
func (h *hitState) drop(pid uint32) {
	for tk := range h.lastRead {
		if uint32(tk>>32) == pid {
			delete(h.lastRead, tk)
		}
	}
	for tk := range h.parkedBy {
		if uint32(tk>>32) == pid {
			delete(h.parkedBy, tk) // its connections were finished, their exchanges released
		}
	}
	for tk := range h.lastTLS {
		if uint32(tk>>32) == pid {
			delete(h.lastTLS, tk)
		}
	}
	for rk := range h.routes {
		if rk.pid == pid {
			delete(h.routes, rk)
		}
	}
}

func newHitState() hitState {
	return hitState{readRoutes: readRoutesProc, lastRead: map[uint64]connKey{}, lastTLS: map[uint64]tlsKey{}, parkedBy: map[uint64][]connKey{}, routes: map[routeKey]*routeEntry{}}
}

// probeHit ties a library probe hit to the connection its thread last
// read from.
func (a *assembler) probeHit(tk uint64, p *bpf.WireProbeEvent) {
	a.counters.Hits.Add(1)
	if a.hits.hit == nil {
		return
	}
	ref, ok := a.hits.hit(p.Probe)
	if !ok || ref.pid != p.Head.Tgid {
		a.counters.BadEvents.Add(1)
		return
	}
	var c *conn
	if k, ok := a.hits.lastRead[tk]; ok {
		c = a.conns[k]
	}
	m := mark{ts: p.Head.Ts, kind: ref.kind, scope: ref.scope}
	if ref.kind == hitRoute {
		m.node, m.path = p.Args[1], string(p.Str[:min(int(p.StrLen), len(p.Str))])
	}
	if k, ok := a.hits.lastTLS[tk]; ok {
		// After the thread's read of TLS plaintext not bound yet: the
		// lookup waits with it, unless that plaintext is an HTTP/1
		// request of another path and the process serves HTTP/2 (as
		// below: an HTTP/2 stream's lookup).
		if ref.kind == hitRoute && a.h2Serves(p.Head.Tgid) {
			if reqPath, ok := a.tlsH1Path(k); ok {
				if _, _, ok := axum.LookupPath(reqPath, m.path, probeStrMax); !ok {
					a.h2RouteHit(p.Head.Tgid, nil, m)
					return
				}
			}
		}
		a.tlsMark(k, m)
		return
	}
	if ref.kind == hitRoute {
		// An HTTP/2 stream's lookup may run after its thread read another
		// connection (see h2enrich.go): unless that one is an HTTP/1
		// server connection with a request in progress, it is an HTTP/2
		// lookup.
		if !c.h1Serving() || !c.h1Looks(m.path, p.Head.Ts) && a.h2Serves(p.Head.Tgid) {
			a.h2RouteHit(p.Head.Tgid, c, m)
			return
		}
	}
	if c == nil {
		return
	}
	if len(c.marks) == maxMarks {
		c.marks = c.marks[1:]
	}
	c.marks = append(c.marks, m)
}

// h1Serving reports whether c is an HTTP/1 server connection with a
// request in progress, the one a route lookup right after its read is for.
func (c *conn) h1Serving() bool {
	if c == nil || c.h2 != nil || c.http.Role() != flow.RoleServer {
		return false
	}
	_, ok := c.http.Current()
	return ok
}

// h1Looks reports whether path, a route lookup's argument at ts, can be
// the lookup of the request c's server was handling then: where HTTP/1
// and HTTP/2 connections share threads, an HTTP/2 stream's lookup may
// follow its thread's read of an HTTP/1 request (it goes to the streams
// where the process serves HTTP/2: h2Serves).
func (c *conn) h1Looks(path string, ts uint64) bool {
	req, _, ok := c.http.Awaiting(ts)
	if !ok {
		return true // pipelined: enrich decides
	}
	reqPath, _, _ := strings.Cut(req.Target, "?")
	_, _, ok = axum.LookupPath(reqPath, path, probeStrMax)
	return ok
}

// park holds c's client exchanges xs, completed by thread tk's read at
// ts, until that thread's next event.
func (a *assembler) park(tk uint64, k connKey, c *conn, xs []http1.Exchange, ts uint64) {
	if len(c.parked) > 0 && c.parkedBy != tk {
		a.release(k, c, 0) // parked by another thread that has not moved on
	}
	if len(c.parked) == 0 {
		a.hits.parkedBy[tk] = append(a.hits.parkedBy[tk], k)
	}
	c.parked, c.parkedBy, c.parkedAt = append(c.parked, xs...), tk, ts
}

// release emits c's parked exchanges, in order. hit is the time of the
// probe hit that released them, 0 if something else did.
func (a *assembler) release(k connKey, c *conn, hit uint64) {
	xs := c.parked
	c.parked = nil
	for i := range xs {
		a.emitExchange(k, c, &xs[i], hit)
	}
}

// unpark releases what thread tk parked.
func (a *assembler) unpark(tk, hit uint64) {
	ks := a.hits.parkedBy[tk]
	if len(ks) == 0 {
		return
	}
	delete(a.hits.parkedBy, tk)
	for _, k := range ks {
		if c := a.conns[k]; c != nil && c.parkedBy == tk {
			a.release(k, c, hit)
		}
	}
}

// unparkAll releases every parked exchange (shutdown).
func (a *assembler) unparkAll() {
	for tk := range a.hits.parkedBy {
		a.unpark(tk, 0)
	}
}

// unparkStale releases the exchanges of threads that parked them more than
// parkMax before now and did nothing since.
func (a *assembler) unparkStale(now uint64) {
	for tk, ks := range a.hits.parkedBy {
		for _, k := range ks {
			if c := a.conns[k]; c != nil && c.parkedBy == tk && c.parkedAt+parkMax < now {
				a.unpark(tk, 0)
				break
			}
		}
	}
}

// enrich collects what the marks on c say about exchange x and drops the
// marks it used or that are too old to belong to a later exchange. hit is
// the time of the probe hit that released a parked exchange, else 0.
func (a *assembler) enrich(pid uint32, c *conn, role flow.Role, x *http1.Exchange, tg *Target, hit uint64) (l libAdds) {
	if tg == nil {
		return l
	}
	path, _, _ := strings.Cut(x.Request.Target, "?")
	var routeHits [4]mark
	nroute := 0
	defer func() {
		if role == flow.RoleServer {
			a.serverRoute(tg, x.RequestStart, path, &l, routeHits[:nroute])
		}
	}()
	if len(c.marks) == 0 {
		return l
	}
	// Server: hits between the first request byte read and the first
	// response byte written. Client: hits while the response came in, and
	// the one right after its last read (hyper parses after reading). Not
	// later ones: they belong to the next response on the connection,
	// which may be read on another thread before this exchange is released.
	from, to := x.RequestStart, x.ResponseStart
	if role == flow.RoleClient {
		from, to = x.ResponseStart, max(x.ResponseEnd, hit)
	}
	keep := c.marks[:0]
	for _, m := range c.marks {
		if m.ts > to {
			keep = append(keep, m)
			continue
		}
		if m.ts < from {
			continue
		}
		switch m.kind {
		case hitServer:
			if l.scope.Name == "" {
				l.scope = tg.crateScope(m.scope)
			}
		case hitRoute:
			l.scope = tg.crateScope(m.scope)
			if l.route == "" {
				l.route = a.route(pid, path, m)
			}
			if nroute < len(routeHits) {
				routeHits[nroute] = m
				nroute++
			}
		case hitClient:
			l.scope = tg.crateScope(m.scope)
		}
	}
	c.marks = keep
	return l
}

// serverRoute has the route probe learn from tg's server exchange of path
// begun at start, or gives it its route from the table while the probe
// rests (routes.go).
func (a *assembler) serverRoute(tg *Target, start uint64, path string, l *libAdds, hits []mark) {
	rp := &tg.routes
	if rp.addrs == nil {
		return
	}
	if len(hits) == 0 {
		if tab := a.routeTableFor(tg, start); tab != nil {
			l.scope = tg.crateScope(rp.scope)
			l.route = axum.Route(tab, "", path)
			return
		}
	}
	if live := rp.live.Load(); live != 0 && start >= live {
		a.learnRoute(tg, path, l.route, hits)
	}
}

// route returns the route template m's lookup matched, "" if none.
func (a *assembler) route(pid uint32, reqPath string, m mark) string {
	prefix, match, ok := axum.LookupPath(reqPath, m.path, probeStrMax)
	if !ok {
		a.counters.RoutesRefused.Add(1)
		a.warnOnce(pid, "route-args", "axum route lookup: path argument does not match the request path; no http.route for this process",
			"probe_path", m.path, "request_path", reqPath)
		return ""
	}
	e := a.routeTable(pid, m.node)
	if e.err != nil {
		return ""
	}
	return axum.Route(e.tab, prefix, match)
}

// routeTable returns the (cached) route table of the router at node.
func (a *assembler) routeTable(pid uint32, node uint64) *routeEntry {
	rk := routeKey{pid, node}
	e := a.hits.routes[rk]
	if e == nil {
		e = &routeEntry{}
		e.tab, e.err = a.hits.readRoutes(pid, node)
		a.hits.routes[rk] = e
		if e.err != nil {
			a.warnOnce(pid, fmt.Sprint("route-table-", node), "axum route table not read; no http.route from this router", "node", fmt.Sprintf("%#x", node), "err", e.err)
		} else {
			a.log.Info("axum route table read", "pid", pid, "node", fmt.Sprintf("%#x", node), "templates", e.tab.Templates, "fallback", e.tab.Fallback)
		}
	}
	return e
}

// readRoutesProc reads an axum route table from the process's memory.
func readRoutesProc(pid uint32, node uint64) (*axum.Table, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return nil, fmt.Errorf("open process memory: %w", err)
	}
	defer f.Close()
	return axum.Read(f, node)
}

// crateScope is the instrumentation scope for crate as linked into tg.
func (tg *Target) crateScope(crate string) Scope {
	s := Scope{Name: crate}
	if tg.Analysis != nil {
		s.Version, _ = tg.Analysis.Crate(crate)
	}
	return s
}
