package tracer

import (
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Span is one finished request as the tracer saw it: the unit every
// consumer (UI, exporters) receives. Attributes follow the OpenTelemetry
// semantic conventions.
type Span struct {
	Name  string
	Kind  trace.SpanKind
	Start time.Time
	End   time.Time
	PID   uint32
	Attrs []attribute.KeyValue
	// Error marks a failed request (5xx on a server, 4xx/5xx on a client);
	// StatusMessage says why.
	Error         bool
	StatusMessage string
	// Scope names what produced the span: the instrumented crate and its
	// version when a library probe saw the request, else the wire layer.
	Scope Scope
	// Measures says what Start and End bracket, for the reader of a duration.
	Measures string

	// SpanContext is the span's own trace and span ID, given when the span
	// is made so that the spans of calls it made can name it as parent.
	SpanContext trace.SpanContext
	// Parent is the caller's span from a W3C traceparent header (remote),
	// or for a client call the server span whose handler made it (local).
	// Invalid for a root span.
	Parent trace.SpanContext
	// ParentRoot says Parent is a local span with no parent of its own: its
	// sampling decision is the root sampler's on the trace ID.
	ParentRoot bool

	// secrets are the values Attrs hide, until the tracer hands the span
	// on: revealed with Options.ShowSecrets, else dropped.
	secrets *secrets
}

// Parented reports whether the span has a parent.
func (s *Span) Parented() bool { return s.Parent.IsValid() }

// Scope is the instrumentation scope of a span.
type Scope struct {
	Name    string
	Version string
}

// Duration is End - Start.
func (s *Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Attr returns the value of the attribute with key k.
func (s *Span) Attr(k attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attrs {
		if kv.Key == k {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// secrets are a span's values that often carry credentials: the query
// string (Attrs keep its keys, values REDACTED) and credential headers
// (not in Attrs at all).
type secrets struct {
	query   string // without the '?'
	headers []attribute.KeyValue
}

// fields is what spans read from a message's header fields, whichever
// parser made them: http.Header (HTTP/2) or *http1.Header (a pointer, so
// that passing it allocates nothing).
type fields interface {
	Get(name string) string
	Values(name string) []string
}

// secretHeaders are the credential headers, as semconv header attributes.
var secretHeaders = []struct {
	name     string // canonical, as http.Header keys are
	key      attribute.Key
	response bool
}{
	{"Authorization", "http.request.header.authorization", false},
	{"Proxy-Authorization", "http.request.header.proxy-authorization", false},
	{"Cookie", "http.request.header.cookie", false},
	{"Set-Cookie", "http.response.header.set-cookie", true},
}

// hideSecrets keeps query and the credential headers of req and resp out
// of s.Attrs, aside in s.secrets. Spans without any allocate nothing.
func (s *Span) hideSecrets(query string, req, resp fields) {
	var headers []attribute.KeyValue
	for _, h := range secretHeaders {
		hdr := req
		if h.response {
			hdr = resp
		}
		if vs := hdr.Values(h.name); len(vs) > 0 {
			headers = append(headers, h.key.StringSlice(vs))
		}
	}
	if query != "" || headers != nil {
		s.secrets = &secrets{query: query, headers: headers}
	}
}

// reveal puts what hideSecrets kept aside into Attrs: the query's values
// in url.query and url.full, the credential headers as attributes. It
// copies them: an HTTP/1 span's are substrings of its request's head,
// which the span would otherwise keep whole.
func (s *Span) reveal() {
	sec := s.secrets
	s.secrets = nil
	if sec == nil {
		return
	}
	if sec.query != "" {
		for i, kv := range s.Attrs {
			switch kv.Key {
			case semconv.URLQueryKey:
				s.Attrs[i] = semconv.URLQuery(strings.Clone(sec.query))
			case semconv.URLFullKey:
				base, _, _ := strings.Cut(kv.Value.AsString(), "?")
				s.Attrs[i] = semconv.URLFull(base + "?" + sec.query)
			}
		}
	}
	for _, kv := range sec.headers {
		vs := kv.Value.AsStringSlice() // a new slice, the same strings
		for i := range vs {
			vs[i] = strings.Clone(vs[i])
		}
		s.Attrs = append(s.Attrs, kv.Key.StringSlice(vs))
	}
}

// secretsFilter wraps emit, the one way spans leave the tracer: with show
// their hidden values are revealed, else dropped, so that no consumer (UI,
// exporters) holds them.
func secretsFilter(emit func(Span), show bool) func(Span) {
	return func(s Span) {
		if show {
			s.reveal()
		}
		s.secrets = nil
		emit(s)
	}
}
