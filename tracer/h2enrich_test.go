package tracer

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rustscope/rustscope/lib/axum"
	http2p "github.com/rustscope/rustscope/tracer/http2"
)

// h2Server writes the records of HTTP/2 server connections: per fd, the
// client's frames read and the responses written, each direction
// numbered, on the thread given.
type h2Server struct {
	t   *testing.T
	seq map[[2]int32]uint32
	ts  uint64
}

func (h *h2Server) rec(tid uint32, fd int32, dir uint8, data string) []byte {
	h.ts += 10
	k := [2]int32{fd, int32(dir)}
	s := h.seq[k]
	h.seq[k]++
	return withTid(dataRec(fd, dir, s, h.ts, data, 0), tid)
}

// open is fd's accept and the client preface, read by tid.
func (h *h2Server) open(tid uint32, fd int32) [][]byte {
	h.ts += 10
	pre := http2.ClientPreface + h2Frames(h.t, func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer) { fr.WriteSettings() })
	return [][]byte{openRec(fd, roleServer, h.ts), h.rec(tid, fd, 0, pre)}
}

// requests is one read of request header blocks (END_STREAM) for paths
// on streams 1, 3, ...: gRPC calls where the path is a tonic service's.
func (h *h2Server) requests(tid uint32, fd int32, first uint32, paths ...string) []byte {
	return h.rec(tid, fd, 0, h2Frames(h.t, func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		for i, p := range paths {
			hb.Reset()
			fields := []string{":method", "POST", ":scheme", "http", ":path", p, ":authority", "h"}
			if bytes.HasPrefix([]byte(p), []byte("/demo.")) {
				fields = append(fields, "content-type", "application/grpc")
			}
			for j := 0; j < len(fields); j += 2 {
				enc.WriteField(hpack.HeaderField{Name: fields[j], Value: fields[j+1]})
			}
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: first + 2*uint32(i), BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true})
		}
	}))
}

// response ends stream sid with a trailers-only OK.
func (h *h2Server) response(tid uint32, fd int32, sid uint32) []byte {
	return h.rec(tid, fd, 1, h2Frames(h.t, func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		for _, f := range [][2]string{{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", "0"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true})
	}))
}

// lookup is axum's Node::at for path, on thread tid.
func (h *h2Server) lookup(tid uint32, path string) []byte { return h.lookupIn(testNode, tid, path) }

// lookupIn is a lookup in the router at node.
func (h *h2Server) lookupIn(node uint64, tid uint32, path string) []byte {
	h.ts += 10
	return probeRec(tid, 1, h.ts, [6]uint64{0, node}, path)
}

// TestH2RouteLookups: the route lookup of an HTTP/2 stream runs in the
// stream's own task, so lookups come out of order and on threads that
// last read other connections; each stream must still get its own.
func TestH2RouteLookups(t *testing.T) {
	const users, grpc = "/users/1", "/demo.v1.Users/GetUser"
	for _, tc := range []struct {
		name string
		recs func(h *h2Server) [][]byte
		want map[string]int // span name -> count, all with scope axum or tonic
	}{
		{"lookups in another order than the streams", func(h *h2Server) [][]byte {
			return append(h.open(5, 7), h.requests(5, 7, 1, users, grpc),
				h.lookup(5, grpc), h.lookup(5, users), h.response(5, 7, 1), h.response(5, 7, 3))
		}, map[string]int{"POST /users/:id": 1, "demo.v1.Users/GetUser": 1}},
		{"the thread read another connection since", func(h *h2Server) [][]byte {
			recs := append(h.open(5, 7), h.requests(5, 7, 1, users, grpc))
			recs = append(recs, h.open(5, 8)...)                       // an HTTP/2 connection with no stream waiting
			recs = append(recs, h.rec(5, 9, 0, "\x16\x03\x01garbage"), // bytes that are no request
				h.lookup(5, users), h.lookup(6, grpc), // thread 6 read nothing
				h.response(5, 7, 3), h.response(5, 7, 1))
			return recs
		}, map[string]int{"POST /users/:id": 1, "demo.v1.Users/GetUser": 1}},
		{"two streams of one path, the later done first", func(h *h2Server) [][]byte {
			return append(h.open(5, 7), h.requests(5, 7, 1, grpc, grpc),
				h.lookup(5, grpc), h.response(5, 7, 3), h.lookup(5, grpc), h.response(5, 7, 1))
		}, map[string]int{"demo.v1.Users/GetUser": 2}},
		{"a stream done without its lookup does not take a later one's", func(h *h2Server) [][]byte {
			recs := append(h.open(5, 7), h.requests(5, 7, 1, "/nolookup"), h.response(5, 7, 1),
				h.requests(5, 7, 3, users), h.lookup(5, users), h.response(5, 7, 3))
			return recs
		}, map[string]int{"POST": 1, "POST /users/:id": 1}},
		// Thread 6 last read conn 8, whose stream of the same path takes the
		// lookup meant for conn 7's, which ends before conn 8's own lookup
		// comes: it gets the route an earlier lookup of its path gave.
		{"a stream done before its lookup came", func(h *h2Server) [][]byte {
			recs := append(h.open(5, 7), h.requests(5, 7, 1, users), h.lookup(5, users), h.response(5, 7, 1))
			recs = append(recs, h.open(6, 8)...)
			return append(recs, h.requests(5, 7, 3, users), h.requests(6, 8, 1, users),
				h.lookup(6, users), h.response(5, 7, 3), h.lookup(6, users), h.response(6, 8, 1))
		}, map[string]int{"POST /users/:id": 3}},
		// Thread 5 last read TLS plaintext of a key not bound yet: an
		// HTTP/1 request for /health, whose lookup waits with it; a lookup
		// of another path is an HTTP/2 stream's.
		{"the thread read an HTTP/1 request not bound yet", func(h *h2Server) [][]byte {
			recs := append(h.open(5, 7), h.requests(5, 7, 1, users))
			h.ts += 10
			recs = append(recs, withTid(plainRec(-1, 0x7f0000001000, 0, 0, h.ts, "GET /health HTTP/1.1\r\nhost: h\r\n\r\n"), 5),
				h.lookup(5, users), h.response(5, 7, 1))
			return recs
		}, map[string]int{"POST /users/:id": 1}},
		{"a stream whose lookup never came, once streams claimed their own", func(h *h2Server) [][]byte {
			return append(h.open(5, 7), h.requests(5, 7, 1, users), h.lookup(5, users), h.response(5, 7, 1),
				h.requests(5, 7, 3, "/users/2"), h.response(5, 7, 3))
		}, map[string]int{"POST /users/:id": 2}},
		{"nothing recalled where lookups came from two routers", func(h *h2Server) [][]byte {
			recs := append(h.open(5, 7), h.requests(5, 7, 1, users), h.lookup(5, users), h.response(5, 7, 1),
				h.requests(5, 7, 3, grpc), h.lookupIn(testNode+0x2000, 5, grpc), h.response(5, 7, 3))
			recs = append(recs, h.open(6, 8)...)
			return append(recs, h.requests(5, 7, 5, users), h.requests(6, 8, 1, users),
				h.lookup(6, users), h.response(5, 7, 5), h.lookup(6, users), h.response(6, 8, 1))
		}, map[string]int{"POST /users/:id": 2, "demo.v1.Users/GetUser": 1, "POST": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var spans []Span
			var c Counters
			a := probedAssembler(&spans, &c)
			a.hits.readRoutes = func(uint32, uint64) (*axum.Table, error) {
				return axum.NewTable([]string{"/users/:id", "/demo.v1.Users/*rest"}), nil
			}
			feed(t, a, tc.recs(&h2Server{t: t, seq: map[[2]int32]uint32{}})...)
			got := map[string]int{}
			for _, s := range spans {
				got[s.Name]++
				want := "axum"
				switch {
				case s.Name == "POST":
					want = "rustscope/wire"
				case s.Name == grpc[1:]:
					want = "tonic"
				}
				if s.Scope.Name != want {
					t.Errorf("span %s: scope %q, want %q", s.Name, s.Scope.Name, want)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("spans %v, want %v", got, tc.want)
			}
		})
	}
}

// gRPC percent-encodes grpc-message; a span shows it decoded.
func TestGRPCMessage(t *testing.T) {
	for raw, want := range map[string]string{
		"":                             "",
		"simulated%20internal%20error": "simulated internal error",
		"user%20%E2%9C%93":             "user ✓",
		"a+b %":                        "a+b %",  // not valid percent-encoding: as sent
		"%FF%FE":                       "%FF%FE", // not UTF-8: as sent
	} {
		m := http2p.Message{Trailer: http.Header{"Grpc-Message": {raw}}}
		if got := grpcMessage(&m); got != want {
			t.Errorf("grpcMessage(%q) = %q, want %q", raw, got, want)
		}
	}
}

// TestH2RouteWhileTLSWaits: an HTTP/2 server's first streams come over TLS
// whose plaintext waits for its binding, while thread 6 serves an HTTP/1
// request of another path on another connection: the lookup of /users/1
// on thread 6 is the HTTP/2 stream's (the waiting plaintext began with a
// client preface: the process serves HTTP/2), kept until the stream opens.
func TestH2RouteWhileTLSWaits(t *testing.T) {
	const rkey, wkey = 0x7f0000001000, 0x7f0000002000
	h := &h2Server{t: t, seq: map[[2]int32]uint32{}}
	pre := http2.ClientPreface + h2Frames(t, func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer) { fr.WriteSettings() })
	reqs := h.requests(5, 9, 1, "/users/1") // frames only: decoded below
	var ev event
	if err := decodeEvent(reqs, &ev); err != nil {
		t.Fatal(err)
	}
	frames := string(ev.captured)
	resp := h.response(5, 9, 1)
	if err := decodeEvent(resp, &ev); err != nil {
		t.Fatal(err)
	}
	respFrames := string(ev.captured)
	var spans []Span
	var c Counters
	a := probedAssembler(&spans, &c)
	a.hits.readRoutes = func(uint32, uint64) (*axum.Table, error) {
		return axum.NewTable([]string{"/health", "/users/:id"}), nil
	}
	feed(t, a,
		openRec(7, roleServer, 100),
		cipherRec(7, 0, 0, 200, "\x16\x03\x01\x00\x05hello"),
		withTid(plainRec(-1, rkey, 0, 1, 300, pre+frames), 5),
		openRec(8, roleServer, 400),
		withTid(dataRec(8, 0, 0, 500, "GET /health HTTP/1.1\r\nhost: h\r\n\r\n", 0), 6),
		withTid(probeRec(6, 1, 600, [6]uint64{0, testNode}, "/users/1"), 6),
		withTid(probeRec(6, 1, 700, [6]uint64{0, testNode}, "/health"), 6),
		withTid(dataRec(8, 1, 0, 800, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 0), 6),
		bindRec(rkey, 0, 7, 17, 900),
		bindRec(wkey, 1, 7, 17, 1000),
		withTid(plainRec(7, wkey, 1, 0, 1100, respFrames), 5),
	)
	got := map[string]int{}
	for _, s := range spans {
		got[s.Name]++
	}
	if want := map[string]int{"GET /health": 1, "POST /users/:id": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("spans %v, want %v", got, want)
	}
}
