package tracer

import (
	"bytes"
	"math"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rustscope/rustscope/bpf"
)

// withTask sets what the task probes would have put in a data record, in
// place.
func withTask(raw []byte, task, wokenBy, wokenAt uint64) []byte {
	d := (*bpf.WireDataEvent)(unsafe.Pointer(&raw[0]))
	d.Task, d.WokenBy, d.WokenAt = task, wokenBy, wokenAt
	return raw
}

// taskRec is a task event: task polled at ts because origin read a
// response (stream h1Read) or a frame of stream.
func taskRec(task, origin uint64, stream uint32, ts uint64) []byte {
	return record(bpf.WireTaskEvent{Head: head(evTask, ts, 0), Task: task, WokenBy: origin, Origin: origin, OriginAt: ts, Stream: stream}, nil)
}

// hopRec is a task event whose origin came through task by.
func hopRec(task, by, origin uint64, stream uint32, ts uint64) []byte {
	return record(bpf.WireTaskEvent{Head: head(evTask, ts, 0), Task: task, WokenBy: by, Origin: origin, OriginAt: ts, Stream: stream, Hop: 1}, nil)
}

// TestLinkClient: a client call made by the handler of server request
// /call/7 (fd 7, read by task srvTask from 1000) over an HTTP/1 client
// connection (fd 9, task cliTask: request written at 1200, response read
// at 1300). The request side is the wake of the poll that wrote the
// request; the response side the caller's polls the response caused. A
// second server connection (fd 8, task otherTask) has a request open too.
func TestLinkClient(t *testing.T) {
	const (
		srvTask, otherTask, cliTask = 0xa000, 0xa100, 0xc000
		tp                          = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	)
	req := func(path, extra string) string { return "GET " + path + " HTTP/1.1\r\nHost: h\r\n" + extra + "\r\n" }
	call := "GET /users/7 HTTP/1.1\r\nHost: d\r\n\r\n"
	ok := "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
	for _, tc := range []struct {
		name             string
		header           string
		wokenBy, wokenAt uint64   // request side
		polls            [][]byte // response side
		otherStart       uint64   // when fd 8's request began
		live, off        uint64   // the task probes' window (default: always placed)
		relive           uint64   // placed again then, after the server request was read
		linked, refused  bool
		unsampled        bool
	}{
		{name: "woken by the handler's task", wokenBy: srvTask, wokenAt: 1100, linked: true},
		{name: "in the caller's trace", header: "traceparent: " + tp + "\r\n", wokenBy: srvTask, wokenAt: 1100, linked: true},
		{name: "woken by several tasks", wokenBy: 1, wokenAt: 1100},
		{name: "woken by a task that serves nothing", wokenBy: 0xb000, wokenAt: 1100},
		{name: "woken before the server request", wokenBy: srvTask, wokenAt: 900, refused: true},
		{name: "woken after the write (impossible)", wokenBy: srvTask, wokenAt: 1250, refused: true},
		{name: "response side alone", wokenBy: 1, polls: [][]byte{taskRec(srvTask, cliTask, h1Read, 1350)}, linked: true},
		{name: "both sides agree", wokenBy: srvTask, wokenAt: 1100,
			polls: [][]byte{taskRec(srvTask, cliTask, h1Read, 1350), taskRec(srvTask, cliTask, h1Read, 1360)}, linked: true},
		{name: "the sides disagree", wokenBy: srvTask, wokenAt: 1100, otherStart: 1050,
			polls: [][]byte{taskRec(otherTask, cliTask, h1Read, 1350)}, refused: true},
		{name: "a request begun after the call is not the caller", wokenBy: srvTask, wokenAt: 1100, otherStart: 1250,
			polls: [][]byte{taskRec(otherTask, cliTask, h1Read, 1350)}, linked: true},
		{name: "response side names only a request begun after the call", wokenBy: 1, otherStart: 1250,
			polls: [][]byte{taskRec(otherTask, cliTask, h1Read, 1350)}, refused: true},
		{name: "through a response task", wokenBy: 1, polls: [][]byte{hopRec(srvTask, 0xe000, cliTask, h1Read, 1350)}, linked: true},
		{name: "passed on by another handler", wokenBy: 1, otherStart: 1050,
			polls: [][]byte{taskRec(srvTask, cliTask, h1Read, 1350), hopRec(otherTask, srvTask, cliTask, h1Read, 1360)}, linked: true},
		{name: "passed on by several tasks", wokenBy: 1, otherStart: 1050, polls: [][]byte{hopRec(otherTask, 1, cliTask, h1Read, 1360)}},
		{name: "an HTTP/2 stream on an HTTP/1 connection", wokenBy: 1, polls: [][]byte{taskRec(srvTask, cliTask, 5, 1350)}},
		// The task probes' windows (tasks.go).
		{name: "server request read before the probes were placed", wokenBy: srvTask, wokenAt: 1100, live: 1050},
		{name: "call before the probes were placed", wokenBy: srvTask, wokenAt: 1100, live: 1250,
			polls: [][]byte{taskRec(srvTask, cliTask, h1Read, 1350)}, unsampled: true},
		{name: "response side after the removal began", wokenBy: 1, off: 1320,
			polls: [][]byte{taskRec(srvTask, cliTask, h1Read, 1350)}, unsampled: true},
		{name: "request side before the removal began", wokenBy: srvTask, wokenAt: 1100, off: 1320,
			polls: [][]byte{taskRec(srvTask, cliTask, h1Read, 1350)}, linked: true},
		{name: "placed again: the task's server connection is forgotten", wokenBy: srvTask, wokenAt: 1100, relive: 1010,
			polls: [][]byte{taskRec(srvTask, cliTask, h1Read, 1350)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var spans []Span
			var c Counters
			tg := &Target{PID: 42}
			tg.probed[hitTasks] = true
			tasksPlaced(tg, max(tc.live, 1))
			if tc.off != 0 {
				tg.tasks.off.Store(tc.off)
			}
			a := newAssembler(&clock{}, &c, func(uint32) *Target { return tg }, func(s Span) { spans = append(spans, s) })
			feed(t, a, openRec(7, roleServer, 100), openRec(8, roleServer, 100), openRec(9, roleClient, 100),
				withTask(dataRec(7, 0, 0, 1000, req("/call/7", tc.header), 0), srvTask, 0, 0))
			if tc.relive != 0 {
				tasksPlaced(tg, tc.relive)
			}
			var recs [][]byte
			if tc.otherStart != 0 {
				recs = append(recs, withTask(dataRec(8, 0, 0, tc.otherStart, req("/other", ""), 0), otherTask, 0, 0))
			}
			recs = append(recs,
				withTask(dataRec(9, 1, 0, 1200, call, 0), cliTask, tc.wokenBy, tc.wokenAt),
				withTask(dataRec(9, 0, 0, 1300, ok, 0), cliTask, 0, 0))
			recs = append(recs, tc.polls...)
			recs = append(recs,
				withTask(dataRec(7, 1, 0, 1400, ok, 0), srvTask, 0, 0),
				// The client span is made before the server span, which must
				// still be the one it named.
				withTask(dataRec(7, 0, 1, 1600, req("/call/8", ""), 0), srvTask, 0, 0))
			feed(t, a, recs...)
			a.releaseCalls(math.MaxUint64)
			var cl, srv *Span
			for i := range spans {
				switch {
				case spans[i].Kind.String() == "client":
					cl = &spans[i]
				case spans[i].Name == "GET":
					srv = &spans[i]
				}
			}
			if len(spans) != 2 || cl == nil || srv == nil {
				t.Fatalf("%d spans %v, want a client and a server span", len(spans), spans)
			}
			if !cl.SpanContext.IsValid() || !srv.SpanContext.IsValid() {
				t.Fatalf("span contexts %v %v", cl.SpanContext, srv.SpanContext)
			}
			if got := cl.Parent.IsValid(); got != tc.linked {
				t.Fatalf("client parent %v, want linked %v", cl.Parent, tc.linked)
			}
			if (c.LinksRefused.Load() > 0) != tc.refused {
				t.Errorf("refused %d, want %v", c.LinksRefused.Load(), tc.refused)
			}
			if (c.LinksUnsampled.Load() > 0) != (tc.unsampled && !tc.linked) {
				t.Errorf("unsampled %d, want %v", c.LinksUnsampled.Load(), tc.unsampled && !tc.linked)
			}
			if !tc.linked {
				return
			}
			if cl.Parent.SpanID() != srv.SpanContext.SpanID() || cl.SpanContext.TraceID() != srv.SpanContext.TraceID() || cl.Parent.IsRemote() {
				t.Errorf("client %v parent %v; server %v", cl.SpanContext, cl.Parent, srv.SpanContext)
			}
			if wantRoot := tc.header == ""; cl.ParentRoot != wantRoot || srv.Parent.IsValid() == wantRoot {
				t.Errorf("ParentRoot %v, server parent %v", cl.ParentRoot, srv.Parent)
			}
			if tc.header != "" && srv.SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
				t.Errorf("server span not in the caller's trace: %v", srv.SpanContext)
			}
		})
	}
}

// respRec is a task event from a wake by task by, which had polled an h2
// ResponseFuture whose first 16 bytes were store and key; origin and
// stream as in hopRec (0: no frame named the stream).
func respRec(task, by, origin uint64, stream uint32, store, key, ts uint64) []byte {
	e := bpf.WireTaskEvent{Head: head(evTask, ts, 0), Task: task, WokenBy: by, Origin: origin, OriginAt: ts, Stream: stream, Resp: [2]uint64{store, key}}
	if origin != 0 {
		e.Hop = 1
	}
	return record(e, nil)
}

// bodyRec is a task event: task read the body of the h2 stream whose
// handle begins with store and key.
func bodyRec(task, store, key, ts uint64) []byte {
	return record(bpf.WireBodyEvent{Head: head(evBody, ts, 0), Task: task, Recv: [2]uint64{store, key}}, nil)
}

// h2Frames encodes HTTP/2 frames with x/net/http2's framer.
func h2Frames(t *testing.T, write func(*http2.Framer, *hpack.Encoder, *bytes.Buffer)) string {
	t.Helper()
	var out, hb bytes.Buffer
	fr := http2.NewFramer(&out, nil)
	write(fr, hpack.NewEncoder(&hb), &hb)
	return out.String()
}

// TestLinkH2ResponseFuture: a handler (server request /call/7 on fd 7,
// task srvTask) makes five gRPC-like calls over an HTTP/2 client
// connection (fd 9, read by task cliTask), streams 1 to 9. Each response
// reaches the handler through a response task that polled the stream's
// ResponseFuture (store 0x5000, key: slab index, stream id). Calls whose
// frame also woke the response task teach which half of the key is the
// stream; a call whose response came before its task polled (no frame
// named it) is linked by the future alone, once that is known.
func TestLinkH2ResponseFuture(t *testing.T) {
	const srvTask, otherTask, cliTask, respTask = 0xa000, 0xa100, 0xc000, 0xe000
	const store = 0x5000
	key := func(s uint32) uint64 { return uint64(s)<<32 | uint64(s/2+100) }
	hop := func(s uint32, ts uint64) []byte {
		return respRec(srvTask, respTask+uint64(s), cliTask, s, store, key(s), ts)
	}
	bare := func(s uint32, ts uint64) []byte { return respRec(srvTask, respTask+uint64(s), 0, 0, store, key(s), ts) }
	streams := []uint32{1, 3, 5, 7, 9}
	for _, tc := range []struct {
		name   string
		polls  func(s uint32, ts uint64) []byte // the response side of stream s's call
		linked []uint32
		other  uint32 // a stream called by fd 8's request, answered right after
	}{
		{name: "frames only", polls: hop, linked: streams},
		{name: "learnt, then the future alone", linked: streams, polls: func(s uint32, ts uint64) []byte {
			if s == 9 {
				return bare(s, ts)
			}
			return hop(s, ts)
		}},
		{name: "the future alone before the layout is known", linked: streams, polls: func(s uint32, ts uint64) []byte {
			if s == 1 {
				return bare(s, ts)
			}
			return hop(s, ts)
		}},
		{name: "the future alone, its caller answered before the layout is known", linked: streams, other: 1, polls: func(s uint32, ts uint64) []byte {
			if s == 1 {
				return respRec(otherTask, respTask+1, 0, 0, store, key(1), ts)
			}
			return hop(s, ts)
		}},
		{name: "learnt, then the caller reads the body nobody woke it for", linked: streams, polls: func(s uint32, ts uint64) []byte {
			if s == 9 {
				return bodyRec(srvTask, store, key(9), ts)
			}
			return hop(s, ts)
		}},
		{name: "too few samples", linked: []uint32{3, 5, 7}, polls: func(s uint32, ts uint64) []byte {
			if s == 1 || s == 9 {
				return bare(s, ts)
			}
			return hop(s, ts)
		}},
		{name: "a sample contradicts", linked: []uint32{1, 3, 5, 7}, polls: func(s uint32, ts uint64) []byte {
			switch s {
			case 7:
				return respRec(srvTask, respTask+7, cliTask, 7, store, 0x99, ts) // still linked by its frame
			case 9:
				return bare(s, ts)
			}
			return hop(s, ts)
		}},
		{name: "a store of another connection", linked: []uint32{1, 3, 5, 7}, polls: func(s uint32, ts uint64) []byte {
			if s == 9 {
				return respRec(srvTask, respTask+9, 0, 0, store+0x100, key(9), ts)
			}
			return hop(s, ts)
		}},
		{name: "woken by another handler", linked: []uint32{1, 3, 5, 7}, polls: func(s uint32, ts uint64) []byte {
			if s == 9 {
				return respRec(srvTask, otherTask, 0, 0, store, key(9), ts)
			}
			return hop(s, ts)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var spans []Span
			var c Counters
			tg := &Target{PID: 42}
			tg.probed[hitTasks], tg.probed[hitH2Frames] = true, true
			tasksPlaced(tg, 1)
			a := newAssembler(&clock{}, &c, func(uint32) *Target { return tg }, func(s Span) { spans = append(spans, s) })
			recs := [][]byte{openRec(7, roleServer, 100), openRec(8, roleServer, 100), openRec(9, roleClient, 100),
				withTask(dataRec(7, 0, 0, 1000, "GET /call/7 HTTP/1.1\r\nHost: h\r\n\r\n", 0), srvTask, 0, 0),
				withTask(dataRec(8, 0, 0, 1000, "GET /other HTTP/1.1\r\nHost: h\r\n\r\n", 0), otherTask, 0, 0),
				withTask(dataRec(9, 1, 0, 1010, http2.ClientPreface+h2Frames(t, func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer) {
					fr.WriteSettings()
				}), 0), cliTask, 0, 0),
				withTask(dataRec(9, 0, 0, 1020, h2Frames(t, func(fr *http2.Framer, _ *hpack.Encoder, _ *bytes.Buffer) {
					fr.WriteSettings()
				}), 0), cliTask, 0, 0)}
			for i, s := range streams {
				ts := 1100 + uint64(i)*100
				recs = append(recs,
					withTask(dataRec(9, 1, uint32(i+1), ts, h2Frames(t, func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
						for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/demo.v1.Users/GetUser"}, {":authority", "d"}, {"content-type", "application/grpc"}} {
							enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
						}
						fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true})
					}), 0), cliTask, 0, 0),
					withTask(dataRec(9, 0, uint32(i+1), ts+30, h2Frames(t, func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
						for _, f := range [][2]string{{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", "0"}} {
							enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
						}
						fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true})
					}), 0), cliTask, 0, 0),
					tc.polls(s, ts+40))
				if s == tc.other {
					recs = append(recs, withTask(dataRec(8, 1, 0, ts+50, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 0), otherTask, 0, 0))
				}
			}
			recs = append(recs, withTask(dataRec(7, 1, 0, 1700, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 0), srvTask, 0, 0))
			feed(t, a, recs...)
			a.releaseCalls(math.MaxUint64)
			var srv, other *Span
			for i := range spans {
				switch {
				case spans[i].Kind.String() != "server":
				case attr(spans[i], "url.path") == "/other":
					other = &spans[i]
				default:
					srv = &spans[i]
				}
			}
			if srv == nil || tc.other != 0 && other == nil {
				t.Fatalf("server spans missing in %v", spans)
			}
			var got []uint32
			calls := 0
			for _, s := range spans {
				if s.Kind.String() != "client" {
					continue
				}
				calls++
				if !s.Parent.IsValid() {
					continue
				}
				stream := streams[(s.Start.UnixNano()-1100)/100]
				want := srv
				if stream == tc.other {
					want = other
				}
				if s.Parent.SpanID() != want.SpanContext.SpanID() {
					t.Errorf("stream %d: wrong parent %v", stream, s.Parent)
				}
				got = append(got, stream)
			}
			if calls != len(streams) {
				t.Fatalf("%d client spans, want %d: %v", calls, len(streams), spans)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.linked) {
				t.Errorf("streams linked %v, want %v", got, tc.linked)
			}
		})
	}
}
