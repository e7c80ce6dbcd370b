package tracer

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer/flow"
	"github.com/rustscope/rustscope/tracer/http1"
)

// What a wire-level duration brackets, shown to users beside it.
const (
	MeasuresServer = "first request byte read to last response byte written (includes queueing in the process)"
	MeasuresClient = "first request byte written to last response byte read"
)

// WireScope is the instrumentation scope of spans made from captured bytes
// alone, before any library probe enriched them.
var WireScope = Scope{Name: "rustscope/wire", Version: Version}

// httpSpan builds the span of one HTTP/1.x exchange seen on c.
// l is what library probes added; its zero value means none saw it.
func httpSpan(clk clock, pid uint32, c *conn, role flow.Role, x *http1.Exchange, l libAdds) Span {
	req, resp := x.Request, x.Response
	path, query, _ := strings.Cut(req.Target, "?")
	s := Span{
		Name:  req.Method,
		PID:   pid,
		Scope: WireScope,
	}
	if l.scope.Name != "" {
		s.Scope = l.scope
	}
	s.Attrs = append(s.Attrs,
		semconv.HTTPRequestMethodKey.String(req.Method),
		semconv.HTTPResponseStatusCodeKey.Int(resp.StatusCode),
		semconv.NetworkProtocolName("http"),
		semconv.NetworkProtocolVersion(protoVersion(req.Proto)),
		semconv.HTTPRequestBodySize(int(req.BodySize)),
		semconv.HTTPResponseBodySize(int(resp.BodySize)),
	)
	if ua := req.Header.Get("User-Agent"); ua != "" {
		s.Attrs = append(s.Attrs, semconv.UserAgentOriginal(ua))
	}
	if role == flow.RoleClient {
		s.SpanContext = newSpanContext(trace.SpanContext{})
		s.Kind = trace.SpanKindClient
		s.Start, s.End = clk.wall(x.RequestStart), clk.wall(x.ResponseEnd)
		s.Measures = MeasuresClient
		host, port := hostPort(req.Host, c.remote)
		s.Attrs = append(s.Attrs,
			semconv.URLFull("http://"+net.JoinHostPort(host, strconv.Itoa(port))+path+redactQuery(query)),
			semconv.ServerAddress(host), semconv.ServerPort(port))
		if resp.StatusCode >= 400 {
			s.Error, s.StatusMessage = true, strconv.Itoa(resp.StatusCode)
		}
	} else {
		sc := c.takeServerContext(req, x.RequestStart)
		s.SpanContext, s.Parent = sc.self, sc.parent
		s.Kind = trace.SpanKindServer
		s.Start, s.End = clk.wall(x.RequestStart), clk.wall(x.ResponseEnd)
		s.Measures = MeasuresServer
		host, port := hostPort(req.Host, c.local)
		s.Attrs = append(s.Attrs,
			semconv.URLScheme("http"), semconv.URLPath(path),
			semconv.ServerAddress(host), semconv.ServerPort(port))
		if query != "" {
			s.Attrs = append(s.Attrs, semconv.URLQuery(redactQuery(query)[1:]))
		}
		if l.route != "" {
			s.Name = req.Method + " " + l.route
			s.Attrs = append(s.Attrs, semconv.HTTPRoute(l.route))
		}
		if c.remote.IsValid() {
			s.Attrs = append(s.Attrs, semconv.ClientAddress(c.remote.Addr().String()), semconv.ClientPort(int(c.remote.Port())))
		}
		if resp.StatusCode >= 500 {
			s.Error, s.StatusMessage = true, strconv.Itoa(resp.StatusCode)
		}
	}
	if s.Error {
		s.Attrs = append(s.Attrs, semconv.ErrorTypeKey.String(strconv.Itoa(resp.StatusCode)))
	}
	if x.Truncated {
		s.Attrs = append(s.Attrs, attribute.Bool("rustscope.capture.truncated", true))
	}
	s.hideSecrets(query, &req.Header, &resp.Header)
	return s
}

// protoVersion maps "HTTP/1.1" to semconv's "1.1".
func protoVersion(proto string) string {
	if v, ok := strings.CutPrefix(proto, "HTTP/"); ok {
		return v
	}
	return proto
}

// hostPort prefers the Host header (what the caller asked for) and falls
// back to the socket address.
func hostPort(hostHeader string, sock netip.AddrPort) (string, int) {
	if hostHeader != "" {
		if h, p, err := net.SplitHostPort(hostHeader); err == nil {
			if n, err := strconv.Atoi(p); err == nil {
				return h, n
			}
		}
		if sock.IsValid() {
			return hostHeader, int(sock.Port())
		}
		return hostHeader, 80
	}
	if sock.IsValid() {
		return sock.Addr().String(), int(sock.Port())
	}
	return "", 0
}

// redactQuery keeps query keys and hides their values, which often carry
// tokens: "a=1&b" becomes "?a=REDACTED&b". Empty input stays empty.
func redactQuery(q string) string {
	if q == "" {
		return ""
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		if k, _, ok := strings.Cut(p, "="); ok {
			parts[i] = k + "=REDACTED"
		}
	}
	return "?" + strings.Join(parts, "&")
}
