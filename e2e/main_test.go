package e2e

// Shared helpers of the end-to-end tests: one rustscope build for the whole
// package (TestMain) from the repository root, the Rust test apps, a headless rustscope run, the
// stdout exporter's span JSON, a Go HTTP load driver that records what
// every request looked like on the client side, and a multiset matcher
// that prints a readable diff.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The exit codes README documents.
const (
	exitUsage  = 2
	exitTarget = 3
	exitEnv    = 4 // privileges or kernel
)

var (
	rustscopeBin string
	repoRoot     string // the repository's root: the parent of this package's folder
)

// repoPath is a path inside the repository (testapps/bin, docs, ...).
func repoPath(elem ...string) string {
	return filepath.Join(append([]string{repoRoot}, elem...)...)
}

func TestMain(m *testing.M) {
	if os.Getenv(wireHelperEnv) != "" {
		wireServerMain() // this process is a target of TestE2EWireEdges
		return
	}
	code := func() int {
		// go test runs a package's tests in its folder, e2e/.
		root, err := filepath.Abs("..")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		repoRoot = root
		dir, err := os.MkdirTemp("", "rustscope-e2e")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		rustscopeBin = filepath.Join(dir, "rustscope")
		build := exec.Command("go", "build", "-o", rustscopeBin, ".")
		build.Dir = repoRoot
		out, err := build.CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build rustscope: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// needE2E skips (or, in CI, fails) when the end-to-end prerequisites are
// missing. apps are extra "variant/app" binaries the test needs.
func needE2E(t *testing.T, apps ...string) {
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
	for _, a := range append([]string{"release/axum-server"}, apps...) {
		variant, app, _ := strings.Cut(a, "/")
		if _, err := os.Stat(appPath(variant, app)); err != nil {
			missing("Rust test apps not built (run `make testapps`): " + err.Error())
		}
	}
}

func appPath(variant, app string) string {
	return repoPath("testapps", "bin", variant, app)
}

// server is a running test-app server.
type server struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT
	port int
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// startServer runs a test app and returns it once it listens.
func startServer(t *testing.T, variant, app string, env ...string) *server {
	t.Helper()
	cmd := exec.Command(appPath(variant, app), "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	addr := startListener(t, variant+"/"+app, cmd)
	prioritize(t, cmd.Process.Pid)
	ap, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatalf("%s/%s: bad address %q: %v", variant, app, addr, err)
	}
	return &server{cmd: cmd, base: "http://" + addr, port: ap.Port}
}

// startListener starts cmd, a server whose first line on stdout is
// "listening on ADDR", and returns ADDR. The process is killed when the
// test ends.
func startListener(t *testing.T, what string, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := readLineTimeout(bufio.NewReader(out), 10*time.Second)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("%s did not report its address: first line %q, %v", what, line, err)
	}
	go io.Copy(io.Discard, out)
	return addr
}

// prioritize gives every thread of pid (threads it starts later inherit
// it) priority over the test's own load generator and rustscope: they share
// two cores in CI, and a server thread waiting behind them would make its
// spans, which measure real latency, longer than the handler's own time.
func prioritize(t *testing.T, pid int) {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, -10); err != nil {
			t.Fatalf("renice thread %d of %d: %v", tid, pid, err)
		}
	}
}

// waitClient is a test-app client started with --wait: it has printed
// "ready" and sends nothing until go is called.
type waitClient struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr syncBuffer
}

func startWaitClient(t *testing.T, variant, app string, args ...string) *waitClient {
	t.Helper()
	c := &waitClient{cmd: exec.Command(appPath(variant, app), append(args, "--wait")...)}
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.stdout = bufio.NewReader(out)
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s/%s: %v", variant, app, err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	if line, err := readLineTimeout(c.stdout, 10*time.Second); err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("%s/%s: want \"ready\", got %q, %v; stderr:\n%s", variant, app, line, err, c.stderr.String())
	}
	return c
}

// run lets the client send its traffic and returns its summary line once
// it says "done"; the process stays alive (and traced) until finish.
func (c *waitClient) run(t *testing.T) string {
	t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	var summary string
	for {
		line, err := readLineTimeout(c.stdout, 60*time.Second)
		if err != nil {
			t.Fatalf("client did not finish: %v; stderr:\n%s", err, c.stderr.String())
		}
		line = strings.TrimSpace(line)
		if line == "done" {
			return summary
		}
		summary = line
	}
}

// finish lets the client exit and checks that it succeeded.
func (c *waitClient) finish(t *testing.T) {
	t.Helper()
	c.stdin.Close()
	switch exited, err := waitExit(c.cmd, 10*time.Second); {
	case !exited:
		t.Errorf("client did not exit")
	case err != nil:
		t.Errorf("client exited with %v; stderr:\n%s", err, c.stderr.String())
	}
}

// waitExit waits up to timeout for cmd to exit and returns how it ended.
func waitExit(cmd *exec.Cmd, timeout time.Duration) (exited bool, err error) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return true, err
	case <-time.After(timeout):
		return false, nil
	}
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
	stdout syncBuffer
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

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// startRustscope starts rustscope with args and env and waits until it
// says it is attached.
func startRustscope(t *testing.T, args []string, env ...string) *rustscopeRun {
	t.Helper()
	t0 := time.Now()
	r := startRustscopeBg(t, "rustscope: attached", args, env...)
	t.Logf("rustscope attached in %v", time.Since(t0).Round(time.Millisecond))
	return r
}

// startRustscopeBg starts rustscope and waits until stderr contains want.
func startRustscopeBg(t *testing.T, want string, args []string, env ...string) *rustscopeRun {
	t.Helper()
	cmd := exec.Command(rustscopeBin, args...)
	cmd.Env = append(os.Environ(), env...)
	return startRun(t, cmd, want)
}

// startRun starts cmd, rustscope or a command that runs it, and waits
// until stderr contains want.
func startRun(t *testing.T, cmd *exec.Cmd, want string) *rustscopeRun {
	t.Helper()
	r := &rustscopeRun{cmd: cmd}
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
	waitStderr(t, r, want, 30*time.Second)
	return r
}

// waitStderr waits until rustscope's stderr contains want.
func waitStderr(t *testing.T, r *rustscopeRun, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(r.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("rustscope did not say %q; stderr:\n%s", want, r.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// attach is startRustscope for the usual headless form.
func attach(t *testing.T, pid int) *rustscopeRun {
	t.Helper()
	return startRustscope(t, []string{"--pid", strconv.Itoa(pid), "--stdout"})
}

// waitSpans waits until rustscope has printed at least n spans (the
// exporter batches for up to 500 ms) or timeout passed.
func (r *rustscopeRun) waitSpans(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	t0 := time.Now()
	deadline := t0.Add(timeout)
	for bytes.Count(r.stdout.Bytes(), []byte("\n")) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("waited %v for %d spans", time.Since(t0).Round(time.Millisecond), n)
}

// stop sends SIGTERM, waits for a clean exit and returns the spans printed.
// It fails the test if rustscope reported records lost in the kernel or
// sequence gaps: either means the wire layer dropped data.
func (r *rustscopeRun) stop(t *testing.T) []jsonSpan {
	t.Helper()
	t0 := time.Now()
	r.terminate(t, 30*time.Second)
	t.Logf("rustscope stopped in %v", time.Since(t0).Round(time.Millisecond))
	stderr := r.stderr.String()
	for _, k := range []string{"gaps", "lost"} {
		if m := regexp.MustCompile(`msg=stopped .*\b` + k + `=(\d+)`).FindStringSubmatch(stderr); m != nil && m[1] != "0" {
			t.Errorf("rustscope reported %s=%s; stderr:\n%s", k, m[1], stderr)
		}
	}
	return parseSpans(t, r.stdout.Bytes())
}

// terminate sends SIGTERM and waits for a clean exit.
func (r *rustscopeRun) terminate(t *testing.T, timeout time.Duration) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	switch exited, err := waitExit(r.cmd, timeout); {
	case !exited:
		t.Fatalf("rustscope did not stop on SIGTERM; stderr:\n%s", r.stderr.String())
	case err != nil:
		t.Fatalf("rustscope exited with %v; stderr:\n%s", err, r.stderr.String())
	}
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
	Status   struct{ Code, Description string }
	Resource []struct {
		Key   string
		Value struct{ Value any }
	}
	InstrumentationScope struct{ Name, Version string }
	SpanContext, Parent  jsonSpanContext
}

// jsonSpanContext is a span context as the stdout exporter prints it.
type jsonSpanContext struct {
	TraceID, SpanID, TraceFlags, TraceState string
	Remote                                  bool
}

// Span kinds as the stdout exporter prints them (trace.SpanKind).
const (
	kindServer = 2
	kindClient = 3
)

func (s jsonSpan) attr(k string) string {
	for _, a := range s.Attributes {
		if a.Key == k {
			return fmt.Sprint(a.Value.Value)
		}
	}
	return ""
}

// attrDiffs lists, one line each, the attributes of s that differ from want.
func (s jsonSpan) attrDiffs(want map[string]string) []string {
	var out []string
	for k, v := range want {
		if s.attr(k) != v {
			out = append(out, fmt.Sprintf("%s = %q, want %q", k, s.attr(k), v))
		}
	}
	return out
}

func (s jsonSpan) hasAttr(k string) bool {
	for _, a := range s.Attributes {
		if a.Key == k {
			return true
		}
	}
	return false
}

func (s jsonSpan) resource(k string) string {
	for _, a := range s.Resource {
		if a.Key == k {
			return fmt.Sprint(a.Value.Value)
		}
	}
	return ""
}

func (s jsonSpan) duration() time.Duration { return s.EndTime.Sub(s.StartTime) }

func (s jsonSpan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s kind=%d %s..%s (%v) status=%s", s.Name, s.SpanKind,
		s.StartTime.Format("15:04:05.000000"), s.EndTime.Format("15:04:05.000000"), s.duration(), s.Status.Code)
	for _, a := range s.Attributes {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Value)
	}
	return b.String()
}

func parseSpans(t *testing.T, out []byte) []jsonSpan {
	t.Helper()
	var spans []jsonSpan
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber() // sizes print as integers, not 1.048576e+06
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

// diffKeys lists the multiset difference of two key lists, sorted.
func diffKeys(want, got []string) string {
	count := map[string]int{}
	for _, k := range want {
		count[k]++
	}
	for _, k := range got {
		count[k]--
	}
	var keys []string
	for k, n := range count {
		if n != 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		if n := count[k]; n > 0 {
			fmt.Fprintf(&b, "  missing %dx %s\n", n, k)
		} else {
			fmt.Fprintf(&b, "  extra   %dx %s\n", -n, k)
		}
	}
	return b.String()
}

// matchMultiset pairs spans with expectations by key (order does not
// matter) and reports the difference in one error. It returns, per key,
// the spans with that key.
func matchMultiset(t *testing.T, what string, wantKeys []string, spans []jsonSpan, key func(jsonSpan) string) map[string][]jsonSpan {
	t.Helper()
	byKey := map[string][]jsonSpan{}
	var got []string
	for _, s := range spans {
		k := key(s)
		got = append(got, k)
		byKey[k] = append(byKey[k], s)
	}
	if d := diffKeys(wantKeys, got); d != "" {
		const max = 60
		lines := strings.SplitAfter(d, "\n")
		if len(lines) > max {
			lines = append(lines[:max], fmt.Sprintf("  ... and %d more lines\n", len(lines)-max))
		}
		t.Errorf("%s: %d spans for %d expected; spans do not match requests (key: %s):\n%s",
			what, len(spans), len(wantKeys), keyLegend, strings.Join(lines, ""))
	}
	return byKey
}

// keyLegend describes the keys the matrix tests compare.
const keyLegend = "method target status req-body resp-body peer"

// --- Go HTTP load driver -------------------------------------------------

// connMode is how a request reaches the server.
type connMode uint8

const (
	keepAlive   connMode = iota // shared pool of keep-alive connections
	closeHeader                 // keep-alive transport, but "Connection: close"
	fresh                       // transport without keep-alives: one connection per request
)

func (m connMode) String() string { return [...]string{"keep-alive", "close-header", "fresh"}[m] }

// httpReq is one request of a traffic mix: what to send, what status it
// must get, and what the client saw.
type httpReq struct {
	method, target string // target: path and query
	body           []byte
	status         int
	mode           connMode
	wantChunked    bool   // the response must be chunked
	wantBody       int64  // expected response body size, -1: not checked
	keep           bool   // keep the response body in data
	chunkedBody    bool   // send the body with chunked framing (length unknown)
	header         string // value of an X-Pad header, to make a large head

	// filled in by load
	port       int       // client's local port
	start, end time.Time // connection obtained .. response body read
	respBody   int64
	chunked    bool
	data       []byte
}

func (r *httpReq) path() string { p, _, _ := strings.Cut(r.target, "?"); return p }

// key is the request as a server span must describe it.
func (r *httpReq) key() string {
	return fmt.Sprintf("%s %s %d %d %d %d", r.method, r.path(), r.status, len(r.body), r.respBody, r.port)
}

// serverSpanKey is key for a server span.
func serverSpanKey(s jsonSpan) string {
	return fmt.Sprintf("%s %s %s %s %s %s", s.attr("http.request.method"), s.attr("url.path"),
		s.attr("http.response.status_code"), s.attr("http.request.body.size"),
		s.attr("http.response.body.size"), s.attr("client.port"))
}

// load sends reqs from conc workers and records each one's client-side
// view. Keep-alive requests share one pool with up to conc idle
// connections; fresh ones use a transport without keep-alives.
func load(t *testing.T, base string, reqs []*httpReq, conc int) {
	t.Helper()
	loadCounting(t, base, reqs, conc, nil)
}

// loadCounting is load that counts the requests done in done.
func loadCounting(t *testing.T, base string, reqs []*httpReq, conc int, done *atomic.Int64) {
	t.Helper()
	pooled := &http.Transport{MaxIdleConnsPerHost: conc, MaxIdleConns: conc, DisableCompression: true}
	single := &http.Transport{DisableKeepAlives: true, DisableCompression: true}
	defer pooled.CloseIdleConnections()
	work := make(chan *httpReq)
	errs := make(chan error, len(reqs))
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				if err := do(base, r, pooled, single); err != nil {
					errs <- err
				}
				if done != nil {
					done.Add(1)
				}
			}
		}()
	}
	t0 := time.Now()
	for _, r := range reqs {
		work <- r
	}
	close(work)
	wg.Wait()
	close(errs)
	t.Logf("sent %d requests at concurrency %d in %v", len(reqs), conc, time.Since(t0).Round(time.Millisecond))
	n := 0
	for err := range errs {
		if n++; n <= 20 {
			t.Error(err)
		}
	}
	if n > 20 {
		t.Errorf("... %d request errors in all", n)
	}
}

func do(base string, r *httpReq, pooled, single *http.Transport) error {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
		if r.chunkedBody {
			body = struct{ io.Reader }{body} // hides the length
		}
	}
	req, err := http.NewRequest(r.method, base+r.target, body)
	if err != nil {
		return err
	}
	if r.header != "" {
		req.Header.Set("X-Pad", r.header)
	}
	tr := pooled
	switch r.mode {
	case closeHeader:
		req.Close = true
	case fresh:
		tr = single
	}
	// The window starts when the request has its connection, just before
	// it is written: a request waiting for a pooled connection must not
	// seem to start before the one that had the connection first.
	var port int
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			port = info.Conn.LocalAddr().(*net.TCPAddr).Port
			r.start = time.Now()
		},
	}))
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.method, r.target, err)
	}
	var dst io.Writer = io.Discard
	var buf bytes.Buffer
	if r.keep {
		dst = &buf
	}
	n, err := io.Copy(dst, resp.Body)
	resp.Body.Close()
	r.data = buf.Bytes()
	r.end = time.Now()
	if err != nil {
		return fmt.Errorf("%s %s: read body: %w", r.method, r.target, err)
	}
	r.port, r.respBody = port, n
	r.chunked = len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
	switch {
	case resp.StatusCode != r.status:
		return fmt.Errorf("%s %s: status %d, want %d", r.method, r.target, resp.StatusCode, r.status)
	case r.wantBody >= 0 && n != r.wantBody:
		return fmt.Errorf("%s %s: response body %d bytes, want %d", r.method, r.target, n, r.wantBody)
	case r.wantChunked != r.chunked:
		return fmt.Errorf("%s %s: chunked response %v, want %v", r.method, r.target, r.chunked, r.wantChunked)
	}
	return nil
}

// redactedQuery is url.query as rustscope reports it: keys kept, values
// replaced.
func redactedQuery(target string) string {
	_, q, ok := strings.Cut(target, "?")
	if !ok {
		return ""
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		if k, _, ok := strings.Cut(p, "="); ok {
			parts[i] = k + "=REDACTED"
		}
	}
	return strings.Join(parts, "&")
}

// hostPort splits a base URL's host and port.
func hostPort(t *testing.T, base string) (string, int) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(u.Port())
	return u.Hostname(), p
}
