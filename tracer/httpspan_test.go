package tracer

import (
	"net"
	"strconv"
	"testing"
	"unsafe"
)

// httpSpan sizes a span's attributes once: whatever the exchange, the
// slice has no room to spare and was never grown.
func TestHTTPSpanAttrsSized(t *testing.T) {
	req := "GET /users/7?a=1&b HTTP/1.1\r\nHost: api:8080\r\nUser-Agent: t/1\r\n\r\n"
	for _, tc := range []struct {
		name string
		recs [][]byte
	}{
		{"server", [][]byte{openRec(7, roleServer, 1), dataRec(7, 0, 0, 10, req, 0), dataRec(7, 1, 0, 20, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0)}},
		{"server error, truncated, no open", [][]byte{dataRec(7, 0, 0, 10, "POST / HTTP/1.1\r\n\r\n", 0), dataRec(7, 1, 0, 20, "HTTP/1.1 503 No\r\nContent-Length: 9\r\n\r\n", 100)}},
		{"client", [][]byte{openRec(9, roleClient, 1), dataRec(9, 1, 0, 10, req, 0), dataRec(9, 0, 0, 20, "HTTP/1.1 404 No\r\nContent-Length: 0\r\n\r\n", 0)}},
	} {
		spans, _ := runRecords(t, tc.recs...)
		if len(spans) != 1 {
			t.Fatalf("%s: %d spans", tc.name, len(spans))
		}
		if a := spans[0].Attrs; len(a) != cap(a) {
			t.Errorf("%s: %d attributes in room for %d", tc.name, len(a), cap(a))
		}
	}
}

// clientURL writes in one allocation what this concatenation did.
func TestClientURL(t *testing.T) {
	for _, tc := range []struct {
		host        string
		port        int
		path, query string
	}{
		{"svc", 9000, "/api", "key=tok&x"},
		{"::1", 80, "/", ""},
		{"2001:db8::1", 65535, "/a/b", "=v&&k="},
		{"", 0, "", "a"},
	} {
		want := "http://" + net.JoinHostPort(tc.host, strconv.Itoa(tc.port)) + tc.path + redactQuery(tc.query)
		if got := clientURL("http", tc.host, tc.port, tc.path, tc.query); got != want {
			t.Errorf("clientURL(%q, %d, %q, %q) = %q, want %q", tc.host, tc.port, tc.path, tc.query, got, want)
		}
	}
}

// keep gives each string a copy of its own, all in one allocation.
func TestKeep(t *testing.T) {
	head := "GET /p HTTP/1.1\r\nUser-Agent: ua\r\n\r\n"
	method, path, ua, empty := head[:3], head[4:6], head[29:31], ""
	keep(&method, &path, &empty, &ua)
	if method != "GET" || path != "/p" || ua != "ua" || empty != "" {
		t.Fatalf("keep changed the strings: %q %q %q %q", method, path, ua, empty)
	}
	h, m := unsafe.StringData(head), unsafe.StringData(method)
	if uintptr(unsafe.Pointer(m))-uintptr(unsafe.Pointer(h)) < uintptr(len(head)) {
		t.Error("kept strings still point into the head")
	}
	if unsafe.Pointer(unsafe.StringData(path)) != unsafe.Add(unsafe.Pointer(m), 3) || unsafe.Pointer(unsafe.StringData(ua)) != unsafe.Add(unsafe.Pointer(m), 5) {
		t.Error("kept strings are not one allocation")
	}
}
