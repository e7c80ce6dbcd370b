package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// callerContext is a W3C traceparent a test sends and the IDs it names.
type callerContext struct {
	traceID, spanID string
	sampled         bool
}

func newCaller(sampled bool) callerContext {
	b := make([]byte, 24)
	rand.Read(b)
	return callerContext{hex.EncodeToString(b[:16]), hex.EncodeToString(b[16:]), sampled}
}

func (c callerContext) traceparent() string {
	flags := "00"
	if c.sampled {
		flags = "01"
	}
	return fmt.Sprintf("00-%s-%s-%s", c.traceID, c.spanID, flags)
}

// checkJoined checks the server spans of requests sent with callers (keyed
// by what each request has alone) against them: a sampled caller's
// request is a span in its trace, its parent the caller's span, the trace
// state kept; a caller that did not sample gets no span (the default
// sampler is parentbased_always_on); a request without traceparent is the
// root of a new trace.
func checkJoined(t *testing.T, spans []jsonSpan, keyOf func(jsonSpan) string, callers map[string]callerContext, roots map[string]bool) {
	t.Helper()
	seen := map[string]bool{}
	for _, s := range spans {
		key := keyOf(s)
		seen[key] = true
		if roots[key] {
			if s.Parent.TraceID != "00000000000000000000000000000000" || s.SpanContext.TraceID == "" {
				t.Errorf("%s: want a root span, got parent %+v", key, s.Parent)
			}
			continue
		}
		c, ok := callers[key]
		if !ok {
			t.Errorf("span for a request not sent: %s", s)
			continue
		}
		if !c.sampled {
			t.Errorf("%s: the caller did not sample, yet a span was exported", key)
		}
		if s.SpanContext.TraceID != c.traceID || s.Parent.TraceID != c.traceID || s.Parent.SpanID != c.spanID || !s.Parent.Remote {
			t.Errorf("%s: span %+v parent %+v; want trace %s parent %s (remote)", key, s.SpanContext, s.Parent, c.traceID, c.spanID)
		}
		if s.SpanContext.TraceState != "vendor=rustscope-e2e" {
			t.Errorf("%s: trace state %q, want the caller's", key, s.SpanContext.TraceState)
		}
	}
	for key, c := range callers {
		if c.sampled && !seen[key] {
			t.Errorf("%s: no span for a sampled caller's request", key)
		}
	}
	for key := range roots {
		if !seen[key] {
			t.Errorf("%s: no span", key)
		}
	}
}

// TestE2ETraceparent: server spans join their callers' traces, from HTTP/1.1
// headers (axum) and from gRPC metadata over HTTP/2 (tonic).
func TestE2ETraceparent(t *testing.T) {
	needE2E(t)
	t.Run("http1", func(t *testing.T) {
		app := startServer(t, "release", "axum-server")
		rs := attach(t, app.pid())
		callers, roots := map[string]callerContext{}, map[string]bool{}
		client := &http.Client{Timeout: 5 * time.Second}
		want := 0
		for i := range 30 {
			path := fmt.Sprintf("/users/%d", i)
			req, _ := http.NewRequest("GET", app.base+path, nil)
			if i%5 == 4 {
				roots[path] = true
			} else {
				c := newCaller(i%5 != 3)
				callers[path] = c
				req.Header.Set("traceparent", c.traceparent())
				req.Header.Set("tracestate", "vendor=rustscope-e2e")
			}
			if i%5 != 3 {
				want++
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		rs.waitSpans(t, want, spanWait)
		time.Sleep(300 * time.Millisecond) // a span for an unsampled caller would show now
		checkJoined(t, rs.stop(t), func(s jsonSpan) string { return s.attr("url.path") }, callers, roots)
	})
	t.Run("grpc", func(t *testing.T) {
		srv := startServer(t, "release", "tonic-server")
		rs := attach(t, srv.pid())
		tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
		defer tr.CloseIdleConnections()
		// One connection: one span per call is told apart by its trace.
		byTrace := map[string]callerContext{}
		reused, want := 0, 0
		for i := range 20 {
			c := newCaller(i%4 != 3)
			byTrace[c.traceID] = c
			if c.sampled {
				want++
			}
			if st := grpcOverH2C(t, tr, srv.base, "7", &reused, "traceparent", c.traceparent(), "tracestate", "vendor=rustscope-e2e"); st != "0" {
				t.Fatalf("call %d: grpc-status %q", i, st)
			}
		}
		rs.waitSpans(t, want, spanWait)
		time.Sleep(300 * time.Millisecond)
		spans := rs.stop(t)
		if len(spans) != want {
			t.Errorf("%d spans, want %d (one per sampled caller)", len(spans), want)
		}
		for _, s := range spans {
			if s.Name != "demo.v1.Users/GetUser" || s.attr("rpc.grpc.status_code") != "0" {
				t.Errorf("span %s", s)
			}
		}
		checkJoined(t, spans, func(s jsonSpan) string { return s.SpanContext.TraceID }, byTrace, nil)
	})
}

// callRID is the request id a client span's call named: the last segment
// of its url.full (the test apps call DOWNSTREAM_URL/users/:rid).
func callRID(c jsonSpan) string {
	u := c.attr("url.full")
	return u[strings.LastIndexByte(u, '/')+1:]
}

// TestE2EClientCallParent: the axum routes /call/http/:rid (reqwest GET
// DOWNSTREAM_URL/users/:rid over HTTP/1.1) and /call/grpc/:rid (tonic
// GetUser over HTTP/2) each make one client call per request. At
// concurrency 32 over 500 requests no client span has a wrong parent: a
// linked one is the child of the server span of the request that made it.
// The HTTP/1 call is matched to its request by the rid in its URL; a gRPC
// call carries no rid on the wire that rustscope records, so every gRPC
// request is sent with its own traceparent and the call is matched by
// trace: the span in request R's trace must be the child of R's span.
//
// HTTP/1 calls are linked from the request side (the task that woke the
// client connection's poll) and the response side (the caller's poll the
// response read scheduled). gRPC calls are linked from the response side:
// the caller's poll scheduled by the stream's frames, directly or through
// hyper's response task; the response future that task polled; the
// stream whose body the caller reads (responses that came before anyone
// polled for them wake nobody). Every call in release and LTO builds must
// be linked. Builds without symbols cannot link: a stripped binary has no
// tokio task functions or h2 functions to probe, so its client spans are
// roots.
func TestE2EClientCallParent(t *testing.T) {
	needE2E(t)
	for _, call := range []string{"http", "grpc"} {
		for _, variant := range []string{"release", "release-lto", "release-strip"} {
			t.Run(call+"/"+variant, func(t *testing.T) { testCallParent(t, call, variant) })
		}
	}
}

func testCallParent(t *testing.T, call, variant string) {
	needE2E(t, variant+"/axum-server")
	var env string
	if call == "http" {
		env = "DOWNSTREAM_URL=" + startServer(t, "release", "axum-server").base
	} else {
		env = "GRPC_ADDR=http://127.0.0.1:" + fmt.Sprint(startServer(t, "release", "tonic-server").port)
	}
	app := startServer(t, variant, "axum-server", env)
	rs := attach(t, app.pid(), "--link-budget", "0") // every call linked, whatever the rate
	const n = 500
	callers := map[string]callerContext{} // rid -> the traceparent its request carried
	ridOfTrace := map[string]string{}
	var reqs []request
	for i := range n {
		rid := fmt.Sprint(i + 1)
		r := request{method: "GET", path: "/call/" + call + "/" + rid, status: 200}
		if call == "grpc" || i%4 == 1 {
			callers[rid] = newCaller(true)
			ridOfTrace[callers[rid].traceID] = rid
			r.header = http.Header{"Traceparent": {callers[rid].traceparent()}}
		}
		reqs = append(reqs, r)
	}
	send(t, app.base, reqs, 32)
	rs.waitSpans(t, 2*n, spanWait)
	spans := rs.stop(t)

	server := map[string]jsonSpan{}
	var clients []jsonSpan
	for _, s := range spans {
		if s.SpanKind == kindClient {
			clients = append(clients, s)
		} else if rid, ok := strings.CutPrefix(s.attr("url.path"), "/call/"+call+"/"); ok {
			server[rid] = s
		}
	}
	if len(server) != n || len(clients) != n {
		t.Fatalf("%d server spans for distinct rids and %d client spans, want %d each (of %d spans)", len(server), len(clients), n, len(spans))
	}
	linked := 0
	calls := map[string]int{} // rid -> client spans attributed to it
	for _, c := range clients {
		var rid string
		if call == "http" {
			rid = callRID(c)
		} else {
			if c.Name != "demo.v1.Users/GetUser" || c.attr("rpc.grpc.status_code") != "0" {
				t.Errorf("client span %s, want demo.v1.Users/GetUser with status 0", c)
			}
			rid = ridOfTrace[c.SpanContext.TraceID] // "": a root of its own trace
		}
		if c.Parent.SpanID == "0000000000000000" {
			if call == "grpc" && rid != "" {
				t.Errorf("client span %+v without parent in request %s's trace", c.SpanContext, rid)
			}
			continue
		}
		linked++
		s, ok := server[rid]
		if !ok {
			t.Errorf("client span %+v has parent %+v, but no server request is in its trace", c.SpanContext, c.Parent)
			continue
		}
		calls[rid]++
		if c.Parent.SpanID != s.SpanContext.SpanID || c.SpanContext.TraceID != s.SpanContext.TraceID || c.Parent.Remote {
			t.Errorf("rid %s: client span %+v parent %+v; want a child of the server span %+v", rid, c.SpanContext, c.Parent, s.SpanContext)
		}
		if cc, ok := callers[rid]; ok && c.SpanContext.TraceID != cc.traceID {
			t.Errorf("rid %s: client span in trace %s, want the caller's %s", rid, c.SpanContext.TraceID, cc.traceID)
		}
	}
	for rid, k := range calls {
		if k > 1 {
			t.Errorf("rid %s: %d client spans linked to its one call", rid, k)
		}
	}
	stop := regexp.MustCompile(`msg=stopped .*`).FindString(rs.stderr.String())
	t.Logf("%s/%s: %d of %d client spans linked to their server span (%s)", call, variant, linked, n, stop)
	switch {
	case variant == "release-strip":
		if linked != 0 {
			t.Errorf("stripped build: %d links, want none (no task probes)", linked)
		}
	case linked < n:
		t.Errorf("%d of %d client spans have their server span as parent, want every one", linked, n)
	}
}

// TestE2ETaskProbesFollowClientCalls: the tokio task probes, which only
// serve to link client calls, are removed after taskIdle (10 s) without
// client traffic and placed again by the next client connection event;
// calls after that are linked again.
func TestE2ETaskProbesFollowClientCalls(t *testing.T) {
	needE2E(t, "release/axum-server")
	down := startServer(t, "release", "axum-server")
	app := startServer(t, "release", "axum-server", "DOWNSTREAM_URL="+down.base)
	rs := attach(t, app.pid(), "--link-budget", "0")
	send(t, app.base, []request{{method: "GET", path: "/users/1", status: 200}}, 1)
	waitStderr(t, rs, "task probes removed", 20*time.Second)

	// The first call brings the probes back; it is made before they are
	// live, so it need not be linked.
	send(t, app.base, []request{{method: "GET", path: "/call/http/0", status: 200}}, 1)
	waitStderr(t, rs, "task probes placed again", 5*time.Second)
	const n = 100
	var reqs []request
	for i := range n {
		reqs = append(reqs, request{method: "GET", path: "/call/http/" + fmt.Sprint(i+1), status: 200})
	}
	send(t, app.base, reqs, 8)
	rs.waitSpans(t, 1+2*(n+1), spanWait)
	spans := rs.stop(t)
	server := map[string]jsonSpan{}
	for _, s := range spans {
		if rid, ok := strings.CutPrefix(s.attr("url.path"), "/call/http/"); ok && s.SpanKind != kindClient {
			server[rid] = s
		}
	}
	linked := 0
	for _, c := range spans {
		rid := callRID(c)
		if c.SpanKind != kindClient || rid == "0" {
			continue
		}
		if s, ok := server[rid]; ok && c.Parent.SpanID == s.SpanContext.SpanID {
			linked++
		} else {
			t.Errorf("call %s: parent %+v, want its server span", rid, c.Parent)
		}
	}
	if linked != n {
		t.Errorf("%d of %d calls linked after the probes came back", linked, n)
	}
}

// TestE2ELinkBudget: above --link-budget task polls a second the task
// probes come and go in windows (tracer/tasks.go). Calls paced at 100/s
// poll a few times the budget, so there are several windows: calls in
// them are linked to their own server span, the others are roots (counted
// as unsampled), and none has a wrong parent.
func TestE2ELinkBudget(t *testing.T) {
	needE2E(t, "release/axum-server")
	down := startServer(t, "release", "axum-server")
	app := startServer(t, "release", "axum-server", "DOWNSTREAM_URL="+down.base)
	rs := attach(t, app.pid(), "--link-budget", "200")
	const n, every = 1000, 10 * time.Millisecond
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var wg sync.WaitGroup
	var failed atomic.Int64
	tick := time.NewTicker(every)
	for i := range n {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(fmt.Sprintf("%s/call/http/%d", app.base, i+1))
			if err != nil || resp.StatusCode != 200 {
				failed.Add(1)
			}
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	tick.Stop()
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d requests failed", failed.Load(), n)
	}
	rs.waitSpans(t, 2*n, spanWait)
	spans := rs.stop(t)
	server := map[int]jsonSpan{}
	for _, s := range spans {
		if rid, ok := strings.CutPrefix(s.attr("url.path"), "/call/http/"); ok && s.SpanKind != kindClient {
			k, _ := strconv.Atoi(rid)
			server[k] = s
		}
	}
	linked := make([]bool, n+1)
	clients := 0
	for _, c := range spans {
		if c.SpanKind != kindClient {
			continue
		}
		clients++
		rid, _ := strconv.Atoi(callRID(c))
		if c.Parent.SpanID == "0000000000000000" {
			continue
		}
		if s, ok := server[rid]; !ok || c.Parent.SpanID != s.SpanContext.SpanID || c.SpanContext.TraceID != s.SpanContext.TraceID {
			t.Errorf("call %d: parent %+v, want its own server span or none", rid, c.Parent)
			continue
		}
		linked[rid] = true
	}
	if len(server) != n || clients != n {
		t.Fatalf("%d server spans and %d client spans, want %d each", len(server), clients, n)
	}
	// Runs of linked calls, in the order they were made: one per window.
	runs, count := 0, 0
	for rid := 1; rid <= n; rid++ {
		if linked[rid] {
			count++
			if !linked[rid-1] {
				runs++
			}
		}
	}
	t.Logf("%d of %d calls linked, in %d windows", count, n, runs)
	if runs < 2 || count == n {
		t.Errorf("%d of %d calls linked in %d runs: want the probes placed in several windows, some calls unlinked", count, n, runs)
	}
	stderr := rs.stderr.String()
	if !strings.Contains(stderr, "task probes removed for the link budget") {
		t.Errorf("no log of the budget; stderr:\n%s", stderr)
	}
	// A call begun in a window whose server request was read before it is
	// unlinked but not unsampled: the count is of those outside windows.
	m := regexp.MustCompile(`msg=stopped .*\blinks_unsampled=(\d+)`).FindStringSubmatch(stderr)
	unsampled := -1
	if m != nil {
		unsampled, _ = strconv.Atoi(m[1])
	}
	if unsampled < 1 || unsampled > n-count {
		t.Errorf("stop line's links_unsampled %d, want 1 to %d (the unlinked calls); stderr:\n%s", unsampled, n-count, stderr)
	}
}
