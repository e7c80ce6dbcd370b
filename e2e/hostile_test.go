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
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
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

// random is a seeded source of random bytes.
type random struct{ *rand.Rand }

func newRandom(stream uint64) random {
	return random{rand.New(rand.NewPCG(hostileSeed, stream))}
}

func (r random) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// randomBytes sends random bytes, alone and after the start of each
// protocol, in one write and in many.
func (h *hostile) randomBytes() {
	r := newRandom(1)
	for i := range 24 {
		var prefix []byte
		switch i % 4 {
		case 1:
			prefix = []byte("GET / HTTP/1.1\r\n")
		case 2:
			prefix = []byte(http2.ClientPreface)
		case 3:
			prefix = append([]byte(http2.ClientPreface), frame(http2.FrameSettings, 0, 0, nil)...)
		}
		b := append(prefix, r.bytes(1+r.IntN(16<<10))...)
		if i%3 == 0 {
			h.send(10*time.Millisecond, b)
			continue
		}
		var parts [][]byte
		for len(b) > 0 {
			n := min(len(b), 1+r.IntN(3000))
			parts = append(parts, b[:n])
			b = b[n:]
		}
		h.send(5*time.Millisecond, parts...)
	}
}

// --- HTTP/2 -------------------------------------------------------------------

// frame is one HTTP/2 frame: its header says len(payload).
func frame(typ http2.FrameType, flags http2.Flags, sid uint32, payload []byte) []byte {
	return frameLen(typ, flags, sid, len(payload), payload)
}

// frameLen is a frame whose header says length, whatever follows.
func frameLen(typ http2.FrameType, flags http2.Flags, sid uint32, length int, payload []byte) []byte {
	b := []byte{byte(length >> 16), byte(length >> 8), byte(length), byte(typ), byte(flags), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[5:], sid)
	return append(b, payload...)
}

// hblock HPACK-encodes name, value pairs with a fresh table.
func hblock(kv ...string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for i := 0; i+1 < len(kv); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return b.Bytes()
}

func grpcHeaders(port int) []string {
	return []string{":method", "POST", ":scheme", "http", ":path", "/demo.v1.Users/GetUser", ":authority", "127.0.0.1:" + strconv.Itoa(port),
		"content-type", "application/grpc", "te", "trailers"}
}

// grpcBody is a GetUserRequest{id} as a gRPC message.
func grpcBody(id string) []byte {
	msg := append([]byte{0x0a, byte(len(id))}, id...)
	return append([]byte{0, 0, 0, 0, byte(len(msg))}, msg...)
}

// h2Request is the preface, SETTINGS and a GetUser(id) call on stream sid.
func h2Request(port int, id string, sid uint32) []byte {
	b := append([]byte(http2.ClientPreface), frame(http2.FrameSettings, 0, 0, nil)...)
	b = append(b, frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, sid, hblock(grpcHeaders(port)...))...)
	return append(b, frame(http2.FrameData, http2.FlagDataEndStream, sid, grpcBody(id))...)
}

// http2Garbage sends malformed HTTP/2 after a valid preface (and a bad
// preface), each on its own connection, and valid calls followed by
// garbage on the same connection.
func (h *hostile) http2Garbage() {
	pre := append([]byte(http2.ClientPreface), frame(http2.FrameSettings, 0, 0, nil)...)
	good := hblock(grpcHeaders(h.srv.port)...)
	body := grpcBody("7")
	var cont []byte // a CONTINUATION flood: a header block that never ends
	cont = append(cont, frame(http2.FrameHeaders, 0, 1, good)...)
	for i := range 2000 {
		cont = append(cont, frame(http2.FrameContinuation, 0, 1, hblock(fmt.Sprintf("x-flood-%d", i), strings.Repeat("f", 64)))...)
	}
	var conns [][][]byte
	for _, frames := range [][]byte{
		// bad lengths
		frameLen(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, 0xffffff, good),
		frameLen(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, 1000, good),
		frameLen(http2.FrameData, 0, 1, 1<<20, body),
		frame(http2.FrameSettings, 0, 0, []byte{0, 1, 0, 0, 0}),
		frame(http2.FramePing, 0, 0, []byte{1, 2, 3}),
		frame(http2.FrameWindowUpdate, 0, 0, []byte{0, 0}),
		frame(http2.FrameRSTStream, 0, 1, []byte{0, 0, 0}),
		frame(http2.FramePriority, 0, 1, []byte{0, 0, 0, 1}),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersPadded, 1, append([]byte{200}, good...)),
		// bad HPACK: indices past the tables, a huge dynamic-table-size
		// update, one after a field, a truncated literal, bad Huffman
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, []byte{0x80}),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, []byte{0xbe}),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, append([]byte{0x3f, 0xe1, 0xff, 0xff, 0xff, 0x07}, good...)),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, append(append([]byte{}, good...), 0x20)),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, append(append([]byte{}, good[:len(good)/2]...), 0x40, 0x7f, 'a')),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, []byte{0x40, 0x83, 0xff, 0xff, 0xff, 0x01, 'v'}),
		// CONTINUATION without HEADERS, on another stream, flooded
		frame(http2.FrameContinuation, http2.FlagContinuationEndHeaders, 1, good),
		append(frame(http2.FrameHeaders, 0, 1, good[:3]), frame(http2.FrameContinuation, http2.FlagContinuationEndHeaders, 3, good[3:])...),
		append(frame(http2.FrameHeaders, 0, 1, good[:3]), frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 3, good)...),
		cont,
		// streams that may not be opened
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 0, good),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 2, good),
		append(frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 5, good), frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 3, good)...),
		frame(http2.FrameData, http2.FlagDataEndStream, 9, body),
		// headers a server must refuse
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, hblock(":path", "/demo.v1.Users/GetUser")),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, hblock(append(grpcHeaders(h.srv.port), ":method", "GET")...)),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, hblock(append(grpcHeaders(h.srv.port), "Upper-Case", "x")...)),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, hblock(append(grpcHeaders(h.srv.port), "connection", "close")...)),
		frame(http2.FrameSettings, 0, 0, []byte{0, 1, 0xff, 0xff, 0xff, 0xff, 0, 4, 0xff, 0xff, 0xff, 0xff}),
		frame(99, 0, 1, []byte("unknown frame type")),
		// a valid call with garbage in the same write
		append(append(frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, good), frame(http2.FrameData, http2.FlagDataEndStream, 1, body)...), newRandom(7).bytes(500)...),
	} {
		conns = append(conns, [][]byte{pre, frames})
	}
	conns = append(conns,
		[][]byte{[]byte("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"), frame(http2.FrameSettings, 0, 0, nil)},
		[][]byte{[]byte(http2.ClientPreface[:10]), []byte("GET / HTTP/1.1\r\n\r\n")},
		[][]byte{[]byte("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")})
	h.sendAll(conns)
	if !h.grpc {
		return
	}
	// Valid calls, each answered, then garbage on the same connection.
	for i, garbage := range [][]byte{
		frame(http2.FrameContinuation, http2.FlagContinuationEndHeaders, 3, good),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 3, []byte{0xbe}),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 3, []byte{0x3f, 0xe1, 0xff, 0xff, 0xff, 0x07}),
		frameLen(http2.FrameHeaders, 0, 3, 0xffffff, nil),
		newRandom(8).bytes(3000),
	} {
		id := strconv.Itoa(800 + i)
		c, ok := h.dial()
		if !ok {
			return
		}
		if _, err := c.Write(h2Request(h.srv.port, id, 1)); err != nil {
			h.fail(fmt.Errorf("gRPC call then garbage: %w", err))
		} else if h.h2Answer(c, id, true) {
			c.Write(garbage)
			drain(c, 300*time.Millisecond)
		}
		c.Close()
	}
}

// h2Answer reads the answer to the GetUser(id) call on stream 1 of c
// (sent with h2Request) and records its span key; it acknowledges the
// server's SETTINGS as a client must.
func (h *hostile) h2Answer(c net.Conn, id string, keepOpen bool) bool {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var status string
	var n int
	for done := false; !done; {
		f, err := fr.ReadFrame()
		if err != nil {
			h.fail(fmt.Errorf("GetUser(%s) over raw frames: %w", id, err))
			return false
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				fr.WritePing(true, f.Data)
			}
		case *http2.DataFrame:
			if f.StreamID == 1 {
				n += len(f.Data())
				done = f.StreamEnded()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == 1 {
				if v := f.PseudoValue("status"); v != "" && v != "200" {
					h.fail(fmt.Errorf("GetUser(%s) over raw frames: :status %s", id, v))
				}
				for _, hf := range f.RegularFields() {
					if hf.Name == "grpc-status" {
						status = hf.Value
					}
				}
				done = f.StreamEnded()
			}
		case *http2.RSTStreamFrame, *http2.GoAwayFrame:
			h.fail(fmt.Errorf("GetUser(%s) over raw frames: %v", id, f))
			return false
		}
	}
	c.SetDeadline(time.Time{})
	code, _ := strconv.Atoi(status)
	h.expectGRPC(localPort(c), id, code, n)
	return true
}

// expectGRPC records a GetUser(id) call that got code and a response body
// of respBody bytes.
func (h *hostile) expectGRPC(port int, id string, code, respBody int) {
	resp := strconv.Itoa(respBody)
	if code == 0 && respBody > 5 {
		resp = "some" // as grpcSpanKey has it
	}
	h.expect(port, "demo.v1.Users/GetUser", grpcKey("GetUser", code, len(grpcBody(id)), resp)+" "+strconv.Itoa(port))
}

// grpcValid makes gRPC calls over h2c connections (a few calls each,
// some concurrent) until done.
func (h *hostile) grpcValid(done <-chan struct{}) {
	untilDone(done, func() {
		tr := newH2CTransport(h)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { h.grpcCalls(tr, 6) })
		}
		wg.Wait()
		tr.CloseIdleConnections()
	})
}

// newH2CTransport is an HTTP/2 transport without TLS.
func newH2CTransport(h *hostile) *http2.Transport {
	return &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
}

// grpcCalls makes n GetUser calls over tr, cycling OK, NOT_FOUND and
// INTERNAL, and records their span keys.
func (h *hostile) grpcCalls(tr *http2.Transport, n int) {
	for i := range n {
		id := []string{strconv.Itoa(i + 1), "notfound", "fail"}[i%3]
		want := []int{0, 5, 13}[i%3]
		port, code, size, err := grpcCall(tr, h.srv.base, id)
		if err == nil && code != want {
			err = fmt.Errorf("grpc-status %d, want %d", code, want)
		}
		if err != nil {
			h.fail(fmt.Errorf("GetUser(%s) over h2c: %w", id, err))
			continue
		}
		h.expectGRPC(port, id, code, size)
	}
}

// grpcCall makes one GetUser(id) call and returns the client port, the
// grpc-status and the response body size.
func grpcCall(tr *http2.Transport, base, id string) (port, code, size int, err error) {
	req, err := http.NewRequest("POST", base+"/demo.v1.Users/GetUser", bytes.NewReader(grpcBody(id)))
	if err != nil {
		return 0, 0, 0, err
	}
	req.Header.Set("content-type", "application/grpc")
	req.Header.Set("te", "trailers")
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { port = localPort(i.Conn) },
	}))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("read body: %w", err)
	}
	status := resp.Trailer.Get("grpc-status")
	if status == "" {
		status = resp.Header.Get("grpc-status")
	}
	if code, err = strconv.Atoi(status); err != nil {
		return 0, 0, 0, fmt.Errorf("grpc-status %q", status)
	}
	return port, code, int(n), nil
}

// --- checks ---------------------------------------------------------------------

// checkSpans matches the spans to the valid requests: each must have its
// span exactly once, with the right attributes. Other spans must come
// from hostile connections and must not claim a valid request of theirs.
func (h *hostile) checkSpans(spans []jsonSpan) {
	t := h.t
	t.Helper()
	key, what := serverSpanKey, func(s jsonSpan) string { return s.attr("http.request.method") + " " + s.attr("url.path") }
	if h.grpc {
		key = func(s jsonSpan) string { return grpcSpanKey(s) + " " + s.attr("client.port") }
		what = func(s jsonSpan) string { return s.Name }
	}
	left := map[string]int{}
	var want []string
	for k, n := range h.want {
		left[k] = n
		for range n {
			want = append(want, k)
		}
	}
	var got []string
	garbage, bad := 0, 0
	report := func(s jsonSpan, format string, args ...any) {
		t.Helper()
		if bad++; bad <= 30 {
			t.Errorf("%s\n    span: %s", fmt.Sprintf(format, args...), s)
		}
	}
	for _, s := range spans {
		k := key(s)
		if left[k] > 0 {
			left[k]--
			got = append(got, k)
			h.checkValid(s, report)
			continue
		}
		port, _ := strconv.Atoi(s.attr("client.port"))
		switch {
		case slices.Contains(h.validWhat[port], what(s)):
			var sent []string
			for k := range h.want {
				if strings.HasSuffix(k, " "+strconv.Itoa(port)) {
					sent = append(sent, k)
				}
			}
			report(s, "a span for %q on port %d that no request sent there matches, or a second one; sent there: %q", what(s), port, sent)
		case !h.hostilePorts[port]:
			report(s, "a span no request was sent for (port %d)", port)
		default:
			garbage++
		}
	}
	if d := diffKeys(want, got); d != "" {
		t.Errorf("valid requests without their span (key: %s; grpc: name code req-body resp-body port):\n%s", keyLegend, d)
	}
	t.Logf("%d spans: %d for valid requests, %d from hostile connections", len(spans), len(got), garbage)
}

// checkValid checks what a valid request's span carries beyond its key.
func (h *hostile) checkValid(s jsonSpan, report func(jsonSpan, string, ...any)) {
	if s.SpanKind != kindServer {
		report(s, "kind %d, want server", s.SpanKind)
	}
	if d := s.attrDiffs(map[string]string{"server.address": "127.0.0.1", "server.port": strconv.Itoa(h.srv.port), "client.address": "127.0.0.1"}); d != nil {
		report(s, "%s", strings.Join(d, "; "))
	}
	if h.grpc {
		if d := s.attrDiffs(map[string]string{"rpc.system": "grpc", "rpc.service": "demo.v1.Users", "network.protocol.version": "2"}); d != nil {
			report(s, "%s", strings.Join(d, "; "))
		}
		code, _ := strconv.Atoi(s.attr("rpc.grpc.status_code"))
		if s.Name != "demo.v1.Users/"+s.attr("rpc.method") || (s.Status.Code == "Error") != (code == 13) {
			report(s, "name or status do not match rpc.method %q, code %d", s.attr("rpc.method"), code)
		}
		// grpc-message comes percent-encoded: "simulated%20internal%20error".
		if want := map[int]string{13: "Internal: simulated internal error"}[code]; s.Status.Description != want {
			report(s, "status description %q, want %q", s.Status.Description, want)
		}
		if s.InstrumentationScope.Name != "tonic" {
			report(s, "scope %q, want tonic", s.InstrumentationScope.Name)
		}
		return
	}
	route := axumRoute(s.attr("url.path"))
	code, _ := strconv.Atoi(s.attr("http.response.status_code"))
	if s.attr("http.route") != route || s.hasAttr("http.route") != (route != "") || s.Name != strings.TrimSpace(s.attr("http.request.method")+" "+route) {
		report(s, "name %q, http.route %q; want route %q", s.Name, s.attr("http.route"), route)
	}
	if (s.Status.Code == "Error") != (code >= 500) || s.attr("network.protocol.version") != "1.1" || s.InstrumentationScope.Name != "axum" {
		report(s, "status %q, protocol %q, scope %q", s.Status.Code, s.attr("network.protocol.version"), s.InstrumentationScope.Name)
	}
}

// connPorts lists the local ports of pid's TCP connections to remotePort
// on 127.0.0.1 (its socket fds, found in /proc/net/tcp).
func connPorts(t *testing.T, pid, remotePort int) []int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if in, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(in, "]")] = true
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		t.Fatal(err)
	}
	var ports []int
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 || !inodes[f[9]] || !strings.HasSuffix(f[2], fmt.Sprintf(":%04X", remotePort)) {
			continue
		}
		_, lp, _ := strings.Cut(f[1], ":")
		if p, err := strconv.ParseUint(lp, 16, 16); err == nil {
			ports = append(ports, int(p))
		}
	}
	return ports
}

// procStart is the start time of pid (field 22 of /proc/PID/stat): the
// same pid with the same start time is the same process.
func procStart(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("target: %v", err)
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		t.Fatalf("target: short /proc/%d/stat", pid)
	}
	return f[19]
}
