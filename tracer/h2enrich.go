package tracer

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/rustscope/rustscope/tracer/http1"
	"github.com/rustscope/rustscope/tracer/http2"
)

// HTTP/2 streams get from axum's Node::at what HTTP/1 exchanges get (the
// route, the scope) and, on a connection opened before attach whose HPACK
// table was never seen, the one header that matters most: the path.
//
// A server's connection task reads frames, then for each new stream, in
// the order the peer opened them, calls the service, which (axum, and
// tonic's router, which is axum's) looks the path up. So the route hits on
// a connection belong, in order, to the streams it opened, each once;
// lookups in axum's fallback router (a second lookup for an unmatched
// path) are not counted.

// maxPendingStreams bounds the streams waiting for their lookup.
const maxPendingStreams = 256

// h2Lookup is what axum's router said about one stream.
type h2Lookup struct {
	path  string // as the router saw it
	route string // the template it matched, "" if none
}

// h2Opened queues the streams a Feed opened for their route lookups.
func (a *assembler) h2Opened(c *conn) {
	if c.h2.Role() != http1.RoleServer {
		return
	}
	c.h2queue = append(c.h2queue, c.h2.Opened()...)
	if n := len(c.h2queue) - maxPendingStreams; n > 0 {
		c.h2queue = c.h2queue[n:]
	}
}

// h2RouteHit gives a route lookup on an HTTP/2 connection to the oldest
// stream still waiting for one.
func (a *assembler) h2RouteHit(pid uint32, c *conn, m mark) {
	e := a.routeTable(pid, m.node)
	if e.err == nil && e.tab.Fallback {
		return // the second lookup of an unmatched path
	}
	if len(c.h2queue) == 0 || m.path == "" || m.path[0] != '/' {
		return
	}
	sid := c.h2queue[0]
	c.h2queue = c.h2queue[1:]
	l := h2Lookup{path: m.path}
	if e.err == nil {
		l.route, _ = e.tab.Match(m.path)
	}
	if c.h2paths == nil || len(c.h2paths) > 4*maxPendingStreams {
		// Streams that never finish (reset early, evicted) leave entries
		// behind: start over rather than grow.
		c.h2paths = map[uint32]h2Lookup{}
	}
	c.h2paths[sid] = l
}

// h2Emit turns finished streams into spans.
func (a *assembler) h2Emit(k connKey, c *conn, sts []http2.Stream) {
	tg := a.meta(k.pid)
	for i := range sts {
		st := &sts[i]
		l, ok := c.h2paths[st.ID]
		delete(c.h2paths, st.ID)
		var look *h2Lookup
		if path, _, _ := strings.Cut(st.Request.Path, "?"); ok && (!st.Request.Known || path == l.path) {
			look = &l // a lookup that disagrees with the decoded path is not this stream's
		}
		s := h2Span(a.clock, k.pid, c, c.h2.Role(), st, look)
		if look != nil && tg != nil {
			s.Scope = tg.crateScope("axum")
			if strings.HasSuffix(l.route, tonicServiceRoute) {
				s.Scope = tg.crateScope("tonic")
			}
		}
		if c.h2.Role() == http1.RoleClient && tg != nil && tg.probed[hitH2Frames] {
			a.holdCall(callKey{c, uint64(st.ID)}, st.RequestStart, max(st.ResponseEnd, st.RequestEnd), s)
			continue
		}
		a.counters.Spans.Add(1)
		a.emit(s)
	}
}

// tonicServiceRoute ends the route tonic's router registers per service:
// "/demo.v1.Users/*rest".
const tonicServiceRoute = "/*rest"

// serverRole decides the role of a connection first seen mid-stream (its
// accept or connect happened before attach): it is the server side when
// its local port is one the process's network namespace listens on.
func serverRole(pid uint32, local netip.AddrPort) http1.Role {
	if !local.IsValid() {
		return http1.RoleUnknown
	}
	for _, f := range []string{"tcp", "tcp6"} {
		if listens(fmt.Sprintf("/proc/%d/net/%s", pid, f), local.Port()) {
			return http1.RoleServer
		}
	}
	return http1.RoleClient
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
