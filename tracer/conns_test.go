package tracer

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/bpf"
)

// record builds a raw ring-buffer record as the BPF programs write it: the
// record's struct v, then data.
func record[T any](v T, data []byte) []byte {
	n := int(unsafe.Sizeof(v))
	raw := make([]byte, n+len(data))
	*(*T)(unsafe.Pointer(&raw[0])) = v
	copy(raw[n:], data)
	return raw
}

// head is the head of a record of pid 42's thread tid.
func head(kind uint8, ts uint64, tid uint32) bpf.WireEventHead {
	return bpf.WireEventHead{Ts: ts, Tgid: 42, Tid: tid, Kind: kind}
}

// dataRecord is the data record d with the captured bytes data.
func dataRecord(d bpf.WireDataEvent, data []byte) []byte {
	d.Head.Kind, d.Len = evData, uint32(len(data))
	return record(d, data)
}

// reencode is the record ev was decoded from.
func reencode(ev *event) []byte {
	switch ev.head.Kind {
	case evData:
		return record(ev.data, ev.captured)
	case evOpen:
		return record(ev.open, nil)
	case evClose:
		return record(ev.close, nil)
	case evProbe:
		return record(ev.probe, nil)
	case evTask:
		return record(ev.task, nil)
	case evBody:
		return record(ev.body, nil)
	case evTLSBind:
		return record(ev.bind, nil)
	case evExec:
		return record(ev.exec, nil)
	}
	return record(ev.head, nil)
}

func openRec(fd int32, role uint8, ts uint64) []byte {
	o := bpf.WireOpenEvent{Head: head(evOpen, ts, 0), Fd: fd, Role: role, Family: afInet, Lport: 8080, Rport: 50000}
	copy(o.Laddr[:], []byte{127, 0, 0, 1})
	copy(o.Raddr[:], []byte{127, 0, 0, 2})
	return record(o, nil)
}

func dataRec(fd int32, dir uint8, seq uint32, ts uint64, data string, size int) []byte {
	if size == 0 {
		size = len(data)
	}
	return dataRecord(bpf.WireDataEvent{Head: head(evData, ts, 0), Fd: fd, Dir: dir, Seq: seq, Size: uint32(size)}, []byte(data))
}

func closeRec(fd int32, ts uint64) []byte {
	return record(bpf.WireCloseEvent{Head: head(evClose, ts, 0), Fd: fd}, nil)
}

func runRecords(t *testing.T, recs ...[]byte) ([]Span, *Counters) {
	t.Helper()
	var spans []Span
	var c Counters
	a := newAssembler(&clock{}, &c, func(uint32) *Target { return nil }, func(s Span) { spans = append(spans, s) })
	var ev event
	for _, r := range recs {
		if err := decodeEvent(r, &ev); err != nil {
			t.Fatalf("decode: %v", err)
		}
		a.handle(&ev)
	}
	return spans, &c
}

func attr(s Span, k string) string {
	v, ok := s.Attr(attribute.Key(k))
	if !ok {
		return ""
	}
	return v.Emit()
}

func TestAssemblerServerExchange(t *testing.T) {
	spans, c := runRecords(t,
		openRec(7, roleServer, 100),
		dataRec(7, 0, 0, 1000, "GET /users/7?token=s3cret HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: t/1\r\n\r\n", 0),
		dataRec(7, 1, 0, 5000, "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 5\r\n\r\nnope!", 0),
		closeRec(7, 6000),
	)
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	s := spans[0]
	for k, want := range map[string]string{
		"http.request.method":       "GET",
		"url.path":                  "/users/7",
		"url.query":                 "token=REDACTED",
		"url.scheme":                "http",
		"http.response.status_code": "503",
		"server.address":            "localhost",
		"server.port":               "8080",
		"client.address":            "127.0.0.2",
		"client.port":               "50000",
		"user_agent.original":       "t/1",
		"http.response.body.size":   "5",
		"network.protocol.version":  "1.1",
		"error.type":                "503",
	} {
		if got := attr(s, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if s.Kind != trace.SpanKindServer || !s.Error || s.Name != "GET" {
		t.Errorf("kind %v error %v name %q", s.Kind, s.Error, s.Name)
	}
	if d := s.Duration(); d != 4000 {
		t.Errorf("duration %v, want 4000ns", d)
	}
	if c.Conns.Load() != 0 {
		t.Errorf("%d connections left after close", c.Conns.Load())
	}
}

func TestAssemblerClientExchange(t *testing.T) {
	spans, _ := runRecords(t,
		openRec(9, roleClient, 100),
		dataRec(9, 1, 0, 1000, "POST /api?x=1 HTTP/1.1\r\nhost: svc:9000\r\ncontent-length: 3\r\n\r\nabc", 0),
		dataRec(9, 0, 0, 3000, "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", 0),
	)
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Kind != trace.SpanKindClient || !s.Error {
		t.Errorf("kind %v error %v", s.Kind, s.Error)
	}
	if got := attr(s, "url.full"); got != "http://svc:9000/api?x=REDACTED" {
		t.Errorf("url.full = %q", got)
	}
	if got := attr(s, "http.request.body.size"); got != "3" {
		t.Errorf("request body size %q", got)
	}
}

// A jump in the per-connection sequence means records were lost: the
// broken exchange is dropped and parsing resumes at the next request.
func TestAssemblerGapResyncs(t *testing.T) {
	req := "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
	resp := "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
	// Sequence numbers count each direction's records from 0.
	spans, c := runRecords(t,
		openRec(3, roleServer, 1),
		dataRec(3, 0, 0, 10, req, 0),
		// egress 0 (the response to /a) lost
		dataRec(3, 0, 1, 30, "GET /b HTTP/1.1\r\nHost: h\r\n\r\n", 0),
		dataRec(3, 1, 1, 40, resp, 0),
		dataRec(3, 0, 2, 50, "GET /c HTTP/1.1\r\nHost: h\r\n\r\n", 0),
		dataRec(3, 1, 2, 60, resp, 0),
	)
	if c.Gaps.Load() != 1 {
		t.Errorf("gaps = %d, want 1", c.Gaps.Load())
	}
	if len(spans) != 1 || attr(spans[0], "url.path") != "/c" {
		t.Fatalf("want one span for /c, got %d", len(spans))
	}
}

// Reads and writes of one connection on two threads: each direction's
// records are numbered on their own and reach the ring in either order.
func TestAssemblerDirectionsInterleave(t *testing.T) {
	req := func(p string) string { return "GET " + p + " HTTP/1.1\r\nHost: h\r\n\r\n" }
	resp := "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
	spans, c := runRecords(t,
		openRec(5, roleServer, 1),
		dataRec(5, 0, 0, 10, req("/a")+req("/b"), 0), // pipelined
		dataRec(5, 0, 1, 11, req("/c"), 0),
		dataRec(5, 1, 0, 12, resp, 0),
		dataRec(5, 1, 1, 13, resp+resp[:10], 0),
		dataRec(5, 0, 2, 14, req("/d"), 0),
		dataRec(5, 1, 2, 15, resp[10:], 0),
		dataRec(5, 1, 3, 16, resp, 0),
	)
	if c.Gaps.Load() != 0 {
		t.Errorf("gaps = %d, want 0", c.Gaps.Load())
	}
	var paths []string
	for _, s := range spans {
		paths = append(paths, attr(s, "url.path"))
	}
	if strings.Join(paths, " ") != "/a /b /c /d" {
		t.Errorf("spans for %v, want /a /b /c /d", paths)
	}
}

// Truncated captures (large bodies) still give exact sizes.
func TestAssemblerTruncatedBody(t *testing.T) {
	const respHead = "HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n"
	spans, _ := runRecords(t,
		openRec(4, roleServer, 1),
		dataRec(4, 0, 0, 10, "POST /echo HTTP/1.1\r\nHost: h\r\ncontent-length: 1000000\r\n\r\n", 0),
		dataRec(4, 0, 1, 20, "xxxx", 1000000),
		dataRec(4, 1, 0, 30, respHead+"yyyy", len(respHead)+1000000),
	)
	if len(spans) != 1 {
		t.Fatalf("got %d spans", len(spans))
	}
	if got := attr(spans[0], "http.request.body.size"); got != "1000000" {
		t.Errorf("request body size %s", got)
	}
	if got := attr(spans[0], "http.response.body.size"); got != "1000000" {
		t.Errorf("response body size %s", got)
	}
}

func TestDecodeEventRejectsBadRecords(t *testing.T) {
	var ev event
	good := dataRec(1, 0, 0, 1, "abc", 0)
	for name, raw := range map[string][]byte{
		"empty":             nil,
		"short head":        good[:unsafe.Sizeof(bpf.WireEventHead{})-1],
		"short struct":      good[:dataSize-1],
		"short probe":       probeRec(0, 0, 1, [6]uint64{}, "")[:unsafe.Sizeof(bpf.WireProbeEvent{})-1],
		"len beyond record": good[:len(good)-1],
		"len beyond size":   dataRecord(bpf.WireDataEvent{Size: 1}, []byte("abc")),
	} {
		if err := decodeEvent(raw, &ev); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	if err := decodeEvent(good, &ev); err != nil || !bytes.Equal(ev.captured, []byte("abc")) {
		t.Errorf("good record: %v %q", err, ev.captured)
	}
}

// TestDecodeEventAllocs: decoding a record of any kind allocates nothing.
func TestDecodeEventAllocs(t *testing.T) {
	var ev event
	for _, raw := range [][]byte{openRec(1, roleServer, 1), dataRec(1, 0, 0, 2, "GET / HTTP/1.1\r\n\r\n", 0), closeRec(1, 3),
		probeRec(0, 1, 4, [6]uint64{0, testNode}, "/users/1"), taskRec(1, 2, 3, 5), bodyRec(1, 2, 3, 6), record(bpf.WireExecEvent{Head: head(evExec, 7, 0), Targeted: 1}, nil)} {
		if n := testing.AllocsPerRun(100, func() {
			if err := decodeEvent(raw, &ev); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("kind %d: %v allocations per decode", ev.head.Kind, n)
		}
	}
}

func TestRedactQuery(t *testing.T) {
	for in, want := range map[string]string{
		"":              "",
		"a=1":           "?a=REDACTED",
		"a=1&b&c=":      "?a=REDACTED&b&c=REDACTED",
		"token=x%20y=z": "?token=REDACTED",
		"a&&=v&":        "?a&&=REDACTED&",
		"&":             "?&",
	} {
		if got := redactQuery(in); got != want {
			t.Errorf("redactQuery(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzDecodeAndAssemble feeds arbitrary records through the decoder and
// assembler: nothing may panic; a decoded record's data lie within it and
// it encodes back to the same record; the counters agree with what was
// handled and emitted, and per-connection state stays bounded.
func FuzzDecodeAndAssemble(f *testing.F) {
	f.Add(openRec(1, roleServer, 1), dataRec(1, 0, 0, 2, "GET / HTTP/1.1\r\n\r\n", 0), dataRec(1, 1, 0, 3, "HTTP/1.1 200 OK\r\n\r\n", 0))
	f.Add(openRec(1, roleServer, 1), dataRec(1, 0, 0, 2, "GET /users/1 HTTP/1.1\r\n\r\n", 0), probeRec(0, 1, 3, [6]uint64{0, testNode}, "/users/1"))
	f.Add(openRec(1, roleServer, 1), dataRec(1, 0, 0, 2, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"+"\x00\x00\x05\x01\x05\x00\x00\x00\x01\x82\x86\x84\x41\x01", 0),
		probeRec(0, 1, 3, [6]uint64{0, testNode}, "/"))
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		var c0 Counters
		var spans []Span
		asm := probedAssembler(&spans, &c0) // library probe records too
		var ev, back event
		handled := 0
		for _, r := range [][]byte{a, b, c, b, a} {
			if decodeEvent(r, &ev) != nil {
				continue
			}
			if ev.head.Kind == evData && (len(ev.captured) != int(ev.data.Len) || dataSize+len(ev.captured) > len(r) || len(ev.captured) > int(ev.data.Size)) ||
				ev.head.Kind != evData && ev.captured != nil {
				t.Fatalf("record of %d bytes decoded to %d captured bytes, head %+v, data %+v", len(r), len(ev.captured), ev.head, ev.data)
			}
			if err := decodeEvent(reencode(&ev), &back); err != nil || back.head != ev.head || !bytes.Equal(reencode(&back), reencode(&ev)) {
				t.Fatalf("re-encoded record decodes to %+v %q, %v; want %+v %q", back.head, back.captured, err, ev.head, ev.captured)
			}
			asm.handle(&ev)
			handled++
		}
		asm.unparkAll()
		if c0.Events.Load() != uint64(handled) || c0.Spans.Load() != uint64(len(spans)) || c0.Conns.Load() != int64(len(asm.conns)) {
			t.Fatalf("counters: %d events, %d spans, %d conns; handled %d, emitted %d, tracking %d",
				c0.Events.Load(), c0.Spans.Load(), c0.Conns.Load(), handled, len(spans), len(asm.conns))
		}
		for _, c := range asm.conns {
			if len(c.marks) > maxMarks || len(c.h2queue) > maxPendingStreams || len(c.h2paths) > 4*maxPendingStreams+1 {
				t.Fatalf("connection state: %d marks, %d streams waiting, %d lookups", len(c.marks), len(c.h2queue), len(c.h2paths))
			}
		}
		for _, s := range spans {
			if k := s.Kind.String(); k != "server" && k != "client" {
				t.Fatalf("span %+v", s)
			}
		}
	})
}
