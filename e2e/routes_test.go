package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestE2ERouteProbeRests: once the route probe has seen enough requests
// answered alike by the route table alone, it is removed and routes come
// from the table; every span, before and after, carries the route and
// scope the probe would have given (routes, a parameter, the nested
// router's flattened routes, 404s with no route, POSTs).
func TestE2ERouteProbeRests(t *testing.T) {
	needE2E(t)
	app := startServer(t, "release", "axum-server")
	rs := attach(t, app.pid())
	learn := axumMix(1200)
	send(t, app.base, learn, 4)
	waitStderr(t, rs, "route probe rests", 10*time.Second)
	rested := axumMix(800)
	send(t, app.base, rested, 4)
	n := len(learn) + len(rested)
	rs.waitSpans(t, n, 15*time.Second)
	spans := rs.stop(t)
	if len(spans) != n {
		t.Fatalf("got %d spans, want %d", len(spans), n)
	}
	if got, want := spanKeys(spans), requestKeys(append(learn, rested...)); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("spans do not match requests:\n%s", diffKeys(want, got))
	}
	bad := 0
	for _, s := range spans {
		route := axumRoute(s.attr("url.path"))
		want := strings.TrimSpace(s.attr("http.request.method") + " " + route)
		if s.Name != want || s.attr("http.route") != route || s.InstrumentationScope.Name != "axum" {
			if bad++; bad <= 10 {
				t.Errorf("span %q: http.route %q, scope %q; want %q, %q, axum", s.Name, s.attr("http.route"), s.InstrumentationScope.Name, want, route)
			}
		}
	}
	if bad > 10 {
		t.Errorf("%d spans wrong in all", bad)
	}
	if strings.Contains(rs.stderr.String(), "route probe stays") {
		t.Errorf("the probe was kept; stderr:\n%s", rs.stderr.String())
	}
}
