package main

// End-to-end tests: the real rustscope binary attached to the real Rust
// test apps (testapps/, built by `make testapps`), driven with real
// traffic. They need root; in CI (CI=true) a missing prerequisite fails
// the test instead of skipping it.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var rustscopeBin string

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "rustscope-e2e")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		rustscopeBin = filepath.Join(dir, "rustscope")
		out, err := exec.Command("go", "build", "-o", rustscopeBin, ".").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build rustscope: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// needE2E skips (or, in CI, fails) when the end-to-end prerequisites are
// missing.
func needE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	missing := func(why string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("end-to-end prerequisite missing in CI: %s", why)
		}
		t.Skip(why)
	}
	if os.Geteuid() != 0 {
		missing("needs root for BPF")
	}
	if _, err := os.Stat(appPath("release", "axum-server")); err != nil {
		missing("Rust test apps not built (run `make testapps`): " + err.Error())
	}
}

func appPath(variant, app string) string {
	return filepath.Join("testapps", "bin", variant, app)
}

// startServer runs a test app and returns its base URL once it listens.
func startServer(t *testing.T, variant, app string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(appPath(variant, app), "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s/%s: %v", variant, app, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := readLineTimeout(bufio.NewReader(out), 10*time.Second)
	if err != nil {
		t.Fatalf("%s/%s did not report its address: %v", variant, app, err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("%s/%s: unexpected first line %q", variant, app, line)
	}
	go io.Copy(io.Discard, out)
	return cmd, "http://" + addr
}

func readLineTimeout(r *bufio.Reader, d time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() { s, err := r.ReadString('\n'); ch <- res{s, err} }()
	select {
	case x := <-ch:
		return x.s, x.err
	case <-time.After(d):
		return "", fmt.Errorf("timed out after %v", d)
	}
}

// rustscopeRun is a running headless rustscope.
type rustscopeRun struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRustscope starts rustscope with args and env and waits until it
// says it is attached.
func startRustscope(t *testing.T, args []string, env ...string) *rustscopeRun {
	t.Helper()
	r := &rustscopeRun{cmd: exec.Command(rustscopeBin, args...)}
	r.cmd.Env = append(os.Environ(), env...)
	r.cmd.Stdout = &r.stdout
	r.cmd.Stderr = &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			r.cmd.Process.Kill()
			r.cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(r.stderr.String(), "rustscope: attached") {
		if time.Now().After(deadline) {
			t.Fatalf("rustscope did not attach; stderr:\n%s", r.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return r
}

// stop sends SIGTERM, waits for a clean exit and returns the spans printed.
func (r *rustscopeRun) stop(t *testing.T) []jsonSpan {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("rustscope exited with %v; stderr:\n%s", err, r.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("rustscope did not stop on SIGTERM; stderr:\n%s", r.stderr.String())
	}
	return parseSpans(t, r.stdout.Bytes())
}

// jsonSpan is the part of the OpenTelemetry stdout exporter's span JSON the
// tests look at.
type jsonSpan struct {
	Name       string
	SpanKind   int
	StartTime  time.Time
	EndTime    time.Time
	Attributes []struct {
		Key   string
		Value struct {
			Type  string
			Value any
		}
	}
	Status   struct{ Code string }
	Resource []struct {
		Key   string
		Value struct{ Value any }
	}
	InstrumentationScope struct{ Name, Version string }
}

func (s jsonSpan) attr(k string) string {
	for _, a := range s.Attributes {
		if a.Key == k {
			return fmt.Sprint(a.Value.Value)
		}
	}
	return ""
}

func (s jsonSpan) resource(k string) string {
	for _, a := range s.Resource {
		if a.Key == k {
			return fmt.Sprint(a.Value.Value)
		}
	}
	return ""
}

func parseSpans(t *testing.T, out []byte) []jsonSpan {
	t.Helper()
	var spans []jsonSpan
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var s jsonSpan
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("stdout is not JSON spans: %v\n%s", err, out)
		}
		spans = append(spans, s)
	}
	if n := bytes.Count(bytes.TrimSpace(out), []byte("\n")) + 1; len(out) > 0 && n != len(spans) {
		t.Errorf("want one span per line: %d lines, %d spans", n, len(spans))
	}
	return spans
}

// request is one request of a traffic mix and what its span must say.
type request struct {
	method, path string
	body         []byte
	status       int
}

func (r request) key() string { return fmt.Sprintf("%s %s %d", r.method, r.path, r.status) }

// send sends reqs with conc workers sharing one keep-alive client and
// checks each response status.
func send(t *testing.T, base string, reqs []request, conc int) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	defer client.CloseIdleConnections()
	work := make(chan request)
	var wg sync.WaitGroup
	errs := make(chan error, len(reqs))
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				var body io.Reader
				if r.body != nil {
					body = bytes.NewReader(r.body)
				}
				req, _ := http.NewRequest(r.method, base+r.path, body)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != r.status {
					errs <- fmt.Errorf("%s %s: status %d, want %d", r.method, r.path, resp.StatusCode, r.status)
				}
			}
		}()
	}
	for _, r := range reqs {
		work <- r
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// axumMix is n requests over the axum app's routes: path parameters, a
// nested router, 404s, a 500 and POST bodies.
func axumMix(n int) []request {
	var reqs []request
	for i := 0; len(reqs) < n; i++ {
		switch i % 8 {
		case 0:
			reqs = append(reqs, request{method: "GET", path: "/health", status: 200})
		case 1:
			reqs = append(reqs, request{method: "GET", path: fmt.Sprintf("/users/%d", i), status: 200})
		case 2:
			reqs = append(reqs, request{method: "GET", path: "/users/0", status: 404})
		case 3:
			reqs = append(reqs, request{method: "GET", path: "/status/500", status: 500})
		case 4:
			reqs = append(reqs, request{method: "POST", path: "/echo", body: bytes.Repeat([]byte("x"), 100+i), status: 200})
		case 5:
			reqs = append(reqs, request{method: "GET", path: fmt.Sprintf("/api/v1/items/%d", i), status: 200})
		case 6:
			reqs = append(reqs, request{method: "GET", path: "/no/such/route", status: 404})
		case 7:
			reqs = append(reqs, request{method: "GET", path: "/status/201", status: 201})
		}
	}
	return reqs
}

func spanKeys(spans []jsonSpan) []string {
	var keys []string
	for _, s := range spans {
		keys = append(keys, fmt.Sprintf("%s %s %s", s.attr("http.request.method"), s.attr("url.path"), s.attr("http.response.status_code")))
	}
	sort.Strings(keys)
	return keys
}

func requestKeys(reqs []request) []string {
	var keys []string
	for _, r := range reqs {
		keys = append(keys, r.key())
	}
	sort.Strings(keys)
	return keys
}

// TestFirstSpanAxumRelease is the foundation's end-to-end test: rustscope
// attached to the release axum app (both through flags and through the
// OTEL_* environment) prints exactly one correct span per request.
func TestFirstSpanAxumRelease(t *testing.T) {
	needE2E(t)
	for _, tc := range []struct {
		name string
		args func(pid int) []string
		env  func(pid int) []string
	}{
		{"flags", func(pid int) []string { return []string{"--pid", fmt.Sprint(pid), "--stdout"} }, func(int) []string { return nil }},
		{"env", func(int) []string { return nil }, func(pid int) []string {
			return []string{fmt.Sprintf("OTEL_TARGET_PID=%d", pid), "OTEL_STDOUT=true", "OTEL_SERVICE_NAME=axum-e2e"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, base := startServer(t, "release", "axum-server")
			pid := app.Process.Pid
			rs := startRustscope(t, tc.args(pid), tc.env(pid)...)
			reqs := axumMix(200)
			send(t, base, reqs, 4)
			time.Sleep(200 * time.Millisecond) // let the last records reach the ring
			spans := rs.stop(t)

			if got, want := len(spans), len(reqs); got != want {
				t.Errorf("got %d spans, want %d", got, want)
			}
			got, want := spanKeys(spans), requestKeys(reqs)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("spans do not match requests:\n%s", diffKeys(want, got))
			}
			for _, s := range spans {
				if s.SpanKind != 2 {
					t.Errorf("span %q: kind %d, want 2 (server)", s.Name, s.SpanKind)
				}
				if s.Name != s.attr("http.request.method") {
					t.Errorf("span name %q, want the method %q", s.Name, s.attr("http.request.method"))
				}
				if d := s.EndTime.Sub(s.StartTime); d <= 0 || d > 5*time.Second {
					t.Errorf("span %q: duration %v", s.Name, d)
				}
				if time.Since(s.StartTime) > time.Minute || time.Since(s.StartTime) < 0 {
					t.Errorf("span %q: start %v is not now", s.Name, s.StartTime)
				}
				if code := s.attr("http.response.status_code"); strings.HasPrefix(code, "5") != (s.Status.Code == "Error") {
					t.Errorf("span %s %s: status code %s but span status %s", s.Name, s.attr("url.path"), code, s.Status.Code)
				}
				if got := s.resource("process.pid"); got != fmt.Sprint(pid) {
					t.Errorf("resource process.pid = %q, want %d", got, pid)
				}
			}
			wantService := "axum-server"
			if tc.name == "env" {
				wantService = "axum-e2e"
			}
			if len(spans) > 0 && spans[0].resource("service.name") != wantService {
				t.Errorf("service.name = %q, want %q", spans[0].resource("service.name"), wantService)
			}
		})
	}
}

// diffKeys lists the multiset difference of two sorted key lists.
func diffKeys(want, got []string) string {
	count := map[string]int{}
	for _, k := range want {
		count[k]++
	}
	for _, k := range got {
		count[k]--
	}
	var b strings.Builder
	for k, n := range count {
		switch {
		case n > 0:
			fmt.Fprintf(&b, "  missing %dx %s\n", n, k)
		case n < 0:
			fmt.Fprintf(&b, "  extra   %dx %s\n", -n, k)
		}
	}
	return b.String()
}
