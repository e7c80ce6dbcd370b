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
func httpSpan(clk *clock, pid uint32, c *conn, role flow.Role, x *http1.Exchange, l libAdds) Span {
	req, resp := x.Request, x.Response
	path, query, _ := strings.Cut(req.Target, "?")
	method, version, ua := req.Method, protoVersion(req.Proto), req.Header.Get("User-Agent")
	client := role == flow.RoleClient
	sock := c.local
	if client {
		sock = c.remote
	}
	host, port := hostPort(req.Host, sock)
	// These are substrings of the request's head, which would stay alive
	// as long as the span (queued for export, in the UI's buffer) holds one.
	keep(&method, &version, &path, &ua, &host)
	s := Span{
		Name:  method,
		PID:   pid,
		Scope: WireScope,
		Error: client && resp.StatusCode >= 400 || !client && resp.StatusCode >= 500,
	}
	s.Start, s.End = clk.spanTimes(x.RequestStart, x.ResponseEnd)
	if l.scope.Name != "" {
		s.Scope = l.scope
	}
	s.Attrs = make([]attribute.KeyValue, 0, httpAttrCount(c, client, ua, query, l.route, s.Error, x.Truncated))
	s.Attrs = append(s.Attrs,
		semconv.HTTPRequestMethodKey.String(method),
		semconv.HTTPResponseStatusCodeKey.Int(resp.StatusCode),
		semconv.NetworkProtocolName("http"),
		semconv.NetworkProtocolVersion(version),
		semconv.HTTPRequestBodySize(int(req.BodySize)),
		semconv.HTTPResponseBodySize(int(resp.BodySize)),
	)
	if ua != "" {
		s.Attrs = append(s.Attrs, semconv.UserAgentOriginal(ua))
	}
	if client {
		s.SpanContext = newSpanContext(trace.SpanContext{})
		s.Kind = trace.SpanKindClient
		s.Measures = MeasuresClient
		s.Attrs = append(s.Attrs,
			semconv.URLFull(clientURL(c.scheme(), host, port, path, query)),
			semconv.ServerAddress(host), semconv.ServerPort(port))
	} else {
		sc := c.takeServerContext(req, x.RequestStart)
		s.SpanContext, s.Parent = sc.self, sc.parent
		s.Kind = trace.SpanKindServer
		s.Measures = MeasuresServer
		s.Attrs = append(s.Attrs,
			semconv.URLScheme(c.scheme()), semconv.URLPath(path),
			semconv.ServerAddress(host), semconv.ServerPort(port))
		if query != "" {
			s.Attrs = append(s.Attrs, semconv.URLQuery(redactQuery(query)[1:]))
		}
		if l.route != "" {
			s.Name = method + " " + l.route
			s.Attrs = append(s.Attrs, semconv.HTTPRoute(l.route))
		}
		if c.remote.IsValid() {
			s.Attrs = append(s.Attrs, semconv.ClientAddress(c.remoteAddr()), semconv.ClientPort(int(c.remote.Port())))
		}
	}
	s.Attrs = c.tlsAttrs(s.Attrs)
	if s.Error {
		s.StatusMessage = strconv.Itoa(resp.StatusCode)
		s.Attrs = append(s.Attrs, semconv.ErrorTypeKey.String(s.StatusMessage))
	}
	if x.Truncated {
		s.Attrs = append(s.Attrs, attribute.Bool("rustscope.capture.truncated", true))
	}
	s.hideSecrets(query, &req.Header, &resp.Header)
	return s
}

// httpAttrCount is how many attributes httpSpan gives a span, so that
// their slice is allocated once and no larger than needed.
func httpAttrCount(c *conn, client bool, ua, query, route string, failed, truncated bool) int {
	n := 6 // method, status, protocol name and version, body sizes
	if client {
		n += 3 // url.full, server address and port
	} else {
		n += 4 // url.scheme, url.path, server address and port
		if query != "" {
			n++
		}
		if route != "" {
			n++
		}
		if c.remote.IsValid() {
			n += 2
		}
	}
	if c.tlsPlain {
		n += 2 // tls.protocol.name and version
	}
	for _, b := range []bool{ua != "", failed, truncated} {
		if b {
			n++
		}
	}
	return n
}

// keep replaces each string by a copy, all copies sharing one allocation.
func keep(ss ...*string) {
	n := 0
	for _, s := range ss {
		n += len(*s)
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range ss {
		b.WriteString(*s)
	}
	all := b.String()
	for _, s := range ss {
		*s, all = all[:len(*s)], all[len(*s):]
	}
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
	var b strings.Builder
	b.Grow(redactedLen(q))
	writeRedacted(&b, q)
	return b.String()
}

// redactedLen bounds the length of redactQuery(q): each of its parts may
// grow by "REDACTED".
func redactedLen(q string) int {
	return 1 + len(q) + len(redacted)*(1+strings.Count(q, "&"))
}

const redacted = "REDACTED"

func writeRedacted(b *strings.Builder, q string) {
	if q == "" {
		return
	}
	b.WriteByte('?')
	for i, more := 0, true; more; i++ {
		var part string
		part, q, more = strings.Cut(q, "&")
		if i > 0 {
			b.WriteByte('&')
		}
		if k, _, ok := strings.Cut(part, "="); ok {
			b.WriteString(k)
			b.WriteString("=" + redacted)
		} else {
			b.WriteString(part)
		}
	}
}

// clientURL is a client span's url.full: "http://host:port/path?query",
// query values REDACTED, an IPv6 host in brackets (net.JoinHostPort), in
// one allocation.
func clientURL(scheme, host string, port int, path, query string) string {
	var b strings.Builder
	b.Grow(len("https://[]:65535") + len(host) + len(path) + redactedLen(query))
	b.WriteString(scheme)
	b.WriteString("://")
	if strings.IndexByte(host, ':') >= 0 {
		b.WriteByte('[')
		b.WriteString(host)
		b.WriteByte(']')
	} else {
		b.WriteString(host)
	}
	b.WriteByte(':')
	var num [20]byte
	b.Write(strconv.AppendInt(num[:0], int64(port), 10))
	b.WriteString(path)
	writeRedacted(&b, query)
	return b.String()
}
