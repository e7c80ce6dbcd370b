package tracer

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestSecretsRedacted: credential headers (HTTP/1.1 and HTTP/2, gRPC
// metadata included) and query values never reach a span's attributes,
// name or status unless ShowSecrets reveals them, through the real parsers
// and the filter every span leaves the tracer by.
func TestSecretsRedacted(t *testing.T) {
	h2 := func(fields [][2]string, stream uint32, preface bool) string {
		fr := h2Frames(t, func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
			if preface {
				fr.WriteSettings()
			}
			for _, f := range fields {
				enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true})
		})
		if preface {
			return http2.ClientPreface + fr
		}
		return fr
	}
	for _, tc := range []struct {
		name string
		recs [][]byte
		// shown: attributes present only with ShowSecrets, and their
		// values then; redacted: their values by default.
		shown, redacted map[string]string
	}{
		{
			name: "http1 server",
			recs: [][]byte{openRec(7, roleServer, 100),
				dataRec(7, 0, 0, 1000, "GET /u?token=tok-1&x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer sec-auth\r\n"+
					"Proxy-Authorization: Basic sec-proxy\r\nCookie: sid=sec-cookie\r\n\r\n", 0),
				dataRec(7, 1, 0, 2000, "HTTP/1.1 200 OK\r\nSet-Cookie: sid=sec-set\r\nContent-Length: 0\r\n\r\n", 0)},
			shown: map[string]string{
				"url.query":                               "token=tok-1&x",
				"http.request.header.authorization":       `["Bearer sec-auth"]`,
				"http.request.header.proxy-authorization": `["Basic sec-proxy"]`,
				"http.request.header.cookie":              `["sid=sec-cookie"]`,
				"http.response.header.set-cookie":         `["sid=sec-set"]`,
			},
			redacted: map[string]string{"url.query": "token=REDACTED&x"},
		},
		{
			name: "http1 client",
			recs: [][]byte{openRec(9, roleClient, 100),
				dataRec(9, 1, 0, 1000, "GET /api?key=tok-2 HTTP/1.1\r\nHost: svc:9000\r\nauthorization: sec-auth\r\n\r\n", 0),
				dataRec(9, 0, 0, 2000, "HTTP/1.1 204 No Content\r\nset-cookie: a=sec-1\r\nset-cookie: b=sec-2\r\n\r\n", 0)},
			shown: map[string]string{
				"url.full":                          "http://svc:9000/api?key=tok-2",
				"http.request.header.authorization": `["sec-auth"]`,
				"http.response.header.set-cookie":   `["a=sec-1","b=sec-2"]`,
			},
			redacted: map[string]string{"url.full": "http://svc:9000/api?key=REDACTED"},
		},
		{
			name: "http2 server",
			recs: [][]byte{openRec(7, roleServer, 100),
				dataRec(7, 0, 0, 1000, h2([][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/a?q=tok-3"},
					{":authority", "h"}, {"cookie", "c=sec-c1"}, {"cookie", "d=sec-c2"}}, 1, true), 0),
				dataRec(7, 1, 0, 2000, h2([][2]string{{":status", "200"}, {"set-cookie", "s=sec-set"}}, 1, false), 0)},
			shown: map[string]string{
				"url.query":                       "q=tok-3",
				"http.request.header.cookie":      `["c=sec-c1","d=sec-c2"]`,
				"http.response.header.set-cookie": `["s=sec-set"]`,
			},
			redacted: map[string]string{"url.query": "q=REDACTED"},
		},
		{
			name: "grpc metadata",
			recs: [][]byte{openRec(7, roleServer, 100),
				dataRec(7, 0, 0, 1000, h2([][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/demo.v1.Users/GetUser"},
					{":authority", "h"}, {"content-type", "application/grpc"}, {"authorization", "Bearer sec-grpc"}}, 1, true), 0),
				dataRec(7, 1, 0, 2000, h2([][2]string{{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", "0"}}, 1, false), 0)},
			shown: map[string]string{"http.request.header.authorization": `["Bearer sec-grpc"]`},
		},
	} {
		for _, show := range []bool{false, true} {
			var spans []Span
			a := newAssembler(&clock{}, &Counters{}, func(uint32) *Target { return nil },
				secretsFilter(func(s Span) { spans = append(spans, s) }, show))
			feed(t, a, tc.recs...)
			if len(spans) != 1 {
				t.Fatalf("%s: %d spans, want 1", tc.name, len(spans))
			}
			s := spans[0]
			if s.secrets != nil {
				t.Errorf("%s show=%v: span leaves the tracer with its hidden values", tc.name, show)
			}
			for k, v := range tc.shown {
				got, ok := s.Attr(attribute.Key(k))
				want, wantOK := tc.redacted[k]
				if show {
					want, wantOK = v, true
				}
				if ok != wantOK || (ok && got.Emit() != want) {
					t.Errorf("%s show=%v: %s = %q (present %v), want %q (present %v)", tc.name, show, k, got.Emit(), ok, want, wantOK)
				}
			}
			if show {
				continue
			}
			all := s.Name + " " + s.StatusMessage
			for _, kv := range s.Attrs {
				all += " " + string(kv.Key) + "=" + kv.Value.Emit()
			}
			if strings.Contains(all, "sec-") || strings.Contains(all, "tok-") {
				t.Errorf("%s: a secret is visible by default: %s", tc.name, all)
			}
		}
	}
}

// reveal copies what it shows: an HTTP/1 span's hidden values are
// substrings of its request's head, which the span would then keep whole.
func TestRevealCopies(t *testing.T) {
	head := "GET /p?token=t HTTP/1.1\r\nCookie: c=1\r\n\r\n"
	query, cookie := head[7:14], head[33:36]
	s := Span{Attrs: []attribute.KeyValue{semconv.URLQuery("token=REDACTED")}}
	s.secrets = &secrets{query: query, headers: []attribute.KeyValue{attribute.StringSlice("http.request.header.cookie", []string{cookie})}}
	s.reveal()
	if len(s.Attrs) != 2 || s.Attrs[0].Value.AsString() != "token=t" || s.Attrs[1].Value.AsStringSlice()[0] != "c=1" {
		t.Fatalf("revealed %v", s.Attrs)
	}
	for _, v := range []string{s.Attrs[0].Value.AsString(), s.Attrs[1].Value.AsStringSlice()[0]} {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(v))) - uintptr(unsafe.Pointer(unsafe.StringData(head))); p < uintptr(len(head)) {
			t.Errorf("%q points into the head", v)
		}
	}
}
