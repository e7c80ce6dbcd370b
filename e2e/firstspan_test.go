package e2e

// End-to-end tests: the real rustscope binary attached to the real Rust
// test apps (testapps/, built by `make testapps`), driven with real
// traffic. They need root; in CI (CI=true) a missing prerequisite fails
// the test instead of skipping it.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// request is one request of a traffic mix and what its span must say.
type request struct {
	method, path string
	body         []byte
	status       int
	header       http.Header // extra request header fields
}

func (r request) key() string { return fmt.Sprintf("%s %s %d", r.method, r.path, r.status) }

// send sends reqs with conc workers sharing one keep-alive client and
// checks each response status.
func send(t *testing.T, base string, reqs []request, conc int) {
	t.Helper()
	sendWith(t, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conc}}, base, reqs, conc)
}

// sendWith is send with client (an HTTPS one, say).
func sendWith(t *testing.T, client *http.Client, base string, reqs []request, conc int) {
	t.Helper()
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
				for k, v := range r.header {
					req.Header[k] = v
				}
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
			app := startServer(t, "release", "axum-server")
			pid := app.pid()
			rs := startRustscope(t, tc.args(pid), tc.env(pid)...)
			reqs := axumMix(200)
			send(t, app.base, reqs, 4)
			rs.waitSpans(t, len(reqs), 10*time.Second)
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
				route := axumRoute(s.attr("url.path"))
				if want := strings.TrimSpace(s.attr("http.request.method") + " " + route); s.Name != want || s.attr("http.route") != route {
					t.Errorf("span name %q, http.route %q; want %q, %q", s.Name, s.attr("http.route"), want, route)
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
