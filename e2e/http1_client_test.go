package e2e

// The end-to-end HTTP/1.1 matrix of the clients (reqwest and hyper's
// client against a recording Go server), downstream calls and isolation.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rustscope/rustscope/tracer"
)

// recordingServer is a Go HTTP server that records every exchange as the
// client span of its client must describe it.
type recordingServer struct {
	base string
	port int
	mu   sync.Mutex
	keys []string
}

func startRecordingServer(t *testing.T) *recordingServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingServer{base: "http://" + ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port}
	big := bytes.Repeat([]byte("0123456789abcdef"), bigBody/16)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		cw := &countingWriter{ResponseWriter: w, status: 200}
		path := r.URL.Path
		switch {
		case path == "/echo":
			cw.Write(body)
		case path == "/big":
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			cw.Write(big)
		case path == "/chunked": // five flushed writes: chunked framing
			for i := range 5 {
				fmt.Fprintf(cw, "chunk %d\n", i)
				w.(http.Flusher).Flush()
			}
		case path == "/stream": // 300 KiB in chunks of many sizes: size lines deep in large reads
			for i := range 100 {
				cw.Write(big[:1+(i*997)%6000])
				if i%3 == 0 {
					w.(http.Flusher).Flush()
				}
			}
		case path == "/bighead": // a response head longer than one capture
			w.Header().Set("X-Pad", strings.Repeat("p", 10000))
			io.WriteString(cw, "ok")
		case strings.HasPrefix(path, "/status/"):
			code, _ := strconv.Atoi(strings.TrimPrefix(path, "/status/"))
			cw.WriteHeader(code)
			fmt.Fprintf(cw, "status %d\n", code)
		case path == "/users/0":
			cw.Header().Set("Content-Type", "application/json")
			cw.WriteHeader(404)
			io.WriteString(cw, `{"error":"user not found","id":"0"}`)
		case strings.HasPrefix(path, "/users/"):
			id := strings.TrimPrefix(path, "/users/")
			cw.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(cw, `{"id":%q,"name":"user-%s"}`, id, id)
		default:
			cw.WriteHeader(404)
			io.WriteString(cw, "not found\n")
		}
		full := rec.base + path
		if q := redactedQuery(r.RequestURI); q != "" {
			full += "?" + q
		}
		k := clientKey(r.Method, full, cw.status, len(body), cw.n)
		rec.mu.Lock()
		rec.keys = append(rec.keys, k)
		rec.mu.Unlock()
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return rec
}

// take returns and forgets the exchanges recorded so far.
func (s *recordingServer) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys
	s.keys = nil
	return k
}

type countingWriter struct {
	http.ResponseWriter
	status int
	n      int
}

func (w *countingWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += n
	return n, err
}
func (w *countingWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

func clientKey(method, full string, status, reqBody, respBody int) string {
	return fmt.Sprintf("%s %s %d %d %d", method, full, status, reqBody, respBody)
}

func clientSpanKey(s jsonSpan) string {
	return fmt.Sprintf("%s %s %s %s %s", s.attr("http.request.method"), s.attr("url.full"),
		s.attr("http.response.status_code"), s.attr("http.request.body.size"), s.attr("http.response.body.size"))
}

// checkClientSpans checks the attributes every client span to a server
// at 127.0.0.1:port must have.
func checkClientSpans(t *testing.T, spans []jsonSpan, exp libExpect, pid, port int, from, to time.Time) {
	t.Helper()
	bad := 0
	for _, s := range spans {
		code, _ := strconv.Atoi(s.attr("http.response.status_code"))
		errs := s.attrDiffs(map[string]string{
			"server.address":           "127.0.0.1",
			"server.port":              strconv.Itoa(port),
			"network.protocol.name":    "http",
			"network.protocol.version": "1.1",
		})
		if s.SpanKind != kindClient {
			errs = append(errs, fmt.Sprintf("kind %d, want %d (client)", s.SpanKind, kindClient))
		}
		if s.Name != s.attr("http.request.method") {
			errs = append(errs, fmt.Sprintf("name %q is not the method", s.Name))
		}
		if sc := s.InstrumentationScope; sc.Name != exp.scope || (exp.version != "" && sc.Version != exp.version) {
			errs = append(errs, fmt.Sprintf("scope %s %s, want %s %s", sc.Name, sc.Version, exp.scope, exp.version))
		}
		if s.hasAttr("url.path") || s.hasAttr("client.address") {
			errs = append(errs, "client span with server-side attributes")
		}
		if wantErr := code >= 400; (s.Status.Code == "Error") != wantErr {
			errs = append(errs, fmt.Sprintf("status %d but span status %q", code, s.Status.Code))
		}
		if p := s.resource("process.pid"); p != strconv.Itoa(pid) {
			errs = append(errs, fmt.Sprintf("resource process.pid = %s, want %d", p, pid))
		}
		if s.duration() <= 0 || s.StartTime.Before(from) || s.EndTime.After(to) {
			errs = append(errs, fmt.Sprintf("span time not within the traffic's %s..%s",
				from.Format("15:04:05.000000"), to.Format("15:04:05.000000")))
		}
		for _, e := range errs {
			if bad++; bad <= 30 {
				t.Errorf("%s\n    span: %s", e, s)
			}
		}
	}
}

// TestE2EClientMatrix: rustscope attached to each reqwest client variant
// sees exactly one correct client span per request of 504 sent at
// concurrency 32: a GET mix (200, 404, 500, chunked, 1 MiB, a query) and a
// POST mix with 100 kB bodies.
func TestE2EClientMatrix(t *testing.T) {
	needE2E(t)
	clientMatrix(t, nil)
}

// clientMatrix runs each client build against a recording server and
// checks every client span. started, if not nil, is given each client's
// pid before it sends.
func clientMatrix(t *testing.T, started func(pid int)) {
	srv := startRecordingServer(t)
	for _, row := range []struct{ variant, app string }{
		{"release", "reqwest-client"},
		{"release-strip", "reqwest-client"},
		{"release-lto", "reqwest-client"},
		{"release-rustc185", "reqwest-client"},
		{"release-v0", "reqwest-client"},
		{"legacy-release", "reqwest011-client"},
	} {
		t.Run(row.variant+"/"+row.app, func(t *testing.T) {
			needE2E(t, row.variant+"/"+row.app)
			for _, run := range []struct {
				name  string
				count int
				args  []string
				paths []string
			}{
				{"GET", 400, []string{"--concurrency", "32"},
					[]string{"/users/7?token=s3cret", "/users/0", "/status/500", "/chunked", "/health", "/status/503", "/big", "/status/204", "/stream", "/bighead"}},
				{"POST", 104, []string{"--concurrency", "32", "--method", "POST", "--body-size", "100000"},
					[]string{"/echo", "/status/500", "/users/0", "/orders"}},
			} {
				t.Run(run.name, func(t *testing.T) {
					args := append([]string{"--count", strconv.Itoa(run.count)}, run.args...)
					for _, p := range run.paths {
						args = append(args, "--url", srv.base+p)
					}
					cl := startWaitClient(t, row.variant, row.app, args...)
					if started != nil {
						started(cl.cmd.Process.Pid)
					}
					rs := attach(t, cl.cmd.Process.Pid, "--log-level", "debug")
					srv.take()
					from := time.Now()
					summary := cl.run(t)
					to := time.Now()
					// "done" comes after the client read its last response:
					// every record is in the ring, and rustscope drains the
					// ring before it exits.
					spans := rs.stop(t)
					cl.finish(t)
					want := srv.take()
					if len(want) != run.count {
						t.Fatalf("server saw %d requests, want %d (client: %s)", len(want), run.count, summary)
					}
					matchMultiset(t, "client spans", want, spans, clientSpanKey)
					checkClientSpans(t, spans, expectFor(row.variant, row.app), cl.cmd.Process.Pid, srv.port, from, to)
				})
			}
		})
	}
}

// --- outgoing calls of a server --------------------------------------------

// TestE2EDownstreamCall: with rustscope attached to the axum app, each
// request to /call/http/:rid yields its server span and the client span of
// the app's own call to DOWNSTREAM_URL/users/:rid, nested in time.
func TestE2EDownstreamCall(t *testing.T) {
	needE2E(t, "release/hyper-server")
	for _, down := range []string{"axum-server", "hyper-server"} {
		t.Run("to-"+down, func(t *testing.T) {
			ds := startServer(t, "release", down)
			app := startServer(t, "release", "axum-server", "DOWNSTREAM_URL="+ds.base)
			rs := attach(t, app.pid())
			var reqs []*httpReq
			for i := range 64 {
				rid := i + 1
				if i%8 == 3 {
					rid = 0 // 404 from the axum downstream
				}
				r := &httpReq{method: "GET", target: fmt.Sprintf("/call/http/%d", rid), status: 200, wantBody: -1, keep: true}
				if i%5 == 2 {
					r.mode = fresh
				}
				reqs = append(reqs, r)
				if i%16 == 0 { // requests that make no call
					reqs = append(reqs, &httpReq{method: "GET", target: "/health", status: 200, wantBody: 2})
				}
			}
			s0, from := stealTime(t), time.Now()
			load(t, app.base, reqs, 16)
			stolen := stealTime(t) - s0
			calls := 0
			for _, r := range reqs {
				if strings.HasPrefix(r.target, "/call/") {
					calls++
				}
			}
			rs.waitSpans(t, len(reqs)+calls, spanWait)
			spans := rs.stop(t)

			var server, client []jsonSpan
			for _, s := range spans {
				if s.SpanKind == kindClient {
					client = append(client, s)
				} else {
					server = append(server, s)
				}
			}
			errorAll(t, checkServerSpans(t, app, "axum-server", expectFor("release", "axum-server"), reqs, server, stolen))

			// The app answers {"downstream_status": S, "body_len": N}: the
			// client span must say S and N.
			var want []string
			for _, r := range reqs {
				rid, ok := strings.CutPrefix(r.target, "/call/http/")
				if !ok {
					continue
				}
				var res struct {
					Status  int `json:"downstream_status"`
					BodyLen int `json:"body_len"`
				}
				if err := json.Unmarshal(r.data, &res); err != nil || res.Status == 0 {
					t.Fatalf("%s: response %q: %v", r.target, r.data, err)
				}
				want = append(want, clientKey("GET", ds.base+"/users/"+rid, res.Status, 0, res.BodyLen))
			}
			matchMultiset(t, "client spans", want, client, clientSpanKey)
			checkClientSpans(t, client, expectFor("release", "reqwest-client"), app.pid(), ds.port, from, time.Now())

			// Each call lies within a server span of the same route.
			for _, c := range client {
				rid := c.attr("url.full")[strings.LastIndexByte(c.attr("url.full"), '/')+1:]
				inside := false
				for _, s := range server {
					if s.attr("url.path") == "/call/http/"+rid && !c.StartTime.Before(s.StartTime) && !c.EndTime.After(s.EndTime) {
						inside = true
						break
					}
				}
				if !inside {
					t.Errorf("client span not within a server span of /call/http/%s: %s", rid, c)
				}
			}
		})
	}
}

// --- isolation ------------------------------------------------------------

// TestE2EIsolation: rustscope attached to app A sees nothing of heavy
// traffic to app B (the same binary) and exactly the spans of the few
// requests sent to A meanwhile.
func TestE2EIsolation(t *testing.T) {
	needE2E(t)
	a := startServer(t, "release", "axum-server")
	b := startServer(t, "release", "axum-server")
	rs := attach(t, a.pid())
	heavy := serverMix(true, 2048)
	few := serverMix(true, 16)
	var wg sync.WaitGroup
	var doneB atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		loadCounting(t, b.base, heavy, 32, &doneB)
	}()
	for deadline := time.Now().Add(10 * time.Second); doneB.Load() < 200 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // let B's traffic get going
	}
	s0 := stealTime(t)
	load(t, a.base, few, 4)
	stolen := stealTime(t) - s0
	if n := doneB.Load(); n == int64(len(heavy)) {
		t.Errorf("B's traffic (%d requests) was over before A's: not concurrent", n)
	}
	wg.Wait()
	rs.waitSpans(t, len(few), spanWait)
	spans := rs.stop(t)
	// B keeps both cores busy on purpose, so A's /slow may really take
	// longer than its 50 ms: a span the client waited as long for is
	// right; one longer than the client's wait, or shorter than the
	// handler's sleep, is not.
	for _, l := range checkServerSpans(t, a, "axum-server", expectFor("release", "axum-server"), few, spans, stolen) {
		if !l.real {
			t.Error(l.msg)
		} else {
			t.Log("real delay under B's load: " + l.msg)
		}
	}
}

// TestE2EClientProbeRests: hyper's client parse probe, which names the
// client spans' library, rests once every connection's library is known
// (tracer/clientprobe.go). Over a keep-alive pool it learns, rests, and the
// calls after still say reqwest. When the downstream closes every
// connection, each call opens a new one: the probe is placed again, and a
// call on a connection it has not seen is the wire layer's, never a
// guessed library.
func TestE2EClientProbeRests(t *testing.T) {
	needE2E(t, "release/axum-server")
	var keepAlive atomic.Bool
	keepAlive.Store(true)
	var opened atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !keepAlive.Load() {
				w.Header().Set("Connection", "close")
			}
			fmt.Fprintf(w, `{"id":%q}`, strings.TrimPrefix(r.URL.Path, "/users/"))
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				opened.Add(1)
			}
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	app := startServer(t, "release", "axum-server", "DOWNSTREAM_URL=http://"+ln.Addr().String())
	rs := attach(t, app.pid())
	calls := func(from, n int, every time.Duration) {
		t.Helper()
		client := &http.Client{Timeout: 10 * time.Second}
		defer client.CloseIdleConnections()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := range n {
			<-tick.C
			resp, err := client.Get(fmt.Sprintf("%s/call/http/%d", app.base, from+i))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	calls(1, 400, 5*time.Millisecond) // learns the pool's connections
	waitStderr(t, rs, "client probe rests", 10*time.Second)
	calls(1001, 100, 5*time.Millisecond) // on known connections
	keepAlive.Store(false)
	opened0 := opened.Load()
	calls(2001, 100, 10*time.Millisecond) // each on a new connection
	fresh := opened.Load() - opened0
	keepAlive.Store(true)
	rs.waitSpans(t, 2*600, spanWait)
	spans := rs.stop(t)

	byPhase := map[int]map[string]int{} // phase -> scope -> calls
	clients := 0
	for _, s := range spans {
		if s.SpanKind != kindClient {
			continue
		}
		clients++
		rid, _ := strconv.Atoi(callRID(s))
		phase := rid / 1000
		if byPhase[phase] == nil {
			byPhase[phase] = map[string]int{}
		}
		byPhase[phase][s.InstrumentationScope.Name]++
	}
	t.Logf("client spans by phase and scope: %v; new connections in phase 3: %d", byPhase, fresh)
	if clients != 600 {
		t.Fatalf("%d client spans, want 600", clients)
	}
	for phase, want := range map[int]int{0: 400, 1: 100} {
		if got := byPhase[phase]["reqwest"]; got != want {
			t.Errorf("phase %d: %d client spans with scope reqwest, want all %d", phase+1, got, want)
		}
	}
	// New connections: reqwest once the probe is back, the wire layer's
	// before; nothing else.
	p3 := byPhase[2]
	if p3["reqwest"]+p3[tracer.WireScope.Name] != 100 || p3["reqwest"] < 50 {
		t.Errorf("phase 3 (a new connection per call): scopes %v, want reqwest (most) or %s", p3, tracer.WireScope.Name)
	}
	if fresh < 90 {
		t.Errorf("the downstream saw %d new connections in phase 3, want one per call", fresh)
	}
}
