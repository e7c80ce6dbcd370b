package e2e

// A Go HTTP load driver that records what every request looked like on
// the client side.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

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
