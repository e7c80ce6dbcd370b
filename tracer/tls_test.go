package tracer

import "testing"

func TestStartsTLS(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    string
		want bool
	}{
		{"client hello, TLS 1.0 record version", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", true},
		{"application data, TLS 1.2/1.3", "\x17\x03\x03\x00\x45rest", true},
		{"alert", "\x15\x03\x03\x00\x02\x02\x28", true},
		{"change cipher spec", "\x14\x03\x03\x00\x01\x01", true},
		{"largest TLS 1.2 record", "\x17\x03\x03\x48\x00", true},
		{"too long for a record", "\x17\x03\x03\x48\x01", false},
		{"empty record", "\x17\x03\x03\x00\x00", false},
		{"unknown content type", "\x18\x03\x03\x00\x10", false},
		{"version 2.x", "\x16\x02\x00\x00\x10", false},
		{"short", "\x16\x03\x01\x02", false},
		{"HTTP/1 request", "GET / HTTP/1.1\r\n", false},
		{"HTTP/1 response", "HTTP/1.1 200 OK\r\n", false},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false},
		{"HTTP/2 SETTINGS frame", "\x00\x00\x12\x04\x00\x00\x00\x00\x00", false},
	} {
		if got := startsTLS([]byte(tc.b)); got != tc.want {
			t.Errorf("%s: startsTLS(%q) = %v, want %v", tc.name, tc.b, got, tc.want)
		}
	}
}

// A TLS connection gives no span and is counted; a plaintext one beside it
// is parsed as ever, and so is one whose body happens to begin like a
// record (only a direction's first capture can say TLS).
func TestAssemblerTLSConn(t *testing.T) {
	hello := "\x16\x03\x01\x00\x05hello"
	req := "POST /up HTTP/1.1\r\nhost: h\r\ncontent-length: 10\r\n\r\n"
	spans, c := runRecords(t,
		openRec(7, roleServer, 100),
		dataRec(7, 0, 0, 1000, hello, 0),
		dataRec(7, 1, 0, 2000, "\x16\x03\x03\x00\x04helo", 0),
		dataRec(7, 0, 1, 3000, "\x17\x03\x03\x00\x20GET / HTTP/1.1\r\nhost: h\r\n\r\n", 0),
		dataRec(7, 1, 1, 4000, "\x17\x03\x03\x00\x20HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 0),
		closeRec(7, 5000),
		openRec(8, roleServer, 6000),
		dataRec(8, 0, 0, 7000, req, 0),
		dataRec(8, 0, 1, 7100, "\x17\x03\x03\x00\x05abcde", 0),
		dataRec(8, 1, 0, 8000, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 0),
	)
	if len(spans) != 1 || attr(spans[0], "url.path") != "/up" || attr(spans[0], "http.request.body.size") != "10" {
		t.Fatalf("spans %+v, want the plaintext POST /up alone", spans)
	}
	if n := c.TLSConns.Load(); n != 1 {
		t.Errorf("%d TLS connections counted, want 1", n)
	}
}
