package ui

import (
	"strconv"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/rustscope/rustscope/tracer"
)

// spanRow is a span with its display fields worked out once, on arrival,
// so rendering a full buffer stays cheap.
type spanRow struct {
	span    tracer.Span
	kind    string
	method  string
	route   string // http.route, when a probe knew it
	target  string // path (server), else url (client)
	status  int    // HTTP status; for gRPC a stand-in for colouring (200 OK, 400, 500)
	code    string // the STATUS column: the HTTP status, or the gRPC code name
	peer    string
	service string // service.name, when the session watches several processes
}

func newSpanRow(s *tracer.Span) spanRow {
	r := spanRow{span: *s, kind: "SRV"}
	if s.Kind == trace.SpanKindClient {
		r.kind = "CLI"
	}
	var path, full, grpcCode, client, server, port string
	var grpc bool
	for _, kv := range s.Attrs { // the few the row shows, without a map per span
		switch kv.Key {
		case "http.request.method":
			r.method = kv.Value.AsString()
		case "http.route":
			r.route = kv.Value.AsString()
		case "url.path":
			path = kv.Value.AsString()
		case "url.full":
			full = kv.Value.AsString()
		case "http.response.status_code":
			r.code = kv.Value.Emit()
			r.status, _ = strconv.Atoi(r.code)
		case "rpc.system":
			grpc = kv.Value.AsString() == "grpc"
		case "rpc.grpc.status_code":
			grpcCode = kv.Value.Emit()
		case "client.address":
			client = kv.Value.AsString()
		case "server.address":
			server = kv.Value.AsString()
		case "server.port":
			port = kv.Value.Emit()
		}
	}
	r.target = firstNonEmpty(path, full)
	if grpc {
		r.method, r.target = "gRPC", s.Name
		if c, err := strconv.ParseUint(grpcCode, 10, 32); err == nil {
			r.code = codes.Code(c).String()
			r.status = 200
			switch {
			case s.Error:
				r.status = 500
			case c != 0:
				r.status = 400
			}
		}
	}
	if r.code == "" {
		r.code = "-"
	}
	if r.kind == "SRV" {
		r.peer = client
	} else {
		r.peer = server
		if port != "" {
			r.peer += ":" + port
		}
	}
	return r
}

// attr returns an attribute's value as text.
func (r *spanRow) attr(key string) (string, bool) {
	for _, kv := range r.span.Attrs {
		if string(kv.Key) == key {
			return kv.Value.Emit(), true
		}
	}
	return "", false
}

// rateMeter is spans per second over the last five whole seconds.
type rateMeter struct {
	buckets [6]struct {
		sec int64
		n   int
	}
}

func (r *rateMeter) add(now time.Time, n int) {
	b := &r.buckets[now.Unix()%int64(len(r.buckets))]
	if b.sec != now.Unix() {
		b.sec, b.n = now.Unix(), 0
	}
	b.n += n
}

func (r *rateMeter) perSecond(now time.Time) float64 {
	total := 0
	for _, b := range r.buckets {
		if age := now.Unix() - b.sec; age >= 1 && age < int64(len(r.buckets)) {
			total += b.n
		}
	}
	return float64(total) / float64(len(r.buckets)-1)
}
