package tracer

import (
	"testing"

	"github.com/rustscope/rustscope/lib/axum"
)

// TestRouteProbeLearns: the route probe learns from the requests it sees
// whether the route table alone gives their routes, and while it rests
// the table gives them; anything the table cannot stand for keeps it.
func TestRouteProbeLearns(t *testing.T) {
	resp := "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
	// a request's route lookups: the router node and the path it was asked.
	type lookup struct {
		node uint64
		path string
	}
	type req struct {
		path    string
		lookups []lookup
	}
	hit := func(p string) req { return req{p, []lookup{{testNode, p}}} }
	for _, tc := range []struct {
		name  string
		live  bool  // the probe is placed (else it rests, learnt)
		reqs  []req // in order
		agree int
		never string
		// the last request's span
		scope, route string
	}{
		{name: "one router: each request agrees", live: true,
			reqs:  []req{hit("/users/1"), hit("/health"), hit("/users/new")},
			agree: 3, scope: "axum", route: "/users/new"},
		{name: "an unmatched path's fallback lookup changes nothing", live: true,
			reqs:  []req{hit("/users/1"), {"/nope", []lookup{{testNode, "/nope"}, {testNode + 0x1000, "/nope"}}}},
			agree: 2, scope: "axum", route: ""},
		{name: "a request the router did not see starts the count again", live: true,
			reqs:  []req{hit("/users/1"), hit("/users/2"), {"/users/3", nil}},
			agree: 0, scope: "rustscope/wire", route: ""},
		{name: "a lookup under a prefix: nested routers", live: true,
			reqs:  []req{hit("/users/1"), {"/api/users/2", []lookup{{testNode, "/users/2"}}}},
			agree: 1, never: "nested routers (a lookup under a prefix)", scope: "axum", route: "/api/users/:id"},
		{name: "a second router", live: true,
			reqs:  []req{hit("/users/1"), {"/users/2", []lookup{{testNode + 0x2000, "/users/2"}}}},
			agree: 1, never: "several routers", scope: "axum", route: "/users/:id"},
		{name: "a router with a nested service", live: true,
			reqs:  []req{{"/users/2", []lookup{{testNode + 0x3000, "/users/2"}}}},
			never: "nested services", scope: "axum", route: "/users/:id"},
		{name: "resting: the table gives the route", live: false,
			reqs:  []req{hit("/users/1"), {"/users/9", nil}},
			agree: 1, scope: "axum", route: "/users/:id"},
		{name: "resting: no route where the table has none", live: false,
			reqs:  []req{hit("/users/1"), {"/other", nil}},
			agree: 1, scope: "axum", route: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var spans []Span
			var c Counters
			a := probedAssembler(&spans, &c)
			read := a.hits.readRoutes
			a.hits.readRoutes = func(pid uint32, node uint64) (*axum.Table, error) {
				switch node {
				case testNode + 0x2000:
					return axum.NewTable([]string{"/users/:id", "/x"}), nil
				case testNode + 0x3000:
					return axum.NewTable([]string{"/users/:id", "/api/*__private__axum_nest_tail_param"}), nil
				}
				return read(pid, node)
			}
			tg := a.meta(42)
			tg.routes.addrs = []uint64{0x1000}
			tg.routes.scope = "axum"
			tg.routes.live.Store(1)
			feed(t, a, openRec(7, roleServer, 100))
			ts, seq := uint64(1000), uint32(0)
			for i, r := range tc.reqs {
				if i == len(tc.reqs)-1 && !tc.live {
					tg.routes.live.Store(0) // learnt: the probe rests
				}
				feed(t, a, withTid(dataRec(7, 0, seq, ts, "GET "+r.path+" HTTP/1.1\r\nHost: h\r\n\r\n", 0), 5))
				for j, l := range r.lookups {
					feed(t, a, probeRec(5, 1, ts+uint64(10+j), [6]uint64{0, l.node, 0, uint64(len(l.path))}, l.path))
				}
				feed(t, a, withTid(dataRec(7, 1, seq, ts+100, resp, 0), 5))
				ts, seq = ts+1000, seq+1
			}
			if tg.routes.agree != tc.agree || tg.routes.never != tc.never {
				t.Errorf("agree %d never %q, want %d %q", tg.routes.agree, tg.routes.never, tc.agree, tc.never)
			}
			if len(spans) != len(tc.reqs) {
				t.Fatalf("%d spans, want %d", len(spans), len(tc.reqs))
			}
			s := spans[len(spans)-1]
			if s.Scope.Name != tc.scope || attr(s, "http.route") != tc.route {
				t.Errorf("last span: scope %q route %q, want %q %q", s.Scope.Name, attr(s, "http.route"), tc.scope, tc.route)
			}
		})
	}
}
