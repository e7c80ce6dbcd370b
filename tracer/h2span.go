package tracer

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	rpcconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/rustscope/rustscope/lib/axum"
	"github.com/rustscope/rustscope/lib/tonic"
	"github.com/rustscope/rustscope/tracer/flow"
	"github.com/rustscope/rustscope/tracer/http2"
)

// HeadersUnknown is the value of rustscope.http2.headers on a stream whose
// header block could not be decoded.
const HeadersUnknown = "unknown: the connection was opened before rustscope attached, so the HPACK table its headers refer to was not seen"

// grpcServerErrors are the codes a gRPC server span marks as errors
// (OpenTelemetry RPC conventions); a client marks every non-OK code.
var grpcServerErrors = map[codes.Code]bool{
	codes.Unknown: true, codes.DeadlineExceeded: true, codes.Unimplemented: true,
	codes.Internal: true, codes.Unavailable: true, codes.DataLoss: true,
}

// h2Span builds the span of one HTTP/2 stream. gRPC streams follow the RPC
// conventions (rpc.system, rpc.service, rpc.method, rpc.grpc.status_code,
// as in semantic conventions 1.26, which today's backends read); other
// streams the HTTP ones, like HTTP/1.1 spans.
//
// look is what axum's router said about the stream (nil: no probe): the
// route, and the path when the headers could not be decoded.
func h2Span(clk *clock, pid uint32, c *conn, role flow.Role, st *http2.Stream, look *h2Lookup) Span {
	req, resp := &st.Request, &st.Response
	s := Span{Name: "HTTP", PID: pid, Scope: WireScope}
	end := st.ResponseEnd
	if end < st.RequestStart {
		end = max(st.RequestEnd, st.RequestStart)
	}
	s.Start, s.End = clk.spanTimes(st.RequestStart, end)
	s.Attrs = append(s.Attrs,
		semconv.NetworkProtocolName("http"),
		semconv.NetworkProtocolVersion("2"),
		semconv.HTTPRequestBodySize(int(req.BodySize)),
		semconv.HTTPResponseBodySize(int(resp.BodySize)),
	)
	sock := c.local
	if role == flow.RoleClient {
		s.SpanContext = newSpanContext(trace.SpanContext{})
		s.Kind, s.Measures, sock = trace.SpanKindClient, MeasuresClient, c.remote
	} else {
		sc := serverIDs(propagation.HeaderCarrier(req.Header)) // gRPC metadata are header fields too
		s.SpanContext, s.Parent = sc.self, sc.parent
		s.Kind, s.Measures = trace.SpanKindServer, MeasuresServer
		if c.remote.IsValid() {
			s.Attrs = append(s.Attrs, semconv.ClientAddress(c.remoteAddr()), semconv.ClientPort(int(c.remote.Port())))
		}
	}
	host, port := hostPort(req.Authority, sock)
	if host != "" {
		s.Attrs = append(s.Attrs, semconv.ServerAddress(host), semconv.ServerPort(port))
	}
	s.Attrs = c.tlsAttrs(s.Attrs)
	if !req.Known {
		if look != nil && tonic.ServiceRoute(look.route) {
			// tonic's router matched it: a gRPC call to that service.
			s.Attrs = append(s.Attrs, attribute.String("rustscope.http2.headers", axum.HeadersRecovered))
			return grpcSpan(s, role, st, look.path)
		}
		s.Attrs = append(s.Attrs, attribute.String("rustscope.http2.headers", HeadersUnknown))
		if look != nil {
			s.Attrs = append(s.Attrs, semconv.URLPath(look.path))
			if look.route != "" {
				s.Name += " " + look.route
				s.Attrs = append(s.Attrs, semconv.HTTPRoute(look.route))
			}
		}
		if st.Reset {
			s.Error, s.StatusMessage = true, "stream reset: "+resetName(st.ResetCode)
		}
		return s
	}
	path, query, _ := strings.Cut(req.Path, "?")
	s.hideSecrets(query, req.Header, resp.Header)
	if strings.HasPrefix(req.Header.Get("content-type"), "application/grpc") {
		return grpcSpan(s, role, st, path)
	}
	s.Name = req.Method
	if look != nil && look.route != "" {
		s.Name += " " + look.route
		s.Attrs = append(s.Attrs, semconv.HTTPRoute(look.route))
	}
	s.Attrs = append(s.Attrs, semconv.HTTPRequestMethodKey.String(req.Method))
	if resp.Known && resp.Status > 0 {
		s.Attrs = append(s.Attrs, semconv.HTTPResponseStatusCodeKey.Int(resp.Status))
	}
	if ua := req.Header.Get("user-agent"); ua != "" {
		s.Attrs = append(s.Attrs, semconv.UserAgentOriginal(ua))
	}
	scheme := req.Scheme
	if scheme == "" || c.tlsPlain { // the connection says best
		scheme = c.scheme()
	}
	if role == flow.RoleClient {
		s.Attrs = append(s.Attrs, semconv.URLFull(scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+path+redactQuery(query)))
	} else {
		s.Attrs = append(s.Attrs, semconv.URLScheme(scheme), semconv.URLPath(path))
		if query != "" {
			s.Attrs = append(s.Attrs, semconv.URLQuery(redactQuery(query)[1:]))
		}
	}
	switch {
	case st.Reset && !resp.Known:
		s.Error, s.StatusMessage = true, "stream reset: "+resetName(st.ResetCode)
		s.Attrs = append(s.Attrs, semconv.ErrorTypeKey.String(resetName(st.ResetCode)))
	case resp.Status >= 500 || (role == flow.RoleClient && resp.Status >= 400):
		s.Error, s.StatusMessage = true, strconv.Itoa(resp.Status)
		s.Attrs = append(s.Attrs, semconv.ErrorTypeKey.String(strconv.Itoa(resp.Status)))
	}
	return s
}

func grpcSpan(s Span, role flow.Role, st *http2.Stream, path string) Span {
	full := strings.TrimPrefix(path, "/")
	service, method, _ := strings.Cut(full, "/")
	s.Name = full
	s.Attrs = append(s.Attrs, rpcconv.RPCSystemGRPC, rpcconv.RPCService(service), rpcconv.RPCMethod(method))
	status, ok := grpcStatus(&st.Response)
	switch {
	case ok:
		s.Attrs = append(s.Attrs, rpcconv.RPCGRPCStatusCodeKey.Int(int(status)))
		if status != codes.OK && (role == flow.RoleClient || grpcServerErrors[status]) {
			s.Error, s.StatusMessage = true, status.String()
			if msg := grpcMessage(&st.Response); msg != "" {
				s.StatusMessage += ": " + msg
			}
		}
	case st.Reset:
		s.Error, s.StatusMessage = true, "stream reset: "+resetName(st.ResetCode)
		s.Attrs = append(s.Attrs, semconv.ErrorTypeKey.String(resetName(st.ResetCode)))
	case st.Response.Known && !st.Response.TrailerUnknown:
		s.Error, s.StatusMessage = true, "no grpc-status"
	}
	return s
}

// grpcStatus reads grpc-status from the trailers, or from the headers of a
// trailers-only response.
func grpcStatus(m *http2.Message) (codes.Code, bool) {
	v := m.Trailer.Get("grpc-status")
	if v == "" {
		v = m.Header.Get("grpc-status")
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return codes.Code(n), true
}

// grpcMessage reads grpc-message like grpcStatus. gRPC percent-encodes
// it (PROTOCOL-HTTP2.md: "grpc-message" → Percent-Encoded, of UTF-8), so
// "user%20not%20found" is shown decoded; a value that does not decode to
// UTF-8 is kept as sent, as the protocol asks of a decoder.
func grpcMessage(m *http2.Message) string {
	v := m.Trailer.Get("grpc-message")
	if v == "" {
		v = m.Header.Get("grpc-message")
	}
	if d, err := url.PathUnescape(v); err == nil && utf8.ValidString(d) {
		return d
	}
	return v
}

func resetName(code uint32) string {
	return "RST_STREAM " + http2.ErrCodeName(code)
}
