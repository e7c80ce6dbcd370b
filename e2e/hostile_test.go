//go:build linux

package e2e

// Hostile traffic, end to end: rustscope attached to the release axum and
// tonic servers while they receive malformed HTTP/1.1, slowloris
// connections, malformed HTTP/2 frames and HPACK, and random bytes, with
// valid HTTP and gRPC requests interleaved, some on the hostile
// connections themselves. rustscope must stay up and describe every valid
// request exactly, and the servers must not notice it. What it makes of
// the garbage is not checked, unless it claims a valid request.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hostileSeed makes the random bytes the same in every run.
const hostileSeed = 20260101

// TestE2EHostileTraffic: the axum app gets every kind of hostile traffic
// and the valid HTTP/1.1 mix; the tonic app the same hostile traffic and
// valid gRPC calls (Go over h2c, raw frames, and the Rust tonic client).
func TestE2EHostileTraffic(t *testing.T) {
	needE2E(t, "release/tonic-server", "release/tonic-client")
	t.Run("axum", func(t *testing.T) {
		srv := startServer(t, "release", "axum-server")
		hostileRun(t, srv, false, func(h *hostile, done <-chan struct{}) {
			h.http1Valid(done)
		}, nil)
	})
	t.Run("tonic", func(t *testing.T) {
		srv := startServer(t, "release", "tonic-server")
		const n = 100
		hostileRun(t, srv, true, func(h *hostile, done <-chan struct{}) {
			h.grpcValid(done)
		}, func(h *hostile) {
			// The Rust client's calls, at the same time over one
			// connection: its spans are found by that connection's port.
			cl := startWaitClient(t, "release", "tonic-client", "--addr", srv.base, "--count", strconv.Itoa(n), "--concurrency", "8", "--mix")
			if summary := cl.run(t); !strings.Contains(summary, "unexpected=0") {
				t.Errorf("tonic client: %s", summary)
			}
			ports := connPorts(t, cl.cmd.Process.Pid, srv.port)
			cl.finish(t)
			if len(ports) != 1 {
				t.Fatalf("tonic client: connections from ports %v, want one", ports)
			}
			for _, k := range grpcMixKeys(n) {
				h.expect(ports[0], "", k+" "+strconv.Itoa(ports[0]))
			}
		})
	})
}

// hostileRun attaches rustscope to srv, sends the hostile battery (both
// protocols: each server gets both) while valid runs until it is done and
// alongside (if any) runs on the test goroutine, then checks rustscope,
// the spans and the server.
func hostileRun(t *testing.T, srv *server, grpc bool, valid func(*hostile, <-chan struct{}), alongside func(*hostile)) {
	t.Helper()
	start := procStart(t, srv.pid())
	rs := attach(t, srv.pid())
	h := &hostile{t: t, srv: srv, grpc: grpc, hostilePorts: map[int]bool{}, want: map[string]int{}, validWhat: map[int][]string{}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { valid(h, done) })
	var battery sync.WaitGroup
	battery.Go(h.http1Garbage)
	battery.Go(h.http2Garbage)
	battery.Go(h.randomBytes)
	battery.Go(h.slowloris)
	if alongside != nil {
		alongside(h)
	}
	battery.Wait()
	close(done)
	wg.Wait()
	// The last word: a valid request after everything, on a new connection.
	if h.grpc {
		h.grpcCalls(newH2CTransport(h), 3)
	} else {
		h.http1Load(serverMix(true, 20)[:20], 4)
	}
	h.mu.Lock()
	for _, err := range h.errs {
		t.Error(err)
	}
	nWant := 0
	for _, c := range h.want {
		nWant += c
	}
	h.mu.Unlock()
	t.Logf("%d hostile connections, %d valid requests", len(h.hostilePorts), nWant)

	if rs.cmd.ProcessState != nil || syscall.Kill(rs.cmd.Process.Pid, 0) != nil {
		t.Fatalf("rustscope is gone; stderr:\n%s", rs.stderr.String())
	}
	if got := procStart(t, srv.pid()); got != start || srv.cmd.ProcessState != nil {
		t.Fatalf("target pid %d: start time %s, was %s: not the same process", srv.pid(), got, start)
	}
	rs.waitSpans(t, nWant, spanWait)
	spans := rs.stop(t) // flushes what is still queued, the garbage's spans too
	if stderr := rs.stderr.String(); strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
		t.Errorf("rustscope panicked; stderr:\n%s", stderr)
	}
	h.checkSpans(spans)
}

// hostile sends the traffic and keeps what its spans must be.
type hostile struct {
	t    *testing.T
	srv  *server
	grpc bool // the target is the gRPC server

	mu           sync.Mutex
	hostilePorts map[int]bool     // connections that sent garbage
	want         map[string]int   // span keys of the valid requests (a multiset)
	validWhat    map[int][]string // per port: what its valid requests were ("GET /users/7", a gRPC name)
	errs         []error
}

func (h *hostile) fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.errs) < 20 {
		h.errs = append(h.errs, err)
	}
}

// expect records a valid request: the span key it must give, and what
// no other span on its connection may claim to be.
func (h *hostile) expect(port int, what, key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.want[key]++
	if what != "" {
		h.validWhat[port] = append(h.validWhat[port], what)
	}
}

// dial opens a connection to the server and records it as hostile.
func (h *hostile) dial() (net.Conn, bool) {
	c, err := net.DialTimeout("tcp", h.srv.base[len("http://"):], 5*time.Second)
	if err != nil {
		h.fail(fmt.Errorf("dial for hostile traffic: %w", err))
		return nil, false
	}
	h.mu.Lock()
	h.hostilePorts[localPort(c)] = true
	h.mu.Unlock()
	return c, true
}

func localPort(c net.Conn) int { return c.LocalAddr().(*net.TCPAddr).Port }

// send writes parts on a new connection, gap apart (so that they arrive
// in separate reads), then reads whatever comes back until the server
// closes or is quiet for 300 ms. Write errors are expected: a server
// closes a connection that sent garbage.
func (h *hostile) send(gap time.Duration, parts ...[]byte) {
	c, ok := h.dial()
	if !ok {
		return
	}
	defer c.Close()
	for i, p := range parts {
		if i > 0 {
			time.Sleep(gap)
		}
		if _, err := c.Write(p); err != nil {
			return
		}
	}
	drain(c, 300*time.Millisecond)
}

// sendAll sends each connection's parts (send), four connections at a
// time.
func (h *hostile) sendAll(conns [][][]byte) {
	work := make(chan [][]byte)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for parts := range work {
				h.send(20*time.Millisecond, parts...)
			}
		})
	}
	for _, c := range conns {
		work <- c
	}
	close(work)
	wg.Wait()
}

func drain(c net.Conn, quiet time.Duration) {
	buf := make([]byte, 32<<10)
	for {
		c.SetReadDeadline(time.Now().Add(quiet))
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// --- HTTP/1.1 ---------------------------------------------------------------

// http1Garbage sends malformed HTTP/1.1, each kind on its own connection,
// and valid requests followed by garbage on the same connection.
func (h *hostile) http1Garbage() {
	bigHead := "GET /health HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("b", 64<<10) + "\r\n\r\n"
	var manyHeaders strings.Builder
	manyHeaders.WriteString("GET /health HTTP/1.1\r\nHost: h\r\n")
	for i := 0; manyHeaders.Len() < 64<<10; i++ {
		fmt.Fprintf(&manyHeaders, "X-H-%d: %s\r\n", i, strings.Repeat("v", 40))
	}
	manyHeaders.WriteString("\r\n")
	var conns [][][]byte
	for _, parts := range [][]string{
		// bad request lines
		{"GARBAGE\r\n\r\n"}, {"GET\r\n\r\n"}, {"GET  / HTTP/1.1\r\n\r\n"}, {"GET /a b HTTP/1.1\r\n\r\n"},
		{" GET / HTTP/1.1\r\n\r\n"}, {"G\x00T / HTTP/1.1\r\n\r\n"}, {"GET /\x01 HTTP/1.1\r\n\r\n"},
		{"GET / HTTP/1.1 extra\r\n\r\n"}, {"\r\n\r\n\r\n"}, {"GET " + strings.Repeat("/x", 40000) + " HTTP/1.1\r\n\r\n"},
		// bad versions
		{"GET / HTTP/2.0\r\nHost: h\r\n\r\n"}, {"GET / HTTP/1.10\r\n\r\n"}, {"GET / HTTP/0.9\r\n\r\n"}, {"GET / FOO/1.1\r\n\r\n"},
		{"GET / http/1.1\r\n\r\n"}, {"GET / HTTP/1\r\n\r\n"}, {"GET / HTTP/\r\n\r\n"},
		// invalid header bytes, a line without a colon, bad framing headers
		{"GET /health HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n"}, {"GET /health HTTP/1.1\r\nX\x01Y: 1\r\n\r\n"},
		{"GET /health HTTP/1.1\r\nBad Name: 1\r\n\r\n"}, {"GET /health HTTP/1.1\r\nX-U: \xff\xfe\x80\r\n\r\n"},
		{"GET /health HTTP/1.1\r\nHost: h\r\nno colon here\r\n\r\n"}, {"GET /health HTTP/1.1\r\n: empty name\r\n\r\n"},
		{"GET /health HTTP/1.1\r\n folded: x\r\n\r\n"}, {"GET /health HTTP/1.1\r\nHost: h\nX: y\r\r\n\r\n"},
		{"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\nabc"},
		{"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
		{"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"},
		{"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n"},
		{"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nxxxx"},
		// a 64 KB header block: one field, and many
		{bigHead}, {manyHeaders.String()}, {bigHead[:30000], bigHead[30000:]},
		// chunked bodies with bad sizes
		{"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
		{"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"},
		{"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nhello\r\n"},
		{"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\nhello"},
		{"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"},
		{"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n"},
		{"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;" + strings.Repeat("e", 70000) + "\r\nhello\r\n0\r\n\r\n"},
		{"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", "3\r\nabc\r\n", "1x\r\n", "0\r\n\r\n"},
		{"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n"},
		{"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
		// split oddly, garbage mid-stream
		{"GET /hea", "lth HTTP/1.1\r\n", "Host: h\r\n\x00\r\n\r\n"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}, // a response where a request belongs
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "GET / HTTP/1.1\r\n\r\n"},
	} {
		var bs [][]byte
		for _, p := range parts {
			bs = append(bs, []byte(p))
		}
		conns = append(conns, bs)
	}
	h.sendAll(conns)
	if h.grpc {
		return // the tonic server speaks HTTP/2 only
	}
	// Valid requests with garbage after them on the same connection, in
	// the same write (pipelined) or after the response.
	for i, garbage := range []string{
		"\x00\x01\x02\x03garbage",
		"GET / HTTP/9.9\r\n\r\n",
		"GET /health HTTP/1.1\r\nno colon\r\n\r\n",
		"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", // a TLS ClientHello
		string(newRandom(2).bytes(2000)),
	} {
		for _, pipelined := range []bool{true, false} {
			h.http1ThenGarbage(fmt.Sprintf("/users/%d", 700+2*i+b2i(pipelined)), []byte(garbage), pipelined)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// http1ThenGarbage sends a valid GET of path and garbage on one
// connection; the GET must get its span.
func (h *hostile) http1ThenGarbage(path string, garbage []byte, pipelined bool) {
	c, ok := h.dial()
	if !ok {
		return
	}
	defer c.Close()
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	if pipelined {
		req = append(req, garbage...)
	}
	if _, err := c.Write(req); err != nil {
		h.fail(fmt.Errorf("GET %s then garbage: %w", path, err))
		return
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, &http.Request{Method: "GET"})
	if err != nil {
		h.fail(fmt.Errorf("GET %s then garbage: read response: %w", path, err))
		return
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		h.fail(fmt.Errorf("GET %s then garbage: status %d, body %d bytes, %v", path, resp.StatusCode, n, err))
		return
	}
	port := localPort(c)
	h.expect(port, "GET "+path, fmt.Sprintf("GET %s 200 0 %d %d", path, n, port))
	if !pipelined {
		c.Write(garbage)
	}
	drain(c, 300*time.Millisecond)
}

// untilDone runs round again and again until done, and at least four
// times, so valid traffic surrounds all of the hostile traffic.
func untilDone(done <-chan struct{}, round func()) {
	for n := 0; ; n++ {
		select {
		case <-done:
			if n >= 4 {
				return
			}
		default:
		}
		round()
	}
}

// http1Valid sends the valid HTTP/1.1 mix in rounds until done.
func (h *hostile) http1Valid(done <-chan struct{}) {
	untilDone(done, func() { h.http1Load(serverMix(true, 40), 4) })
}

// http1Load sends reqs (keep-alive, Connection: close and fresh
// connections) and records their span keys.
func (h *hostile) http1Load(reqs []*httpReq, conc int) {
	load(h.t, h.srv.base, reqs, conc)
	for _, r := range reqs {
		if r.port != 0 {
			h.expect(r.port, r.method+" "+r.path(), r.key())
		}
	}
}

// slowloris opens many connections that send a request one byte every
// few hundred milliseconds for a few seconds. Half of them then send the
// rest and read the answer (a valid request, however slow), the others
// give up.
func (h *hostile) slowloris() {
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			complete := i%2 == 0
			var req []byte
			if h.grpc {
				req = h2Request(h.srv.port, fmt.Sprint(900+i), 1)
			} else {
				req = fmt.Appendf(nil, "GET /users/%d HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\n\r\n", 900+i)
			}
			c, ok := h.dial()
			if !ok {
				return
			}
			defer c.Close()
			every := time.Duration(150+(i*37)%250) * time.Millisecond
			k := 0
			for t0 := time.Now(); time.Since(t0) < 3*time.Second && k < len(req)-1; k++ {
				if _, err := c.Write(req[k : k+1]); err != nil {
					h.fail(fmt.Errorf("slowloris %d: write byte %d: %w", i, k, err))
					return
				}
				time.Sleep(every)
			}
			if !complete {
				return
			}
			if _, err := c.Write(req[k:]); err != nil {
				h.fail(fmt.Errorf("slowloris %d: write the rest: %w", i, err))
				return
			}
			if h.grpc {
				h.h2Answer(c, fmt.Sprint(900+i), false)
				return
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
			if err != nil {
				h.fail(fmt.Errorf("slowloris %d: read response: %w", i, err))
				return
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				h.fail(fmt.Errorf("slowloris %d: status %d, %v", i, resp.StatusCode, err))
				return
			}
			path := fmt.Sprintf("/users/%d", 900+i)
			port := localPort(c)
			h.expect(port, "GET "+path, fmt.Sprintf("GET %s 200 0 %d %d", path, n, port))
		})
	}
	wg.Wait()
}

// --- random bytes -------------------------------------------------------------
