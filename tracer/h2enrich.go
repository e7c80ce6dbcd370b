package tracer

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rustscope/rustscope/lib/tonic"
	"github.com/rustscope/rustscope/tracer/flow"
	"github.com/rustscope/rustscope/tracer/http2"
)

// HTTP/2 streams get from axum's route lookup what HTTP/1 exchanges get (the
// route, the scope) and, on a connection opened before attach whose HPACK
// table was never seen, the one header that matters most: the path.
//
// A server's connection task reads frames and, for each new stream in the
// order the peer opened them, calls the service; hyper-util's adapter
// turns that call into a future that the stream's own task polls, and
// that is where axum (and tonic's router, which is axum's) looks the path
// up. The runtime may poll those tasks out of order, and on another
// thread than the one that read the frames, after that thread read other
// connections. So a lookup goes to the oldest waiting stream whose
// decoded path it names: on the connection its thread last read, else on
// another connection of the process. Among streams of the same path it
// does not matter which one takes it: the route is a function of the path
// and the router (see also h2Borrow, h2Seen). A stream whose header
// block could not be decoded takes a lookup only in order, on the
// thread's connection, and only when no decoded stream claims it. Lookups
// in axum's fallback router (a second lookup for an unmatched path) are
// not counted.

// maxPendingStreams bounds the streams waiting for their lookup.
const maxPendingStreams = 256

// h2Lookup is what axum's router said about one stream.
type h2Lookup struct {
	path  string // as the router saw it
	route string // the template it matched, "" if none
	scope string // the crate of the router's probe
}

// h2Waiting is a stream waiting for its route lookup.
type h2Waiting struct {
	sid   uint32
	path  string // decoded :path without the query
	known bool   // the header block was decoded
}

// h2Routes is what HTTP/2 route lookups leave across connections.
type h2Routes struct {
	// waiting are the server connections with streams waiting for a
	// lookup, with their process; closed ones leave lazily.
	waiting map[*conn]uint32
	prune   int // size of waiting at which closed ones are swept out
	byPID   map[uint32]*h2Seen
	// serving are the processes that serve HTTP/2 (a stream opened).
	serving map[uint32]bool
	// early are lookups no waiting stream claimed, for streams opened
	// after them: TLS plaintext of a stream's request may be fed after
	// its lookup came (tls.go).
	early []h2Early
}

// h2Early is a lookup that came before its stream was opened.
type h2Early struct {
	pid uint32
	ts  uint64
	l   h2Lookup
}

// Bounds of the early lookups kept: a TLS binding comes within
// milliseconds, or the plaintext waiting for it is let go.
const (
	maxEarly = 64
	earlyAge = uint64(2 * time.Second)
)

// h2Seen is what a process's lookups said, by path. A decoded stream
// can end before its lookup comes, when a stream of the same path on
// another connection took it and its own comes later: where the process
// has a single router, the route of another lookup of the same path is
// this stream's too.
type h2Seen struct {
	node    uint64 // the router
	several bool   // lookups came from more than one router: nothing is recalled
	paths   map[string]h2Lookup
	// A stream none of whose lookups came at all (its lookup went astray)
	// gets its route from the router's table, as a lookup of its path
	// would have (h2Recall), once streams claimed lookups of their own
	// decoded paths (claimed) and none a lookup of another path (nested:
	// the router sees a part of the path).
	claimed int
	nested  bool
	scope   string
}

// maxSeenPaths bounds the paths remembered per process.
const maxSeenPaths = 1024

// drop forgets what pid's lookups said.
func (r *h2Routes) drop(pid uint32) {
	delete(r.byPID, pid)
	delete(r.serving, pid)
	r.early = slices.DeleteFunc(r.early, func(e h2Early) bool { return e.pid == pid })
}

func (r *h2Routes) remember(pid uint32, node uint64, l h2Lookup) {
	if r.byPID == nil {
		r.byPID = map[uint32]*h2Seen{}
	}
	s := r.byPID[pid]
	if s == nil {
		s = &h2Seen{node: node, paths: map[string]h2Lookup{}}
		r.byPID[pid] = s
	}
	if s.several = s.several || s.node != node; s.several {
		s.paths = nil
		return
	}
	if len(s.paths) >= maxSeenPaths {
		clear(s.paths)
	}
	s.paths[l.path] = l
}

func (r *h2Routes) recall(pid uint32, path string) (h2Lookup, bool) {
	if s := r.byPID[pid]; s != nil && !s.several {
		l, ok := s.paths[path]
		return l, ok
	}
	return h2Lookup{}, false
}

// claim notes that a stream of pid whose decoded path is streamPath
// claimed lookup l of router node.
func (r *h2Routes) claim(pid uint32, node uint64, streamPath string, l h2Lookup) {
	s := r.byPID[pid]
	if s == nil || s.node != node {
		return
	}
	if l.path == streamPath {
		s.claimed++
		s.scope = l.scope
	} else {
		s.nested = true
	}
}

// h2Recall is the lookup a stream of pid that ended without one is
// given: another of the same path's, or, where the process's one router
// saw whole paths, the route its table gives the path (h2Seen).
func (a *assembler) h2Recall(pid uint32, path string) (h2Lookup, bool) {
	r := &a.h2routes
	if l, ok := r.recall(pid, path); ok {
		return l, true
	}
	s := r.byPID[pid]
	if s == nil || s.several || s.nested || s.claimed == 0 {
		return h2Lookup{}, false
	}
	e := a.routeTable(pid, s.node)
	if e.err != nil || e.tab.Fallback || e.tab.Nests {
		return h2Lookup{}, false
	}
	route, ok := e.tab.Match(path)
	if !ok {
		return h2Lookup{}, false // the fallback's: no route
	}
	return h2Lookup{path: path, route: route, scope: s.scope}, true
}

// h2Opened queues the streams a Feed opened for their route lookups.
func (a *assembler) h2Opened(pid uint32, c *conn) {
	if c.h2.Role() != flow.RoleServer || len(c.h2.Opened()) == 0 {
		return
	}
	for _, sid := range c.h2.Opened() {
		if req := c.h2.Request(sid); req != nil { // else already reset
			path, _, _ := strings.Cut(req.Path, "?")
			c.h2queue = append(c.h2queue, h2Waiting{sid: sid, path: path, known: req.Known})
		}
	}
	if n := len(c.h2queue) - maxPendingStreams; n > 0 {
		c.h2queue = c.h2queue[n:]
	}
	r := &a.h2routes
	a.h2Served(pid)
	r.waiting[c] = pid
	// Lookups that came before their stream opened (TLS plaintext fed
	// late): the oldest of a path is its oldest stream's.
	for j := 0; j < len(r.early); j++ {
		e := r.early[j]
		if e.pid != pid || c.h2queue == nil {
			continue
		}
		if e.ts+earlyAge < c.lastSeen {
			r.early = slices.Delete(r.early, j, j+1)
			j--
			continue
		}
		if i := c.h2Find(e.l.path); i >= 0 {
			c.h2Claim(i, e.l)
			r.early = slices.Delete(r.early, j, j+1)
			j--
		}
	}
	if len(r.waiting) > r.prune {
		for o := range r.waiting {
			if o.closed || len(o.h2queue) == 0 {
				delete(r.waiting, o)
			}
		}
		r.prune = max(64, 2*len(r.waiting))
	}
}

// h2Serves reports whether pid serves HTTP/2 (a stream opened): a route
// lookup there may be a stream's, even one not opened yet (TLS plaintext
// fed late, tls.go).
func (a *assembler) h2Serves(pid uint32) bool { return a.h2routes.serving[pid] }

// h2Served notes that pid serves HTTP/2: a stream of its opened, or TLS
// plaintext it read and that waits for its binding begins with a client's
// preface (only servers read one), so that lookups meanwhile go to HTTP/2
// streams (probeHit).
func (a *assembler) h2Served(pid uint32) {
	r := &a.h2routes
	if r.waiting == nil {
		r.waiting, r.serving = map[*conn]uint32{}, map[uint32]bool{}
	}
	r.serving[pid] = true
}

// h2Find returns the index of the oldest stream waiting on c whose
// decoded path is path (as the probe copied it: a prefix when that long),
// or -1.
func (c *conn) h2Find(path string) int {
	for i, w := range c.h2queue {
		if w.known && (w.path == path || len(path) == probeStrMax && strings.HasPrefix(w.path, path)) {
			return i
		}
	}
	return -1
}

// h2RouteHit gives a route lookup made by a thread that last read c (nil:
// none, or one gone) to the stream it was made for (see above).
func (a *assembler) h2RouteHit(pid uint32, c *conn, m mark) {
	e := a.routeTable(pid, m.node)
	if e.err == nil && e.tab.Fallback {
		return // the second lookup of an unmatched path
	}
	if m.path == "" || m.path[0] != '/' {
		return
	}
	owner, i := c, -1
	if c != nil && c.h2 != nil {
		i = c.h2Find(m.path)
	}
	if i < 0 {
		for o, opid := range a.h2routes.waiting {
			if o.closed || len(o.h2queue) == 0 {
				delete(a.h2routes.waiting, o)
				continue
			}
			if opid != pid {
				continue
			}
			if j := o.h2Find(m.path); j >= 0 {
				owner, i = o, j
				break
			}
		}
	}
	if i < 0 && c != nil && len(c.h2queue) > 0 && !c.h2queue[0].known {
		i = 0
	}
	l := h2Lookup{path: m.path, scope: m.scope}
	if i >= 0 && owner.h2queue[i].known {
		l.path = owner.h2queue[i].path // whole, where the probe copied a prefix
	}
	if e.err == nil {
		l.route, _ = e.tab.Match(l.path)
		if len(l.path) < probeStrMax || i >= 0 && owner.h2queue[i].known {
			a.h2routes.remember(pid, m.node, l)
		}
		if i >= 0 && owner.h2queue[i].known {
			a.h2routes.claim(pid, m.node, owner.h2queue[i].path, l)
		}
	}
	if i < 0 {
		r := &a.h2routes
		if len(r.early) >= maxEarly {
			r.early = r.early[1:]
		}
		r.early = append(r.early, h2Early{pid: pid, ts: m.ts, l: l})
		return
	}
	owner.h2Claim(i, l)
}

// h2Claim gives lookup l to the stream waiting at index i on c.
func (owner *conn) h2Claim(i int, l h2Lookup) {
	w := owner.h2queue[i]
	owner.h2queue = slices.Delete(owner.h2queue, i, i+1)
	if owner.h2paths == nil || len(owner.h2paths) > 4*maxPendingStreams {
		// Streams that never finish (reset early, evicted) leave entries
		// behind: start over rather than grow.
		owner.h2paths = map[uint32]h2Lookup{}
	}
	owner.h2paths[w.sid] = l
}

// h2Emit turns finished streams into spans.
func (a *assembler) h2Emit(k connKey, c *conn, sts []http2.Stream) {
	tg := a.meta(k.pid)
	for i := range sts {
		st := &sts[i]
		path, _, _ := strings.Cut(st.Request.Path, "?")
		l, ok := c.h2paths[st.ID]
		delete(c.h2paths, st.ID)
		if !ok && st.Request.Known {
			l, ok = c.h2Borrow(st.ID, path)
		}
		if !ok && st.Request.Known {
			l, ok = a.h2Recall(k.pid, path)
		}
		c.h2Unqueue(st.ID)
		var look *h2Lookup
		if ok && (!st.Request.Known || path == l.path) {
			look = &l // a lookup that disagrees with the decoded path is not this stream's
		}
		s := h2Span(a.clock, k.pid, c, c.h2.Role(), st, look)
		if look != nil && tg != nil {
			s.Scope = tg.crateScope(l.scope)
			if tonic.ServiceRoute(l.route) {
				s.Scope = tg.crateScope(tonic.Library.Crate)
			}
		}
		if c.h2.Role() == flow.RoleClient && tg != nil && tg.probed[hitH2Frames] {
			a.holdCall(callKey{c, uint64(st.ID)}, st.RequestStart, max(st.ResponseEnd, st.RequestEnd), s)
			continue
		}
		a.counters.Spans.Add(1)
		a.emit(s)
	}
}

// h2Borrow takes for stream sid, done before its lookup came, the lookup
// given to a stream of the same path still open on c, which waits again:
// when two streams of one path are looked up out of order, the first hit
// went to the older one, and lookups of one path are alike.
func (c *conn) h2Borrow(sid uint32, path string) (h2Lookup, bool) {
	for other, l := range c.h2paths {
		if r := c.h2.Request(other); other != sid && l.path == path && r != nil && r.Known {
			delete(c.h2paths, other)
			c.h2queue = append(c.h2queue, h2Waiting{sid: other, path: path, known: true})
			return l, true
		}
	}
	return h2Lookup{}, false
}

// h2Unqueue forgets stream sid, done, if it still waits for a lookup: a
// later lookup is another stream's.
func (c *conn) h2Unqueue(sid uint32) {
	c.h2queue = slices.DeleteFunc(c.h2queue, func(w h2Waiting) bool { return w.sid == sid })
}

// serverRole decides the role of a connection first seen mid-stream (its
// accept or connect happened before attach): it is the server side when
// its local port is one the process's network namespace listens on.
func serverRole(pid uint32, local netip.AddrPort) flow.Role {
	if !local.IsValid() {
		return flow.RoleUnknown
	}
	for _, f := range []string{"tcp", "tcp6"} {
		if listens(fmt.Sprintf("/proc/%d/net/%s", pid, f), local.Port()) {
			return flow.RoleServer
		}
	}
	return flow.RoleClient
}

// listens reports whether the /proc/net/tcp-style table at path has a
// socket in LISTEN state on port.
func listens(path string, port uint16) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 || fs[3] != "0A" { // 0A: TCP_LISTEN
			continue
		}
		_, hexPort, ok := strings.Cut(fs[1], ":")
		if p, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && uint16(p) == port {
			return true
		}
	}
	return false
}
