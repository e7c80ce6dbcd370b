package tracer

import (
	"testing"
)

// withTask sets what the task probes would have put in a data record.
func withTask(raw []byte, task, wokenBy, wokenAt uint64) []byte {
	var ev event
	if err := decodeEvent(raw, &ev); err != nil {
		panic(err)
	}
	h := ev.hdr
	h.Task, h.WokenBy, h.WokenAt = task, wokenBy, wokenAt
	return record(h, ev.data)
}

func TestLinkClient(t *testing.T) {
	const (
		srvTask, cliTask = 0xa000, 0xc000
		tp               = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	)
	req := func(extra string) string { return "GET /call/7 HTTP/1.1\r\nHost: h\r\n" + extra + "\r\n" }
	call := "GET /users/7 HTTP/1.1\r\nHost: d\r\n\r\n"
	ok := "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
	for _, tc := range []struct {
		name             string
		header           string
		wokenBy, wokenAt uint64
		linked, refused  bool
	}{
		{"woken by the handler's task", "", srvTask, 1100, true, false},
		{"in the caller's trace", "traceparent: " + tp + "\r\n", srvTask, 1100, true, false},
		{"woken by several tasks", "", 1, 1100, false, false},
		{"woken by a task that serves nothing", "", 0xb000, 1100, false, false},
		{"woken before the server request", "", srvTask, 900, false, true},
		{"woken after the write (impossible)", "", srvTask, 1250, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var spans []Span
			var c Counters
			a := newAssembler(clock{}, &c, func(uint32) *Target { return &Target{PID: 42} }, func(s Span) { spans = append(spans, s) })
			feed(t, a, openRec(7, roleServer, 100), openRec(9, roleClient, 100),
				withTask(dataRec(7, 0, 0, 1000, req(tc.header), 0), srvTask, 0, 0),
				withTask(dataRec(9, 1, 0, 1200, call, 0), cliTask, tc.wokenBy, tc.wokenAt),
				withTask(dataRec(9, 0, 0, 1300, ok, 0), cliTask, 0, 0),
				withTask(dataRec(7, 1, 0, 1400, ok, 0), srvTask, 0, 0),
				// The client span is made before the server span, which must
				// still be the one it named.
				withTask(dataRec(7, 0, 1, 1600, req(""), 0), srvTask, 0, 0))
			if len(spans) != 2 {
				t.Fatalf("%d spans, want 2", len(spans))
			}
			cl, srv := spans[0], spans[1]
			if cl.Kind.String() != "client" || srv.Kind.String() != "server" {
				t.Fatalf("spans %v, %v", cl.Kind, srv.Kind)
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
