package e2e

// End-to-end tests of export and headless mode: the real rustscope binary
// attached to the release axum app, sending to a real OTLP receiver the
// test runs (gRPC and HTTP/protobuf, from the OTLP protos).

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc/metadata"
)

// TestOTLPExportAxum500: every span of a 500-request run against the
// release axum app reaches a real OTLP receiver, over gRPC (configured by
// the environment) and over HTTP/protobuf (configured by flags), with the
// process's resource and correct attributes; the RED metric
// http.server.request.duration counts the same 500 requests.
func TestOTLPExportAxum500(t *testing.T) {
	needE2E(t)
	for _, tc := range []struct {
		protocol string
		args     func(pid int, addr string) []string
		env      func(pid int, addr string) []string
	}{
		{"grpc", func(int, string) []string { return nil }, func(pid int, addr string) []string {
			return []string{fmt.Sprintf("OTEL_TARGET_PID=%d", pid), "OTEL_EXPORTER_OTLP_ENDPOINT=http://" + addr,
				"OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=e2e,team=a%2Cb", "OTEL_EXPORTER_OTLP_HEADERS=x-e2e=grpc%20yes"}
		}},
		{"http/protobuf", func(pid int, addr string) []string {
			return []string{"--pid", strconv.Itoa(pid), "--endpoint", "http://" + addr, "--protocol", "http/protobuf",
				"--resource-attributes", "deployment.environment.name=e2e,team=a%2Cb", "--headers", "x-e2e=http yes", "--service-name", "axum-http"}
		}, func(int, string) []string { return []string{"OTEL_SERVICE_NAME=ignored-by-flag"} }},
	} {
		t.Run(strings.ReplaceAll(tc.protocol, "/", "-"), func(t *testing.T) {
			rcv := startReceiver(t, tc.protocol, nil)
			app := startServer(t, "release", "axum-server")
			pid := app.pid()
			rs := startRustscopeBg(t, "rustscope: attached", tc.args(pid, rcv.addr), tc.env(pid, rcv.addr)...)
			if line := firstLine(rs.stderr.String(), "rustscope: attached"); !strings.Contains(line, fmt.Sprintf("pid %d", pid)) ||
				!strings.Contains(line, "wire:") || !strings.Contains(line, "OTLP "+tc.protocol) {
				t.Errorf("readiness line %q does not name the pid, the probes and the destination", line)
			}
			reqs := axumMix(500)
			spans := sendOverOTLP(t, app.base, reqs, 8, rcv, rs)
			wantService := "axum-server"
			wantHeader := "grpc yes"
			if tc.protocol != "grpc" {
				wantService, wantHeader = "axum-http", "http yes"
			}
			for _, h := range rcv.headers {
				if h != wantHeader {
					t.Errorf("header x-e2e = %q, want %q", h, wantHeader)
					break
				}
			}
			exe, _ := filepath.EvalSymlinks(appPath("release", "axum-server"))
			host, _ := os.Hostname()
			wantRes := map[string]string{
				"service.name":                wantService,
				"process.pid":                 strconv.Itoa(pid),
				"process.executable.name":     "axum-server",
				"process.executable.path":     exe,
				"process.runtime.name":        "rustc",
				"host.name":                   host,
				"telemetry.sdk.name":          "opentelemetry",
				"telemetry.sdk.language":      "go",
				"telemetry.distro.name":       "rustscope",
				"deployment.environment.name": "e2e",
				"team":                        "a,b",
			}
			for i, s := range spans {
				if i == 0 {
					for k, v := range wantRes {
						if s.resource[k] != v {
							t.Errorf("resource %s = %q, want %q", k, s.resource[k], v)
						}
					}
					for _, k := range []string{"process.command_args", "process.runtime.version", "telemetry.sdk.version", "telemetry.distro.version"} {
						if s.resource[k] == "" {
							t.Errorf("resource %s missing", k)
						}
					}
					if !strings.Contains(s.resource["process.command_args"], "--listen") {
						t.Errorf("process.command_args = %q", s.resource["process.command_args"])
					}
				}
				sp := s.span
				if sp.Kind != tracepb.Span_SPAN_KIND_SERVER {
					t.Errorf("span %s: kind %v", sp.Name, sp.Kind)
				}
				route := axumRoute(s.attr("url.path"))
				if want := strings.TrimSpace(s.attr("http.request.method") + " " + route); sp.Name != want || s.attr("http.route") != route {
					t.Errorf("span name %q, http.route %q; want %q, %q", sp.Name, s.attr("http.route"), want, route)
				}
				d := time.Duration(sp.EndTimeUnixNano - sp.StartTimeUnixNano)
				if sp.EndTimeUnixNano <= sp.StartTimeUnixNano || d > 5*time.Second {
					t.Errorf("span %s %s: duration %v", sp.Name, s.attr("url.path"), d)
				}
				if start := time.Unix(0, int64(sp.StartTimeUnixNano)); time.Since(start) > time.Minute || time.Since(start) < 0 {
					t.Errorf("span start %v is not now", start)
				}
				code := s.attr("http.response.status_code")
				isErr := sp.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR
				if strings.HasPrefix(code, "5") != isErr {
					t.Errorf("span %s %s: status code %s but span status %v", sp.Name, s.attr("url.path"), code, sp.GetStatus().GetCode())
				}
				if len(sp.TraceId) != 16 || len(sp.SpanId) != 8 {
					t.Errorf("span ids %x/%x", sp.TraceId, sp.SpanId)
				}
				if s.scope != "axum" {
					t.Errorf("span %s: instrumentation scope %q, want axum", sp.Name, s.scope)
				}
			}
			checkREDMetrics(t, rcv, reqs, wantService)
		})
	}
}

func grpcHeader(ctx context.Context, k string) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(k); len(v) > 0 {
		return v[0]
	}
	return ""
}

func firstLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestOTLPTargetExeReattach: with OTEL_TARGET_EXE, rustscope waits for the
// app (started after it), attaches, and when the app is killed and
// started again, re-attaches: spans from both lives arrive, each under
// its own process.pid.
func TestOTLPTargetExeReattach(t *testing.T) {
	needE2E(t)
	rcv := startReceiver(t, "grpc", nil)
	exe, err := filepath.Abs(appPath("release", "axum-server"))
	if err != nil {
		t.Fatal(err)
	}
	rs := startRustscopeBg(t, "rustscope: waiting for processes running "+exe, nil,
		"OTEL_TARGET_EXE="+exe, "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+rcv.addr)

	var pids []int
	for life := range 2 {
		app := startServer(t, "release", "axum-server")
		pids = append(pids, app.pid())
		t0 := time.Now()
		waitStderr(t, rs, fmt.Sprintf("rustscope: attached pid %d ", app.pid()), 10*time.Second)
		t.Logf("life %d: attached to pid %d %v after it listened", life, app.pid(), time.Since(t0).Round(time.Millisecond))
		var reqs []request
		for i := range 100 {
			reqs = append(reqs, request{method: "GET", path: fmt.Sprintf("/users/%d", life*1000+i+1), status: 200})
		}
		send(t, app.base, reqs, 4)
		rcv.waitCount(t, 100*(life+1), 10*time.Second)
		app.cmd.Process.Kill()
		app.cmd.Wait()
		waitStderr(t, rs, fmt.Sprintf("rustscope: pid %d exited; waiting", app.pid()), 10*time.Second)
	}
	rs.stop(t)
	perPID := map[string]int{}
	for _, s := range rcv.snapshot() {
		perPID[s.resource["process.pid"]]++
		life := 0
		if s.resource["process.pid"] == strconv.Itoa(pids[1]) {
			life = 1
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(s.attr("url.path"), "/users/"))
		if n/1000 != life {
			t.Errorf("span %s under pid %s is from the other life", s.attr("url.path"), s.resource["process.pid"])
		}
	}
	for _, pid := range pids {
		if perPID[strconv.Itoa(pid)] != 100 {
			t.Errorf("pid %d: %d spans, want 100 (all: %v)", pid, perPID[strconv.Itoa(pid)], perPID)
		}
	}
}

// TestOTLPSigtermDuringLoad: SIGTERM while requests are in flight; every
// request that completed before the signal has its span delivered, and
// rustscope exits 0.
func TestOTLPSigtermDuringLoad(t *testing.T) {
	needE2E(t)
	rcv := startReceiver(t, "grpc", nil)
	app := startServer(t, "release", "axum-server")
	rs := startRustscopeBg(t, "rustscope: attached", []string{"--pid", strconv.Itoa(app.pid()), "--endpoint", "http://" + rcv.addr})

	type done struct {
		path string
		end  time.Time
	}
	var mu sync.Mutex
	var completed []done
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				path := fmt.Sprintf("/users/%d", w*1000000+i+1)
				resp, err := client.Get(app.base + path)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				end := time.Now()
				mu.Lock()
				completed = append(completed, done{path, end})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	sig := time.Now()
	if err := rs.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	switch exited, err := waitExit(rs.cmd, 30*time.Second); {
	case !exited:
		t.Fatalf("rustscope did not stop on SIGTERM; stderr:\n%s", rs.stderr.String())
	case err != nil:
		t.Errorf("rustscope exited with %v; stderr:\n%s", err, rs.stderr.String())
	}
	close(stop)
	wg.Wait()

	got := map[string]bool{}
	for _, s := range rcv.snapshot() {
		got[s.attr("url.path")] = true
	}
	before, missing := 0, 0
	mu.Lock()
	for _, c := range completed {
		if c.end.Before(sig) {
			before++
			if !got[c.path] {
				if missing++; missing <= 10 {
					t.Errorf("request %s completed %v before SIGTERM but its span is missing", c.path, sig.Sub(c.end))
				}
			}
		}
	}
	mu.Unlock()
	t.Logf("%d requests completed before SIGTERM, %d spans received, %d missing", before, rcv.count(), missing)
	if before < 100 {
		t.Errorf("only %d requests before the signal: the load did not run", before)
	}
	if n := stoppedCounter(t, rs.stderr.String(), "dropped"); n != 0 {
		t.Errorf("dropped=%d", n)
	}
}

// TestOTLPEndpointDownThenUp: the receiver is down for the first 10 s of a
// run. Spans made after it comes up arrive, spans lost meanwhile are
// counted and reported on stderr (at most once per 10 s), and every span
// made while it was down either arrived late (the exporter's retries) or
// is counted as dropped.
func TestOTLPEndpointDownThenUp(t *testing.T) {
	needE2E(t)
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(strings.ReplaceAll(protocol, "/", "-"), func(t *testing.T) {
			t.Parallel()
			addr := downAddr(t) // down: connections are refused
			app := startServer(t, "release", "axum-server")
			rs := startRustscopeBg(t, "rustscope: attached",
				[]string{"--pid", strconv.Itoa(app.pid()), "--endpoint", "http://" + addr, "--protocol", protocol})
			t0 := time.Now()

			n := 0
			batch := func(base int, k int) []request {
				var reqs []request
				for range k {
					n++
					reqs = append(reqs, request{method: "GET", path: fmt.Sprintf("/users/%d", base+n), status: 200})
				}
				return reqs
			}
			sentDown := 0
			for time.Since(t0) < 10*time.Second {
				send(t, app.base, batch(0, 10), 2)
				sentDown += 10
				time.Sleep(250 * time.Millisecond)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("reopen %s: %v", addr, err)
			}
			rcv := startReceiver(t, protocol, ln)
			t.Logf("receiver up after %v; %d requests sent while down", time.Since(t0).Round(time.Millisecond), sentDown)

			n = 0
			up := batch(1000000, 100)
			send(t, app.base, up, 4)
			upPaths := map[string]bool{}
			for _, r := range up {
				upPaths[r.path] = true
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				got := 0
				for _, s := range rcv.snapshot() {
					if upPaths[s.attr("url.path")] {
						got++
					}
				}
				if got == len(up) {
					t.Logf("all %d spans made after the receiver came up arrived %v after it did", got, time.Since(t0)-10*time.Second)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d spans made after the receiver came up arrived; stderr:\n%s", got, len(up), rs.stderr.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			// The periodic report (every 10 s) names the drops.
			waitStderr(t, rs, "spans dropped in the last 10s", 25*time.Second)
			rs.stop(t)
			stderr := rs.stderr.String()
			dropped := stoppedCounter(t, stderr, "dropped")
			if dropped == 0 || !strings.Contains(stderr, fmt.Sprintf("rustscope: %d spans dropped in all", dropped)) {
				t.Errorf("dropped=%d, want > 0 and a final report; stderr:\n%s", dropped, stderr)
			}
			if c := strings.Count(stderr, "spans dropped in the last"); c > int(time.Since(t0)/(10*time.Second)) {
				t.Errorf("%d drop reports in %v: more than one per 10 s", c, time.Since(t0))
			}
			late := 0
			seen := map[string]bool{}
			for _, s := range rcv.snapshot() {
				p := s.attr("url.path")
				if !upPaths[p] && !seen[p] {
					seen[p] = true
					late++
				}
			}
			t.Logf("made while down: %d, arrived late: %d, dropped: %d", sentDown, late, dropped)
			if late+dropped < sentDown {
				t.Errorf("%d spans made while down, %d arrived and %d counted as dropped: %d unaccounted for",
					sentDown, late, dropped, sentDown-late-dropped)
			}
		})
	}
}

// checkREDMetrics: the last metrics export (on shutdown) has
// http.server.request.duration with one count per request, per method and
// status code, the semconv buckets, and no unbounded attributes.
func checkREDMetrics(t *testing.T, rcv *otlpReceiver, reqs []request, service string) {
	t.Helper()
	dps := rcv.histogram("http.server.request.duration")
	if len(dps) == 0 {
		t.Errorf("no http.server.request.duration received")
		return
	}
	want := map[string]uint64{}
	for _, r := range reqs {
		want[fmt.Sprintf("%s %d", r.method, r.status)]++
	}
	got := map[string]uint64{}
	wantBounds := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	for _, dp := range dps {
		got[kvString(dp.Attributes, "http.request.method")+" "+kvString(dp.Attributes, "http.response.status_code")] += dp.Count
		if fmt.Sprint(dp.ExplicitBounds) != fmt.Sprint(wantBounds) {
			t.Errorf("bounds %v, want %v", dp.ExplicitBounds, wantBounds)
		}
		for _, k := range []string{"url.path", "client.port", "client.address"} {
			if kvString(dp.Attributes, k) != "" {
				t.Errorf("metric attribute %s kept: unbounded series", k)
			}
		}
		code := kvString(dp.Attributes, "http.response.status_code")
		if strings.HasPrefix(code, "5") != (kvString(dp.Attributes, "error.type") != "") {
			t.Errorf("status %s, error.type %q", code, kvString(dp.Attributes, "error.type"))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("request counts per method and status: got %v, want %v", got, want)
	}
	rcv.mu.Lock()
	res := rcv.metricRes
	rcv.mu.Unlock()
	if res["service.name"] != service {
		t.Errorf("metrics resource service.name = %q, want %q", res["service.name"], service)
	}
}

// TestOTLPTargetPIDExits: with OTEL_TARGET_PID, when the process exits
// rustscope says so, flushes its spans and exits 0.
func TestOTLPTargetPIDExits(t *testing.T) {
	needE2E(t)
	rcv := startReceiver(t, "grpc", nil)
	app := startServer(t, "release", "axum-server")
	pid := app.pid()
	rs := startRustscopeBg(t, "rustscope: attached", nil,
		fmt.Sprintf("OTEL_TARGET_PID=%d", pid), "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+rcv.addr)
	reqs := axumMix(50)
	send(t, app.base, reqs, 2)
	app.cmd.Process.Kill()
	app.cmd.Wait()
	switch exited, err := waitExit(rs.cmd, 20*time.Second); {
	case !exited:
		t.Fatalf("rustscope did not exit after its target; stderr:\n%s", rs.stderr.String())
	case err != nil:
		t.Fatalf("rustscope exited with %v; stderr:\n%s", err, rs.stderr.String())
	}
	if want := fmt.Sprintf("rustscope: pid %d exited", pid); !strings.Contains(rs.stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, rs.stderr.String())
	}
	if d := diffKeys(requestKeys(reqs), otlpKeys(rcv.snapshot())); d != "" {
		t.Errorf("spans do not match the requests made before the exit:\n%s", d)
	}
}

// downAddr returns a free 127.0.0.1 address below the ephemeral port range.
// A port taken from the ephemeral range can be lost while nothing listens on
// it: the exporter's connect to it may pick the same port as its own source
// and connect to itself (TCP simultaneous open), and the later bind fails.
var downAddrs atomic.Int32

func downAddr(t *testing.T) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	// Parallel tests each start at their own offset so they do not pick the
	// same closed port.
	start := low - 1 - 97*int(downAddrs.Add(1))
	for port := start; port > 1024 && port > start-2000; port -= 7 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			addr := ln.Addr().String()
			ln.Close()
			return addr
		}
	}
	t.Fatalf("no free port below the ephemeral range (%d)", low)
	return ""
}
