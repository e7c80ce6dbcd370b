package tracer

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	rpcconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"google.golang.org/grpc/codes"

	"github.com/rustscope/rustscope/tracer/flow"
	"github.com/rustscope/rustscope/tracer/http2"
)

// grpcEncode percent-encodes a grpc-message as gRPC implementations do:
// bytes outside 0x20-0x7E and '%' (PROTOCOL-HTTP2.md), and with tonic
// also ' ', '"', '#', '<', '>', '`', '?', '{' and '}'.
func grpcEncode(s string, tonic bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '%' || tonic && strings.IndexByte(" \"#<>`?{}", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// FuzzGRPCSpan builds the span of a gRPC stream from a fuzzed :path,
// grpc-status and grpc-message (in the trailers, or the headers of a
// trailers-only response) and checks what the RPC conventions ask: the
// name is the path's service/method and splits into rpc.service and
// rpc.method; rpc.grpc.status_code is there exactly when grpc-status is
// a number, with its value; the span is an error by the status (server:
// only server faults), a reset or a missing status; a grpc-message
// percent-encoded as gRPC and tonic encode it comes out as it was.
func FuzzGRPCSpan(f *testing.F) {
	f.Add("/demo.v1.Users/GetUser", "0", "", "", false, false, uint8(0))
	f.Add("/demo.v1.Users/GetUser?x=1", "13", "simulated internal error", "", false, false, uint8(1))
	f.Add("/x", "", "", "5", true, false, uint8(2))
	f.Add("/", "", "", "", true, true, uint8(3))
	f.Add("//a/b", "4294967296", "100% ✓", "007", false, false, uint8(4))
	f.Add("/a/b", "2", "user 7 not found", "", false, false, uint8(8))
	f.Fuzz(func(t *testing.T, path, trlStatus, msg, hdrStatus string, client, reset bool, flags uint8) {
		role := flow.RoleServer
		if client {
			role = flow.RoleClient
		}
		st := http2.Stream{ID: 1, Reset: reset, RequestStart: 10, RequestEnd: 20, ResponseStart: 30, ResponseEnd: 40}
		st.Request = http2.Message{Known: true, Method: "POST", Path: path, Authority: "h:50051",
			Header: http.Header{"Content-Type": {"application/grpc"}}}
		st.Response = http2.Message{Known: flags&1 == 0, TrailerUnknown: flags&2 != 0, Status: 200, Header: http.Header{}, Trailer: http.Header{}}
		raw := grpcEncode(msg, flags&8 != 0)
		if hdrStatus != "" {
			st.Response.Header.Set("grpc-status", hdrStatus)
		}
		if trlStatus != "" {
			st.Response.Trailer.Set("grpc-status", trlStatus)
		}
		if flags&4 != 0 {
			st.Response.Header.Set("grpc-message", raw)
		} else if raw != "" {
			st.Response.Trailer.Set("grpc-message", raw)
		}
		s := h2Span(&clock{}, 1, &conn{}, role, &st, nil)

		full := strings.TrimPrefix(strings.SplitN(path, "?", 2)[0], "/")
		svc, method := attr(s, "rpc.service"), attr(s, "rpc.method")
		if s.Name != full || attr(s, "rpc.system") != "grpc" {
			t.Fatalf("name %q, rpc.system %q; want %q, grpc", s.Name, attr(s, "rpc.system"), full)
		}
		if strings.Contains(full, "/") && svc+"/"+method != full || !strings.Contains(full, "/") && (svc != full || method != "") {
			t.Fatalf("rpc.service %q, rpc.method %q from %q", svc, method, full)
		}
		v := trlStatus
		if v == "" {
			v = hdrStatus
		}
		n, err := strconv.ParseUint(v, 10, 64)
		isCode := err == nil && n <= 1<<32-1 && strings.Trim(v, "0123456789") == ""
		got, has := s.Attr(rpcconv.RPCGRPCStatusCodeKey)
		if has != isCode || has && uint64(got.AsInt64()) != n {
			t.Fatalf("grpc-status %q: attribute %v (%v)", v, got.Emit(), has)
		}
		code := codes.Code(n)
		wantErr := reset || st.Response.Known && !st.Response.TrailerUnknown
		if isCode {
			wantErr = code != codes.OK && (client || grpcServerErrors[code])
		}
		if s.Error != wantErr {
			t.Fatalf("status %q (known %v), reset %v, client %v: error %v", v, st.Response.Known, reset, client, s.Error)
		}
		if isCode && wantErr {
			want := code.String()
			if msg != "" && utf8.ValidString(msg) {
				want += ": " + msg
			}
			if msg != "" && !utf8.ValidString(msg) && !strings.HasPrefix(s.StatusMessage, want+": ") || utf8.ValidString(msg) && s.StatusMessage != want {
				t.Fatalf("status message %q, want %q", s.StatusMessage, want)
			}
		}
		if s.Start.After(s.End) || s.Kind.String() != map[bool]string{true: "client", false: "server"}[client] {
			t.Fatalf("span %v..%v, kind %v", s.Start, s.End, s.Kind)
		}
	})
}
