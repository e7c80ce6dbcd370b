package e2e

// Fault tests under load: a burst past what rustscope can keep up with,
// and connections that never finish a request or come and go fast.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// countingSink is an OTLP/gRPC receiver that counts spans and keeps only
// those whose url.path keep accepts: a burst's spans would not fit in the
// test's memory.
type countingSink struct {
	coltracepb.UnimplementedTraceServiceServer
	colmetricpb.UnimplementedMetricsServiceServer
	addr  string
	keep  func(path string) bool
	spans atomic.Int64

	mu   sync.Mutex
	kept []otlpSpan
}

func (s *countingSink) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	var n int64
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			n += int64(len(ss.Spans))
			for _, sp := range ss.Spans {
				if s.keep(kvString(sp.Attributes, "url.path")) {
					s.mu.Lock()
					s.kept = append(s.kept, otlpSpan{span: sp, scope: ss.GetScope().GetName()})
					s.mu.Unlock()
				}
			}
		}
	}
	s.spans.Add(n)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// metricSink accepts the RED metrics rustscope sends with OTLP spans.
type metricSink struct {
	colmetricpb.UnimplementedMetricsServiceServer
}

func (metricSink) Export(context.Context, *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

func startCountingSink(t *testing.T, keep func(string) bool) *countingSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &countingSink{addr: ln.Addr().String(), keep: keep}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, s)
	colmetricpb.RegisterMetricsServiceServer(srv, metricSink{})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return s
}

func (s *countingSink) keptSpans() []otlpSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.kept)
}

var (
	benchOnce sync.Once
	benchBin  string
	benchErr  error
)

// benchLoad runs bench/'s load generator (`bench load`, its own process)
// and returns what it reports.
func benchLoad(t *testing.T, args ...string) (requests, errs int64, seconds float64) {
	t.Helper()
	benchOnce.Do(func() {
		benchBin = filepath.Join(filepath.Dir(rustscopeBin), "bench")
		if out, err := exec.Command("go", "build", "-o", benchBin, "github.com/rustscope/rustscope/bench").CombinedOutput(); err != nil {
			benchErr = fmt.Errorf("build bench: %w\n%s", err, out)
		}
	})
	if benchErr != nil {
		t.Fatal(benchErr)
	}
	cmd := exec.Command(benchBin, append([]string{"load"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench load: %v", err)
	}
	var res struct {
		Requests, Errors int64
		Seconds          float64
	}
	// The result is the last line; the first says when measuring began.
	_, last, _ := bytes.Cut(bytes.TrimSpace(out), []byte("measuring\n"))
	if len(last) == 0 {
		last = out
	}
	if err := json.Unmarshal(last, &res); err != nil {
		t.Fatalf("bench load printed %q: %v", out, err)
	}
	return res.Requests, res.Errors, res.Seconds
}

// rssKB is VmRSS of pid in KiB.
func rssKB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// sampleRSS samples pid's VmRSS every second until stop is closed.
func sampleRSS(pid int, stop <-chan struct{}) <-chan []int64 {
	out := make(chan []int64, 1)
	go func() {
		var v []int64
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				out <- v
				return
			case <-tick.C:
				if kb, err := rssKB(pid); err == nil {
					v = append(v, kb)
				}
			}
		}
	}()
	return out
}

// stopCounters sends SIGTERM, waits for a clean exit and returns the
// counters of rustscope's "stopped" log line. Unlike stop it accepts loss:
// the caller accounts for it.
func (r *rustscopeRun) stopCounters(t *testing.T) map[string]int64 {
	t.Helper()
	r.terminate(t, 60*time.Second)
	line := regexp.MustCompile(`msg=stopped .*`).FindString(r.stderr.String())
	if line == "" {
		t.Fatalf("no stopped line; stderr:\n%s", r.stderr.String())
	}
	c := map[string]int64{}
	for _, f := range strings.Fields(line) {
		if k, v, ok := strings.Cut(f, "="); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				c[k] = n
			}
		}
	}
	return c
}

const (
	burstRate     = 20000
	burstFor      = 30 * time.Second
	burstConns    = 64
	burstMarkPath = "/users/424242"
)

// burstRSSBound is what rustscope's resident memory must stay under while
// traffic outruns it, from the bounds of its design (docs/how-it-works.md,
// "Bounds"): the Go heap's soft limit in headless mode (96 MiB; every
// queue full holds about 60 MiB), the ring buffer (4 MiB, mapped twice:
// 8 MiB) and the executable's pages and other mappings (about 20 MiB),
// with 15% to spare.
const burstRSSBound = 150 << 10 // KiB

// TestE2EFaultBurst: 20,000 requests/s offered for 30 s to the release axum
// app traced headless, exporting OTLP; on two shared cores neither the
// target nor rustscope keep up. rustscope's RSS stays under its bound;
// every span that did not reach the collector is accounted for by the
// counters rustscope reports (ring records lost in the kernel, requests
// the parser dropped, spans the exporter dropped); and capture recovers: a
// request after the burst gets its exact span.
func TestE2EFaultBurst(t *testing.T) {
	needE2E(t)
	app := startServer(t, "release", "axum-server")
	sink := startCountingSink(t, func(p string) bool { return p == burstMarkPath })
	rs := startRustscope(t, []string{"--pid", strconv.Itoa(app.pid()), "--endpoint", "http://" + sink.addr})
	stop := make(chan struct{})
	samples := sampleRSS(rs.cmd.Process.Pid, stop)
	sent, errs, secs := benchLoad(t, "-url", app.base, "-conns", strconv.Itoa(burstConns),
		"-duration", burstFor.String(), "-rate", strconv.Itoa(burstRate))
	close(stop)
	rss := <-samples
	t.Logf("burst: offered %d/s for %v: %d requests answered in %.1f s (%.0f/s), %d failed",
		burstRate, burstFor, sent, secs, float64(sent)/secs, errs)
	if errs > 0 {
		t.Errorf("%d requests of the burst failed: the target must keep serving", errs)
	}

	// Recovery: once rustscope has worked off its backlog (the collector
	// got nothing new for 2 s), a request gets its exact span.
	t0 := time.Now()
	for n, quiet := sink.spans.Load(), 0; quiet < 20 && time.Since(t0) < time.Minute; {
		time.Sleep(100 * time.Millisecond)
		if m := sink.spans.Load(); m != n {
			n, quiet = m, 0
		} else {
			quiet++
		}
	}
	t.Logf("backlog worked off %v after the burst", time.Since(t0).Round(100*time.Millisecond))
	mark := &httpReq{method: "GET", target: burstMarkPath, status: 200, wantBody: -1, mode: fresh}
	load(t, app.base, []*httpReq{mark}, 1)
	for t0 := time.Now(); len(sink.keptSpans()) == 0 && time.Since(t0) < 10*time.Second; {
		time.Sleep(50 * time.Millisecond)
	}
	c := rs.stopCounters(t)
	received := sink.spans.Load()

	maxRSS := slices.Max(append(rss, 0))
	t.Logf("rustscope RSS (MiB, every second): %s; max %.1f MiB, bound %d MiB", fmtMiB(rss), float64(maxRSS)/1024, burstRSSBound>>10)
	if maxRSS > burstRSSBound {
		t.Errorf("rustscope's RSS reached %.1f MiB, over its bound of %d MiB", float64(maxRSS)/1024, burstRSSBound>>10)
	}
	if len(rss) < int(burstFor/time.Second)/2 {
		t.Errorf("only %d RSS samples during the burst", len(rss))
	}

	total := sent + 1 // and the mark
	t.Logf("requests %d, spans made %d, received %d; ring records lost %d, sequence gaps %d, requests dropped %d, spans dropped by the exporter %d",
		total, c["spans"], received, c["lost"], c["gaps"], c["requests_dropped"], c["dropped"])
	if c["spans"] != received+c["dropped"] {
		t.Errorf("rustscope made %d spans; the collector received %d and %d are reported dropped: %d unaccounted for",
			c["spans"], received, c["dropped"], c["spans"]-received-c["dropped"])
	}
	if c["spans"] > total {
		t.Errorf("%d spans for %d requests", c["spans"], total)
	}
	// A request without a span lost one of its records in the kernel, or
	// was dropped by the parser when another request's records were lost:
	// the counters must cover every one.
	if missing := total - c["spans"]; missing > c["lost"]+c["requests_dropped"] {
		t.Errorf("%d requests have no span, but rustscope reports only %d ring records lost and %d requests dropped",
			missing, c["lost"], c["requests_dropped"])
	}
	if c["lost"] > 0 && !strings.Contains(rs.stderr.String(), "rustscope: ring buffer full:") {
		t.Errorf("%d records lost but not reported on stderr while it ran", c["lost"])
	}

	var got []otlpSpan
	for _, s := range sink.keptSpans() {
		if s.attr("client.port") == strconv.Itoa(mark.port) {
			got = append(got, s)
		}
	}
	if len(got) != 1 {
		t.Fatalf("the request after the burst (client port %d) has %d spans, want 1", mark.port, len(got))
	}
	s := got[0]
	for k, want := range map[string]string{
		"http.request.method":       "GET",
		"url.path":                  burstMarkPath,
		"http.route":                "/users/:id",
		"http.response.status_code": "200",
		"http.response.body.size":   strconv.FormatInt(mark.respBody, 10),
		"server.port":               strconv.Itoa(app.port),
		"client.address":            "127.0.0.1",
		"network.protocol.version":  "1.1",
	} {
		if got := s.attr(k); got != want {
			t.Errorf("span after the burst: %s = %q, want %q", k, got, want)
		}
	}
	start, end := time.Unix(0, int64(s.span.StartTimeUnixNano)), time.Unix(0, int64(s.span.EndTimeUnixNano))
	if s.span.Name != "GET /users/:id" || start.Before(mark.start) || end.After(mark.end.Add(spanSlack)) || !end.After(start) {
		t.Errorf("span after the burst: %q %s..%s, request %s..%s", s.span.Name,
			start.Format("15:04:05.000000"), end.Format("15:04:05.000000"), mark.start.Format("15:04:05.000000"), mark.end.Format("15:04:05.000000"))
	}
}

func fmtMiB(kb []int64) string {
	var parts []string
	for _, v := range kb {
		parts = append(parts, fmt.Sprintf("%.0f", float64(v)/1024))
	}
	return strings.Join(parts, " ")
}

// --- connections that never finish, and many that do -----------------------

const (
	halfOpenConns = 100              // connections that never finish a request
	stormFor      = 25 * time.Second // open-and-close connections for this long
	stormWorkers  = 8
	manyHeaders   = 1000
)

// rawRequest sends req on a new connection, reads until the server closes
// it (or quiet for 2 s) and returns the client port and what came back.
func rawRequest(addr string, req []byte) (int, string, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	port := c.LocalAddr().(*net.TCPAddr).Port
	if _, err := c.Write(req); err != nil {
		return port, "", err
	}
	var b strings.Builder
	buf := make([]byte, 64<<10)
	for {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return port, b.String(), nil
		}
	}
}

// conntrackEntries counts the entries of rustscope's BPF conns map (the
// kernel's per-connection state) that belong to pid.
func conntrackEntries(t *testing.T, rustscopePID, pid int) int {
	t.Helper()
	snap := bpfObjects(t)
	for k := range heldBPF(rustscopePID) {
		if k.kind != "map" || snap.names[k] != "conns" {
			continue
		}
		out, err := exec.Command("bpftool", "-j", "map", "dump", "id", strconv.Itoa(k.id)).Output()
		if err != nil {
			t.Fatalf("bpftool map dump: %v", err)
		}
		var entries []struct {
			Formatted struct {
				Key struct{ Tgid int }
			}
		}
		if err := json.Unmarshal(out, &entries); err != nil {
			t.Fatalf("bpftool map dump: %v", err)
		}
		n := 0
		for _, e := range entries {
			if e.Formatted.Key.Tgid == pid {
				n++
			}
		}
		return n
	}
	t.Fatalf("rustscope (pid %d) holds no conns map", rustscopePID)
	return 0
}

// TestE2EFaultConnections: connections that never finish a request (half a
// request line, or a line and half a head, kept open), as many
// open-and-close connections as fit in 25 s (some with half a request
// before the reset), and requests with 1,000 headers (which hyper refuses
// with 431). Per-connection state stays bounded in the kernel (rustscope's
// conns map) and in rustscope (its connection table), and every valid
// request before, during and after gets its exact span.
func TestE2EFaultConnections(t *testing.T) {
	needE2E(t)
	app := startServer(t, "release", "axum-server")
	addr := strings.TrimPrefix(app.base, "http://")
	rs := attach(t, app.pid())
	var valid []*httpReq
	send := func(n, conc int) {
		reqs := probeMix(n, false)
		for _, r := range reqs {
			r.keep = false
		}
		load(t, app.base, reqs, conc)
		valid = append(valid, reqs...)
	}
	send(50, 4)

	var half []net.Conn
	for i := range halfOpenConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		half = append(half, c)
		part := "GET /users/1 HT"
		if i%2 == 1 {
			part = "GET /users/2 HTTP/1.1\r\nHost: x\r\nX-Partial: "
		}
		if _, err := c.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, c := range half {
			c.Close()
		}
	})

	var want []string
	for i := range 5 {
		var b strings.Builder
		fmt.Fprintf(&b, "GET /users/%d HTTP/1.1\r\nHost: %s\r\n", 9000+i, addr)
		for h := range manyHeaders {
			fmt.Fprintf(&b, "X-Header-%d: value-%d\r\n", h, h)
		}
		b.WriteString("\r\n")
		port, resp, err := rawRequest(addr, []byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(resp, "HTTP/1.1 431 ") {
			t.Fatalf("a request with %d headers got %q, want 431", manyHeaders, resp)
		}
		want = append(want, fmt.Sprintf("GET /users/%d 431 0 0 %d", 9000+i, port))
	}

	// The storm: connections opened and reset at once (SO_LINGER 0: no
	// TIME_WAIT, so the ports last), every 16th after half a request.
	var opened atomic.Int64
	stormEnd := time.Now().Add(stormFor)
	var wg sync.WaitGroup
	for range stormWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stormEnd) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					continue // the accept queue was full for a moment
				}
				if opened.Add(1)%16 == 0 {
					c.Write([]byte("POST /echo HTTP/1.1\r\nContent-Len"))
				}
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}
		}()
	}
	for time.Now().Before(stormEnd.Add(-2 * time.Second)) {
		send(20, 2)
		time.Sleep(time.Second)
	}
	wg.Wait()
	t.Logf("%d connections opened and reset in %v (%.0f/s)", opened.Load(), stormFor, float64(opened.Load())/stormFor.Seconds())
	send(50, 4)

	// The kernel's state: the connections still open, not those that were.
	// The target may have given up on some half-open ones.
	time.Sleep(200 * time.Millisecond) // the target closes the last resets
	if n := conntrackEntries(t, rs.cmd.Process.Pid, app.pid()); n > halfOpenConns+16 {
		t.Errorf("rustscope's conns map holds %d connections of the target; %d are open", n, halfOpenConns)
	} else {
		t.Logf("rustscope's conns map holds %d connections of the target (%d half-open)", n, halfOpenConns)
	}

	rs.waitSpans(t, len(valid)+len(want), spanWait)
	spans := rs.stop(t)
	stderr := rs.stderr.String()
	if n := stoppedCounter(t, stderr, "conns"); n > halfOpenConns+16 {
		t.Errorf("rustscope tracks %d connections at the end; %d are open", n, halfOpenConns)
	}
	// Each connection is at least an open and a close record: rustscope
	// saw the storm, it did not pass it by.
	if n := stoppedCounter(t, stderr, "events"); n < 2*int(opened.Load()) {
		t.Errorf("rustscope decoded %d records for %d connections", n, opened.Load())
	}
	for _, r := range valid {
		want = append(want, r.key())
	}
	matchMultiset(t, "server spans", want, spans, serverSpanKey)
	for _, s := range spans {
		if s.attr("http.response.status_code") == "200" && s.attr("http.route") != "/users/:id" {
			t.Errorf("span without its route: %s", s)
		}
	}
}
