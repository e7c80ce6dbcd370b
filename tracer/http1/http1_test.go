package http1

import (
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/rustscope/rustscope/tracer/flow"
)

// step is one capture (or a Close when close is set). size 0 means fully captured.
type step struct {
	dir   flow.Direction
	data  string
	size  int
	close bool
}

func in(s string) step  { return step{dir: flow.Ingress, data: s} }
func out(s string) step { return step{dir: flow.Egress, data: s} }

// trunc is a capture of which only data was copied out of size bytes.
func trunc(dir flow.Direction, data string, size int) step {
	return step{dir: dir, data: data, size: size}
}

// split cuts s into captures of n bytes, to exercise reassembly.
func split(dir flow.Direction, s string, n int) []step {
	var st []step
	for len(s) > n {
		st = append(st, step{dir: dir, data: s[:n]})
		s = s[n:]
	}
	return append(st, step{dir: dir, data: s})
}

func seq(parts ...any) []step {
	var st []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			st = append(st, p)
		case []step:
			st = append(st, p...)
		}
	}
	return st
}

type want struct {
	method, target    string
	status            int
	reqBody, respBody int64
	truncated         bool
	at                int // step index that must emit it (0: not checked)
	check             func(t *testing.T, e Exchange)
}

// run feeds steps at timestamps 100, 200, ... and collects the exchanges.
func run(t *testing.T, c *Conn, steps []step) (exs []Exchange, at []int) {
	t.Helper()
	for i, s := range steps {
		var got []Exchange
		if s.close {
			got = c.Close(uint64(i+1) * 100)
		} else {
			size := s.size
			if size == 0 {
				size = len(s.data)
			}
			got = c.Feed(s.dir, []byte(s.data), size, uint64(i+1)*100)
		}
		for range got {
			at = append(at, i)
		}
		exs = append(exs, got...)
	}
	return exs, at
}

const (
	get  = "GET /users/7?x=1 HTTP/1.1\r\nHost: api\r\n\r\n"
	ok0  = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	ok5  = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	h2   = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64"
	tls  = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03GET / HTTP/1.1\r\n\r\n"
	mb   = 1 << 20
	kib4 = 4 << 10
)

func TestConn(t *testing.T) {
	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"
	bigHead := "POST /upload HTTP/1.1\r\nHost: api\r\nContent-Length: 1048576\r\n\r\n"
	respHead := "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
	chunkedReq := "POST /t HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n"
	chunkedTrailers := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n2\r\nhi\r\n0\r\nX-Checksum: abc\r\nX-Other: d\r\n\r\n"
	trailers := func(t *testing.T, e Exchange) {
		if e.Response.Trailer.Get("X-Checksum") != "abc" || e.Response.Trailer.Get("X-Other") != "d" || e.Request.Trailer.Get("X-Sum") != "1" {
			t.Errorf("trailers: %v %v", e.Request.Trailer, e.Response.Trailer)
		}
	}
	rnd := make([]byte, 5000)
	rand.New(rand.NewSource(1)).Read(rnd)

	tests := []struct {
		name  string
		role  flow.Role
		steps []step
		want  []want
		stats *Stats
	}{
		{name: "simple GET", role: flow.RoleServer,
			steps: seq(in(get), out(ok5)),
			want: []want{{method: "GET", target: "/users/7?x=1", status: 200, respBody: 5, at: 1, check: func(t *testing.T, e Exchange) {
				if e.Request.Host != "api" || e.Request.Proto != "HTTP/1.1" || e.Response.Header.Get("Content-Length") != "5" {
					t.Errorf("head fields: %+v %+v", e.Request, e.Response)
				}
			}}},
			stats: &Stats{Exchanges: 1}},
		{name: "POST body split across captures", role: flow.RoleServer,
			steps: seq(in("POST /p HTTP/1.1\r\nHost: a\r\nContent-Le"), in("ngth: 10\r\n\r\n012"), in("3456"), in("789"),
				out("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")),
			want: []want{{method: "POST", target: "/p", status: 201, reqBody: 10, at: 4}}},
		{name: "keep-alive sequence", role: flow.RoleServer,
			steps: seq(in(get), out(ok5), in("GET /b HTTP/1.1\r\n\r\n"), out(ok0), in("DELETE /c HTTP/1.1\r\n\r\n"), out("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!")),
			want:  []want{{method: "GET", status: 200, respBody: 5, at: 1}, {target: "/b", status: 200, at: 3}, {method: "DELETE", status: 404, respBody: 3, at: 5}}},
		{name: "pipelined requests in one capture", role: flow.RoleServer,
			steps: seq(in("GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiHEAD /c HTTP/1.1\r\n\r\n"),
				out(ok5+"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")),
			want: []want{{target: "/a", status: 200, respBody: 5, at: 1}, {method: "POST", target: "/b", status: 201, reqBody: 2, at: 1}, {method: "HEAD", target: "/c", status: 200, at: 1}}},
		{name: "chunked response, chunk lines split", role: flow.RoleServer,
			steps: seq(in(get), split(flow.Egress, chunked, 1), in(get), split(flow.Egress, chunked, 7)),
			want:  []want{{status: 200, respBody: 21}, {status: 200, respBody: 21}}},
		{name: "chunked request and response with trailers", role: flow.RoleServer,
			steps: seq(in(chunkedReq+chunkedReq), split(flow.Egress, chunkedTrailers, 3), out(chunkedTrailers)),
			want:  []want{{method: "POST", status: 200, reqBody: 3, respBody: 2, check: trailers}, {method: "POST", status: 200, reqBody: 3, respBody: 2, check: trailers}}},
		{name: "HEAD response has no body", role: flow.RoleServer,
			steps: seq(in("HEAD /h HTTP/1.1\r\n\r\n"), out("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nTransfer-Encoding: chunked\r\n\r\n"), in(get), out(ok5)),
			want:  []want{{method: "HEAD", status: 200, at: 1}, {method: "GET", status: 200, respBody: 5, at: 3}}},
		{name: "204 and 304 have no body", role: flow.RoleServer,
			steps: seq(in(get), out("HTTP/1.1 204 No Content\r\n\r\n"), in(get), out("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n"), in(get), out(ok5)),
			want:  []want{{status: 204, at: 1}, {status: 304, at: 3}, {status: 200, respBody: 5, at: 5}}},
		{name: "100-continue is skipped", role: flow.RoleServer,
			steps: seq(in("PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"), out("HTTP/1.1 100 Continue\r\n\r\n"), in("abcd"), out(ok5)),
			want: []want{{method: "PUT", status: 200, reqBody: 4, respBody: 5, at: 3, check: func(t *testing.T, e Exchange) {
				if e.RequestStart != 100 || e.RequestEnd != 300 || e.ResponseStart != 400 || e.ResponseEnd != 400 {
					t.Errorf("times %d %d %d %d", e.RequestStart, e.RequestEnd, e.ResponseStart, e.ResponseEnd)
				}
			}}}},
		{name: "close-delimited response completes in Close", role: flow.RoleServer,
			steps: seq(in("GET / HTTP/1.0\r\n\r\n"), out("HTTP/1.0 200 OK\r\nServer: x\r\n\r\npart1"), out("part2"), step{close: true}),
			want: []want{{status: 200, respBody: 10, at: 3, check: func(t *testing.T, e Exchange) {
				if e.ResponseEnd != 300 {
					t.Errorf("ResponseEnd %d, want 300 (last byte's capture)", e.ResponseEnd)
				}
			}}}},
		{name: "truncated content-length body", role: flow.RoleServer,
			steps: seq(in(get), trunc(flow.Egress, respHead+strings.Repeat("x", kib4), len(respHead)+65536),
				trunc(flow.Egress, strings.Repeat("x", kib4), 100000-65536), in(get), out(ok5)),
			want: []want{{status: 200, respBody: 100000, truncated: true, at: 2}, {status: 200, respBody: 5, at: 4}}},
		{name: "1 MB request body in truncated captures", role: flow.RoleServer,
			steps: func() []step {
				st := []step{trunc(flow.Ingress, bigHead+strings.Repeat("b", kib4), len(bigHead)+65536)}
				for i := 1; i < 16; i++ {
					st = append(st, trunc(flow.Ingress, strings.Repeat("b", kib4), 65536))
				}
				return append(st, out("HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n"))
			}(),
			want: []want{{method: "POST", target: "/upload", status: 413, reqBody: mb, truncated: true, at: 16}}},
		{name: "mid-stream start resyncs to next request", role: flow.RoleUnknown,
			steps: seq(in(`"name":"x"},{"id":2}]}`), out(ok5), in("tail GET / HTTP/1.1\r\n\r\n"), in("GET /next HTTP/1.1\r\n\r\n"), out(ok0)),
			want:  []want{{target: "/next", status: 200, at: 4}}},
		{name: "client role", role: flow.RoleClient,
			steps: seq(out(get), in(ok5), out("GET /2 HTTP/1.1\r\n\r\n"), in(ok0)),
			want:  []want{{target: "/users/7?x=1", status: 200, respBody: 5, at: 1}, {target: "/2", status: 200, at: 3}}},
		{name: "unknown role inferred as client", role: flow.RoleUnknown,
			steps: seq(in(ok5), out(get), in(ok5)),
			want:  []want{{status: 200, respBody: 5, at: 2}}},
		{name: "HTTP/2 preface, TLS and garbage produce nothing (unknown role)", role: flow.RoleUnknown,
			steps: seq(in(h2), out("\x00\x00\x00\x04\x01\x00\x00\x00\x00"), in(tls), out(tls), in(string(rnd)), out(string(rnd))),
			stats: &Stats{}},
		{name: "HTTP/2 preface and garbage produce nothing (server role)", role: flow.RoleServer,
			steps: seq(in(h2), out(string(rnd)), in(string(rnd)), in(tls)),
			stats: &Stats{ParseErrors: 2, Resyncs: 2}},
		{name: "lost chunk-size line truncates and resyncs", role: flow.RoleServer,
			steps: seq(in(get), trunc(flow.Egress, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\nabc", 10000), out("4\r\nlost\r\n0\r\n\r\n"), in(get), out(ok5)),
			want:  []want{{status: 200, respBody: 4096, truncated: true, at: 1}, {status: 200, respBody: 5, at: 4}},
			stats: &Stats{Exchanges: 2, Resyncs: 1}},
		{name: "oversized head is a parse error, then resync", role: flow.RoleServer,
			steps: seq(split(flow.Ingress, "GET / HTTP/1.1\r\nX: "+strings.Repeat("a", 70000)+"\r\n\r\n", 1000), in(get), out(ok5)),
			want:  []want{{status: 200, respBody: 5, at: 72}},
			stats: &Stats{Exchanges: 1, ParseErrors: 1, Resyncs: 1}},
		{name: "lost response drops its request", role: flow.RoleServer,
			steps: seq(in(get), trunc(flow.Egress, "", 500), in("GET /2 HTTP/1.1\r\n\r\n"), out(ok5)),
			want:  []want{{target: "/2", status: 200, respBody: 5, at: 3}},
			stats: &Stats{Exchanges: 1, Dropped: 1, Resyncs: 1}},
		{name: "101 upgrade leaves HTTP", role: flow.RoleServer,
			steps: seq(in("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"), out("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"),
				in("\x81\x85abcdefghi"), out("\x81\x02hi")),
			want:  []want{{target: "/ws", status: 101, at: 1}},
			stats: &Stats{Exchanges: 1}},
		{name: "bare LF heads and CRLF between messages", role: flow.RoleServer,
			steps: seq(in("POST /lf HTTP/1.1\nContent-Length: 2\n\nhi\r\n"), out("HTTP/1.1 200 OK\ncontent-length: 1\n\nx"), in("\r\nGET /2 HTTP/1.0\n\n"), out(ok0)),
			want:  []want{{method: "POST", reqBody: 2, status: 200, respBody: 1}, {target: "/2", status: 200}}},
		{name: "response without request is dropped", role: flow.RoleServer,
			steps: seq(out(ok5), in(get), out(ok0)),
			want:  []want{{status: 200, at: 2}},
			stats: &Stats{Exchanges: 1, Dropped: 1}},
		{name: "truncated chunk data ending at the chunk end", role: flow.RoleServer,
			steps: seq(in(get), trunc(flow.Egress, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1A\r\nab", 47+4+26), out("\r\nA\r\n0123456789\r\n0\r\n\r\n")),
			want:  []want{{status: 200, respBody: 36, truncated: true, at: 2}}},
		{name: "truncated trailer section", role: flow.RoleServer,
			steps: seq(in(get), trunc(flow.Egress, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-", 80), in(get), out(ok5)),
			want:  []want{{status: 200, respBody: 1, truncated: true, at: 1}, {status: 200, respBody: 5, at: 3}}},
		{name: "truncated close-delimited body", role: flow.RoleServer,
			steps: seq(in(get), trunc(flow.Egress, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", 1000), step{close: true}),
			want:  []want{{status: 200, respBody: 1000 - 44, truncated: true, at: 2}}},
		{name: "lost bytes after a complete body resync", role: flow.RoleServer,
			steps: seq(in(get), trunc(flow.Egress, ok5, 100), in(get), out("tail of lost bytes"), out(ok0)),
			want:  []want{{status: 200, respBody: 5, at: 1}, {status: 200, at: 4}},
			stats: &Stats{Exchanges: 2, Resyncs: 1}},
		{name: "request line split across captures (unknown role)", role: flow.RoleUnknown,
			steps: seq(in("GET /lo"), in("ng HTTP/1.1\r\n\r\n"), out(ok0)),
			want:  []want{{target: "/long", status: 200, at: 2}}},
		{name: "invalid request framing is a parse error", role: flow.RoleServer,
			steps: seq(in("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), in("POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n"),
				in("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), in("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"), out(ok0)),
			want:  []want{{method: "POST", reqBody: 2, status: 200}},
			stats: &Stats{Exchanges: 1, ParseErrors: 3, Resyncs: 3}},
		{name: "bad chunk size is a parse error", role: flow.RoleServer,
			steps: seq(in(get), out("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), in(get), out(ok0)),
			want:  []want{{status: 200}},
			stats: &Stats{Exchanges: 1, ParseErrors: 1, Resyncs: 1, Dropped: 1}},
		{name: "CONNECT tunnel leaves HTTP", role: flow.RoleClient,
			steps: seq(out("CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n"), in("HTTP/1.1 200 Connection established\r\n\r\n"), out("\x00\x00\x00\x08"), in("N")),
			want:  []want{{method: "CONNECT", target: "db:5432", status: 200, at: 1}},
			stats: &Stats{Exchanges: 1}},
		{name: "long start lines checked before their heads complete", role: flow.RoleServer,
			steps: seq(in("GET /a/rather/long/path/to/check?with=query HTTP/1.1\r\nHost: a\r\n"), in("\r\n"),
				out("HTTP/1.1 503 Service Unavailable Right Now\r\n"), out("Content-Length: 0\r\n\r\n"),
				in("GET /a/rather/long/path/that/is/not/http HTTP/9.9\r\nHost: a\r\n"), in(get), out(ok0)),
			want:  []want{{target: "/a/rather/long/path/to/check?with=query", status: 503, at: 3}, {status: 200, at: 6}},
			stats: &Stats{Exchanges: 2, ParseErrors: 1, Resyncs: 1}},
		{name: "unanswered requests dropped at close", role: flow.RoleServer,
			steps: seq(in(get), in(get), step{close: true}, in(get)),
			stats: &Stats{Dropped: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConn(tc.role)
			exs, at := run(t, c, tc.steps)
			if len(exs) != len(tc.want) {
				t.Fatalf("got %d exchanges, want %d (stats %+v)", len(exs), len(tc.want), c.Stats())
			}
			for i, w := range tc.want {
				e := exs[i]
				rq, rs := e.Request, e.Response
				if w.method == "" {
					w.method = "GET"
				}
				if rq.Method != w.method || w.target != "" && rq.Target != w.target || rs.StatusCode != w.status ||
					rq.BodySize != w.reqBody || rs.BodySize != w.respBody || e.Truncated != w.truncated {
					t.Errorf("exchange %d: got %s %s %d req=%d resp=%d trunc=%v, want %+v", i, rq.Method, rq.Target,
						rs.StatusCode, rq.BodySize, rs.BodySize, e.Truncated, w)
				}
				if w.at != 0 && at[i] != w.at {
					t.Errorf("exchange %d emitted at step %d, want %d", i, at[i], w.at)
				}
				if w.check != nil {
					w.check(t, e)
				}
			}
			if tc.stats != nil && c.Stats() != *tc.stats {
				t.Errorf("stats %+v, want %+v", c.Stats(), *tc.stats)
			}
		})
	}
}

func TestTimestamps(t *testing.T) {
	c := NewConn(flow.RoleServer)
	exs, _ := run(t, c, seq(in("POST /x HTTP/1.1\r\n"), in("Content-Length: 3\r\n\r\na"), in("bc"),
		out("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), out("1\r\na\r\n"), out("0\r\n\r\n")))
	if len(exs) != 1 {
		t.Fatalf("got %d exchanges", len(exs))
	}
	e := exs[0]
	if e.RequestStart != 100 || e.RequestEnd != 300 || e.ResponseStart != 400 || e.ResponseEnd != 600 {
		t.Errorf("times %d %d %d %d, want 100 300 400 600", e.RequestStart, e.RequestEnd, e.ResponseStart, e.ResponseEnd)
	}
}

func TestRoleInference(t *testing.T) {
	for _, tc := range []struct {
		dir  flow.Direction
		want flow.Role
	}{{flow.Ingress, flow.RoleServer}, {flow.Egress, flow.RoleClient}} {
		c := NewConn(flow.RoleUnknown)
		c.Feed(tc.dir^1, []byte(ok5), len(ok5), 1)
		c.Feed(tc.dir, []byte(h2), len(h2), 2)
		if c.Role() != flow.RoleUnknown {
			t.Fatalf("role decided from non-request bytes")
		}
		c.Feed(tc.dir, []byte(get), len(get), 3)
		if c.Role() != tc.want {
			t.Errorf("role %v, want %v", c.Role(), tc.want)
		}
	}
}

func TestPendingBound(t *testing.T) {
	c := NewConn(flow.RoleServer)
	for i := 0; i < 100; i++ {
		c.Feed(flow.Ingress, []byte(get), len(get), uint64(i))
	}
	if len(c.queue) != maxPending || c.Stats().Dropped != 100-maxPending {
		t.Fatalf("queue %d, stats %+v", len(c.queue), c.Stats())
	}
	c.Close(1000)
	if c.Stats().Dropped != 100 {
		t.Fatalf("stats %+v", c.Stats())
	}
}

// windowed cuts one syscall's bytes into records the way the BPF capture
// planner does: a capture of up to limit bytes at the start, and another
// window (win bytes, or limit for a head) wherever framing bytes lie beyond
// what is captured. Records cover the syscall back to back; each is its
// captured bytes followed by a count of uncaptured ones.
func windowed(dir flow.Direction, data string, framing [][2]int, limit, win int) []step {
	type window struct{ at, n int }
	ws := []window{{0, limit}}
	for _, f := range framing {
		for p := f[0]; p < f[1] && p < len(data); {
			last := ws[len(ws)-1]
			if end := last.at + last.n; p < end {
				p = end
				continue
			}
			ws = append(ws, window{p, win})
		}
	}
	var st []step
	for i, w := range ws {
		end := len(data)
		if i+1 < len(ws) {
			end = ws[i+1].at
		}
		n := min(w.n, end-w.at)
		st = append(st, trunc(dir, data[w.at:w.at+n], end-w.at))
	}
	return st
}

// syscalls cuts a stream into syscalls of n bytes and those into windowed
// records; framing holds the stream offsets of the bytes the parser needs.
func syscalls(dir flow.Direction, stream string, n int, framing [][2]int, limit, win int) []step {
	var st []step
	for at := 0; at < len(stream); at += n {
		end := min(at+n, len(stream))
		var local [][2]int
		for _, f := range framing {
			if f[1] > at && f[0] < end {
				local = append(local, [2]int{max(f[0], at) - at, min(f[1], end) - at})
			}
		}
		st = append(st, windowed(dir, stream[at:end], local, limit, win)...)
	}
	return st
}

// chunkedStream encodes a message with chunked framing and returns the
// offsets of its framing bytes (head, CRLF + size lines, last chunk, trailers).
func chunkedStream(head string, sizes []int, trailer string) (string, [][2]int, int64) {
	var b strings.Builder
	b.WriteString(head)
	framing := [][2]int{{0, len(head)}}
	var total int64
	for i, n := range sizes {
		at := b.Len()
		if i > 0 {
			at -= 2 // the CRLF that ends the previous chunk's data
		}
		line := strings.ToUpper(strconv.FormatInt(int64(n), 16))
		if i%3 == 1 {
			line += ";ext=" + strings.Repeat("e", i%70)
		}
		b.WriteString(line + "\r\n")
		framing = append(framing, [2]int{at, b.Len()})
		b.WriteString(strings.Repeat(string(rune('a'+i%26)), n) + "\r\n")
		total += int64(n)
	}
	at := b.Len() - 2
	b.WriteString("0\r\n" + trailer + "\r\n")
	framing = append(framing, [2]int{at, b.Len()})
	return b.String(), framing, total
}

// The capture planner's records: heads longer than one capture, and chunked
// bodies moved in syscalls much larger than a capture, keep exact sizes.
func TestWindowedRecords(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	var sizes []int
	for range 300 {
		sizes = append(sizes, 1+rnd.Intn(20000))
	}
	pad := strings.Repeat("p", 20000)
	reqHead := "POST /upload HTTP/1.1\r\nHost: api\r\nX-Pad: " + pad + "\r\nTransfer-Encoding: chunked\r\n\r\n"
	req, reqFraming, reqBody := chunkedStream(reqHead, sizes, "X-Sum: 1\r\n")
	respHead := "HTTP/1.1 200 OK\r\nSet-Cookie: " + pad + "\r\ntransfer-encoding: gzip, chunked\r\n\r\n"
	resp, respFraming, respBody := chunkedStream(respHead, sizes[:100], "")
	for _, n := range []int{4096, 65536, 1 << 20} {
		for _, limit := range []int{64, 4096} {
			c := NewConn(flow.RoleServer)
			steps := seq(
				syscalls(flow.Ingress, req, n, reqFraming, limit, 64),
				syscalls(flow.Egress, resp, n, respFraming, limit, 64),
			)
			exs, _ := run(t, c, steps)
			if len(exs) != 1 {
				t.Fatalf("syscalls of %d, capture %d: %d exchanges, stats %+v", n, limit, len(exs), c.Stats())
			}
			x := exs[0]
			if x.Request.BodySize != reqBody || x.Response.BodySize != respBody || x.Request.Trailer.Get("X-Sum") != "1" ||
				x.Request.Header.Get("X-Pad") != pad || x.Response.Header.Get("Set-Cookie") != pad {
				t.Errorf("syscalls of %d, capture %d: body sizes %d/%d, want %d/%d; trailer %v",
					n, limit, x.Request.BodySize, x.Response.BodySize, reqBody, respBody, x.Request.Trailer)
			}
			if st := c.Stats(); st.ParseErrors != 0 || st.Resyncs != 0 {
				t.Errorf("syscalls of %d, capture %d: %+v", n, limit, st)
			}
		}
	}
}
