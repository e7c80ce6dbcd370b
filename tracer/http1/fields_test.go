package http1

import (
	"bufio"
	"fmt"
	"net/http"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
)

// textprotoHead is how heads were parsed before parseFields: net/textproto
// over the head, start line first. The parser must accept, and return,
// exactly what it did.
func textprotoHead(head string) (http.Header, bool) {
	tp := textproto.NewReader(bufio.NewReader(strings.NewReader(head)))
	if _, err := tp.ReadLine(); err != nil {
		return nil, false
	}
	mh, err := tp.ReadMIMEHeader()
	return http.Header(mh), err == nil
}

// textprotoFraming is framing as it was, over textproto's http.Header.
func textprotoFraming(hdr http.Header) (f frame, length int64, ok bool) {
	if te := hdr.Values("Transfer-Encoding"); len(te) > 0 {
		all := strings.Join(te, ",")
		last := strings.TrimSpace(all[strings.LastIndexByte(all, ',')+1:])
		if strings.EqualFold(last, "chunked") {
			return fChunked, 0, true
		}
		return fOtherTE, 0, true
	}
	cl := hdr.Values("Content-Length")
	if len(cl) == 0 {
		return fNone, 0, true
	}
	length = -1
	for _, v := range strings.Split(strings.Join(cl, ","), ",") {
		n, ok := parseLength(strings.TrimSpace(v))
		if !ok || length >= 0 && n != length {
			return fNone, 0, false
		}
		length = n
	}
	return fLength, length, true
}

// asMap is h as textproto keyed it: canonical names, except names with a
// space, which it kept as they were.
func asMap(h Header) http.Header {
	m := http.Header{}
	for _, f := range h {
		k := textproto.CanonicalMIMEHeaderKey(f.Name)
		m[k] = append(m[k], f.Value)
	}
	return m
}

// checkLikeTextproto parses the field section s (which ends at its first
// empty line) both ways and fails t where they differ.
func checkLikeTextproto(t *testing.T, s string) {
	t.Helper()
	h, ok := parseFields(s)
	want, wantOK := textprotoHead("GET / HTTP/1.1\r\n" + s)
	if ok != wantOK {
		t.Fatalf("%q: ok %v, textproto %v", s, ok, wantOK)
	}
	if !ok {
		return
	}
	if got := asMap(h); !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %q\nwant %q", s, got, want)
	}
	for _, name := range []string{"Host", "content-length", "X-A", "x-a", "Transfer-Encoding", "Traceparent"} {
		if h.Get(name) != want.Get(name) || !reflect.DeepEqual(h.Values(name), want.Values(name)) {
			t.Fatalf("%q: %s: got %q %q, want %q %q", s, name, h.Get(name), h.Values(name), want.Get(name), want.Values(name))
		}
	}
	f, n, fok := framing(h)
	wf, wn, wfok := textprotoFraming(want)
	if f != wf || n != wn || fok != wfok {
		t.Fatalf("%q: framing %v %d %v, textproto's %v %d %v", s, f, n, fok, wf, wn, wfok)
	}
}

// fieldSection cuts s at its first empty line, as head and line do before
// they parse (adding one if there is none).
func fieldSection(s string) string {
	if strings.HasPrefix(s, "\n") || strings.HasPrefix(s, "\r\n") {
		return s[:strings.IndexByte(s, '\n')+1]
	}
	s += "\r\n\r\n"
	return s[:headEnd([]byte(s), 0)]
}

func TestParseFields(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
		want     Header // checked when ok
	}{
		{"none", "\r\n", true, nil},
		{"plain", "Host: a\r\nX-A: b\r\n\r\n", true, Header{{"Host", "a"}, {"X-A", "b"}}},
		{"bare LF", "Host: a\nx-a: b\n\n", true, Header{{"Host", "a"}, {"x-a", "b"}}},
		{"duplicates in order", "X-A: 1\r\nx-a: 2\r\nX-A: 3\r\n\r\n", true, Header{{"X-A", "1"}, {"x-a", "2"}, {"X-A", "3"}}},
		{"whitespace trimmed", "X-A: \t b c \t\r\n\r\n", true, Header{{"X-A", "b c"}}},
		{"empty value", "X-A:\r\nX-B: \r\n\r\n", true, Header{{"X-A", ""}, {"X-B", ""}}},
		{"colon in value", "Host: a:80\r\n\r\n", true, Header{{"Host", "a:80"}}},
		{"obs-text", "X-A: caf\xc3\xa9\x80\r\n\r\n", true, Header{{"X-A", "caf\xc3\xa9\x80"}}},
		{"obs-fold joined by one space", "X-A: b\r\n  c \r\n\td\r\nX-B: e\r\n\r\n", true, Header{{"X-A", "b c d"}, {"X-B", "e"}}},
		{"obs-fold of only whitespace leaves the space", "X-A: b\r\n \t \r\n\r\n", true, Header{{"X-A", "b "}}},
		{"obs-fold after an empty value", "X-A:\r\n b\r\n\r\n", true, Header{{"X-A", "b"}}},
		{"name with a space kept", "X A: b\r\nX-A : c\r\n\r\n", true, Header{{"X A", "b"}, {"X-A ", "c"}}},
		{"leading whitespace", " X-A: b\r\n\r\n", false, nil},
		{"leading tab", "\tX-A: b\r\n\r\n", false, nil},
		{"no colon", "X-A b\r\n\r\n", false, nil},
		{"colon only in the continuation", "X-A\r\n : b\r\n\r\n", false, nil},
		{"empty name", ": b\r\n\r\n", false, nil},
		{"tab in name", "X-A\t: b\r\n\r\n", false, nil},
		{"non-token name", "X(A): b\r\n\r\n", false, nil},
		{"control byte in value", "X-A: b\x01c\r\n\r\n", false, nil},
		{"DEL in value", "X-A: b\x7f\r\n\r\n", false, nil},
		{"bare CR in value", "X-A: b\rc\r\n\r\n", false, nil},
		{"CR line", "X-A: b\r\n\rX-B: c\r\n\r\n", false, nil},
		{"CR CR LF", "X-A: b\r\r\n\r\n", false, nil},
		{"no empty line", "X-A: b\r\n", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, ok := parseFields(tc.in)
			if ok != tc.ok || ok && !reflect.DeepEqual(h, tc.want) {
				t.Errorf("%q: got %q %v, want %q %v", tc.in, h, ok, tc.want, tc.ok)
			}
			checkLikeTextproto(t, tc.in)
		})
	}
}

// A Header is sized once: by its lines, and past a few dozen lines
// without the continuation lines, which a head of folds has many of.
func TestParseFieldsCapacity(t *testing.T) {
	var many, folds strings.Builder
	for i := range 40 {
		fmt.Fprintf(&many, "X-%d: %d\r\n", i, i)
	}
	folds.WriteString("X-A: a\r\n")
	for range 4000 {
		folds.WriteString(" b\r\n")
	}
	for _, tc := range []struct {
		in        string
		len, caps int
	}{
		{"X-A: 1\r\nX-B: 2\r\n\r\n", 2, 2},
		{"X-A: 1\r\n 2\r\nX-B: 3\r\n\r\n", 2, 3}, // a few folds: a field too many
		{many.String() + "\r\n", 40, 40},
		{folds.String() + "\r\n", 1, 1},
	} {
		h, ok := parseFields(tc.in)
		if !ok || len(h) != tc.len || cap(h) != tc.caps {
			t.Errorf("%.40q: %d fields, capacity %d, ok %v; want %d, %d", tc.in, len(h), cap(h), ok, tc.len, tc.caps)
		}
		checkLikeTextproto(t, tc.in)
	}
}

func TestHeaderLookup(t *testing.T) {
	h := Header{{"content-TYPE", "a"}, {"X A", "b"}, {"Content-Type", "c"}, {"X-@", "d"}}
	if h.Get("Content-Type") != "a" || !reflect.DeepEqual(h.Values("CONTENT-type"), []string{"a", "c"}) {
		t.Errorf("case-insensitive lookup: %q %q", h.Get("Content-Type"), h.Values("CONTENT-type"))
	}
	if h.Get("X-A") != "" || h.Get("X-`") != "" || h.Values("Missing") != nil || Header(nil).Get("a") != "" {
		t.Error("lookup matched a different name")
	}
}

func TestFraming(t *testing.T) {
	for _, tc := range []struct {
		fields string
		f      frame
		n      int64
		ok     bool
	}{
		{"", fNone, 0, true},
		{"Content-Length: 12\r\n", fLength, 12, true},
		{"Content-Length: 0\r\n", fLength, 0, true},
		{"content-length: 3, 3\r\nContent-Length: 3\r\n", fLength, 3, true},
		{"Content-Length: 3\r\nContent-Length: 4\r\n", fNone, 0, false},
		{"Content-Length: 3,4\r\n", fNone, 0, false},
		{"Content-Length: 3,\r\n", fNone, 0, false},
		{"Content-Length:\r\n", fNone, 0, false},
		{"Content-Length: +3\r\n", fNone, 0, false},
		{"Content-Length: 1234567890123456789\r\n", fNone, 0, false},
		{"Content-Length: 123456789012345678\r\n", fLength, 123456789012345678, true},
		{"Content-Length: 7\xc2\xa0\r\n", fLength, 7, true}, // strings.TrimSpace, as before
		{"Transfer-Encoding: chunked\r\n", fChunked, 0, true},
		{"Transfer-Encoding: gzip, CHUNKED \r\nContent-Length: 3\r\n", fChunked, 0, true},
		{"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", fOtherTE, 0, true},
		{"Transfer-Encoding: gzip\r\ntransfer-encoding: chunked\r\n", fChunked, 0, true},
		{"Transfer-Encoding: chunked,\r\n", fOtherTE, 0, true},
		{"Transfer-Encoding:\r\nContent-Length: 3\r\n", fOtherTE, 0, true},
		{"Transfer-Encoding : chunked\r\nContent-Length: 3\r\n", fLength, 3, true}, // a name with a space is no Transfer-Encoding
	} {
		s := tc.fields + "\r\n"
		h, ok := parseFields(s)
		if !ok {
			t.Fatalf("%q: not parsed", s)
		}
		if f, n, ok := framing(h); f != tc.f || n != tc.n || ok != tc.ok {
			t.Errorf("%q: framing %v %d %v, want %v %d %v", s, f, n, ok, tc.f, tc.n, tc.ok)
		}
		checkLikeTextproto(t, s)
	}
}

// FuzzFields checks parseFields and framing against net/textproto and the
// framing over http.Header they replaced.
func FuzzFields(f *testing.F) {
	for _, s := range []string{
		"Host: a\r\nContent-Length: 5\r\n\r\n",
		"X-A: b\r\n  c \r\n\td\r\nX-B: e\r\n\r\n",
		"X-A: b\r\n \t \r\n\r\n",
		"Transfer-Encoding: gzip, chunked\r\ncontent-length: 3, 3\r\n\r\n",
		"X A: b\r\nX-A : c\r\n\n",
		" X: y\r\n\r\n",
		"X: a\rb\r\n\r\n",
		"X: \xc3\xa9\x7f\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkLikeTextproto(t, fieldSection(s))
	})
}
