package tracer

import (
	"testing"

	"github.com/rustscope/rustscope/bpf"
)

// cipherRec is a TLS connection's record as the BPF programs send it.
func cipherRec(fd int32, dir uint8, seq uint32, ts uint64, data string) []byte {
	return dataRecord(bpf.WireDataEvent{Head: head(evData, ts, 0), Fd: fd, Dir: dir, Seq: seq, Size: uint32(len(data)), Tls: tlsCipher}, []byte(data))
}

// plainRec is TLS plaintext: of connection fd, or of key (fd -1).
func plainRec(fd int32, key uint64, dir uint8, seq uint32, ts uint64, data string) []byte {
	return dataRecord(bpf.WireDataEvent{Head: head(evData, ts, 0), Fd: fd, Dir: dir, Seq: seq, Size: uint32(len(data)), Tls: tlsPlain, TlsKey: key}, []byte(data))
}

func bindRec(key uint64, dir uint8, fd int32, overhead uint8, ts uint64) []byte {
	return record(bpf.WireTlsBindEvent{Head: head(evTLSBind, ts, 0), Key: key, Dir: dir, Fd: fd, Overhead: overhead}, nil)
}

// A TLS connection's records give no span and are counted; a plaintext
// connection beside it is parsed as ever.
func TestAssemblerTLSConn(t *testing.T) {
	req := "POST /up HTTP/1.1\r\nhost: h\r\ncontent-length: 10\r\n\r\n"
	spans, c := runRecords(t,
		openRec(7, roleServer, 100),
		cipherRec(7, 0, 0, 1000, "\x16\x03\x01\x00\x05hello"),
		cipherRec(7, 1, 0, 2000, "\x16\x03\x03\x00\x04helo"),
		cipherRec(7, 0, 1, 3000, "\x17\x03\x03\x00\x20GET / HTTP/1.1\r\nhost: h\r\n\r\n"),
		cipherRec(7, 1, 1, 4000, "\x17\x03\x03\x00\x20HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
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

// TLS plaintext: what came before its key was bound is fed to the
// connection first, in order, then what comes bound; the span says https
// and the version the binding's record overhead told.
func TestAssemblerTLSPlaintext(t *testing.T) {
	const rkey, wkey = 0x7f0000001000, 0x7f0000002000
	for _, tc := range []struct {
		name      string
		recs      [][]byte
		spans     int
		version   string
		unbound   uint64
		wantPaths []string
	}{
		{name: "read bound at once, write bound after its plaintext", recs: [][]byte{
			openRec(7, roleServer, 100),
			cipherRec(7, 0, 0, 1000, "\x16\x03\x01\x00\x05hello"),
			cipherRec(7, 1, 0, 2000, "\x16\x03\x03\x00\x04helo"),
			bindRec(rkey, 0, 7, 17, 2900),
			plainRec(7, rkey, 0, 1, 3000, "GET /a HTTP/1.1\r\nhost: h\r\n\r\n"),
			plainRec(-1, wkey, 1, 0, 4000, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
			bindRec(wkey, 1, 7, 17, 4100),
			cipherRec(7, 1, 1, 4100, "\x17\x03\x03\x00\x38......"), // the records that bound it
			plainRec(7, rkey, 0, 2, 5000, "GET /b HTTP/1.1\r\nhost: h\r\n\r\n"),
			plainRec(7, wkey, 1, 2, 6000, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
		}, spans: 2, version: "1.3", wantPaths: []string{"/a", "/b"}},
		{name: "both directions wait for their binding", recs: [][]byte{
			openRec(7, roleServer, 100),
			cipherRec(7, 0, 0, 1000, "\x16\x03\x01\x00\x05hello"),
			plainRec(-1, rkey, 0, 0, 3000, "GET /a HTTP/1.1\r\nhost: h\r\n\r\n"),
			plainRec(-1, wkey, 1, 0, 4000, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
			bindRec(wkey, 1, 7, 24, 4100),
			cipherRec(7, 1, 0, 4100, "\x17\x03\x03\x00\x38......"),
			plainRec(-1, rkey, 0, 0, 5000, "GET /b HTTP/1.1\r\nhost: h\r\n\r\n"),
			bindRec(rkey, 0, 7, 24, 5100),
			plainRec(7, wkey, 1, 1, 6000, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
		}, spans: 2, version: "1.2", wantPaths: []string{"/a", "/b"}},
		// The library's object moved between two reads of one socket
		// read's plaintext (hyper-util's version sniffing): both keys are
		// bound, the first first, so its bytes come first.
		{name: "a moved object's two keys", recs: [][]byte{
			openRec(7, roleServer, 100),
			cipherRec(7, 0, 0, 1000, "\x16\x03\x01\x00\x05hello"),
			cipherRec(7, 1, 0, 2000, "\x16\x03\x03\x00\x04helo"),
			plainRec(-1, rkey, 0, 0, 3000, "GET /a HT"),
			bindRec(rkey, 0, 7, 17, 3100),
			bindRec(rkey+8, 0, 7, 17, 3100),
			plainRec(7, rkey+8, 0, 1, 3100, "TP/1.1\r\nhost: h\r\n\r\n"),
			bindRec(wkey, 1, 7, 17, 4000),
			plainRec(7, wkey, 1, 1, 4000, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
		}, spans: 1, version: "1.3", wantPaths: []string{"/a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans, c := runRecords(t, tc.recs...)
			if len(spans) != tc.spans {
				t.Fatalf("%d spans %+v, want %d", len(spans), spans, tc.spans)
			}
			for i, s := range spans {
				if got := attr(s, "url.path"); got != tc.wantPaths[i] {
					t.Errorf("span %d: url.path %q, want %q", i, got, tc.wantPaths[i])
				}
				if got := attr(s, "url.scheme"); got != "https" {
					t.Errorf("span %d: url.scheme %q, want https", i, got)
				}
				if got := attr(s, "tls.protocol.version"); got != tc.version {
					t.Errorf("span %d: tls.protocol.version %q, want %q", i, got, tc.version)
				}
			}
			if n := c.TLSUnbound.Load(); n != tc.unbound {
				t.Errorf("%d unbound, want %d", n, tc.unbound)
			}
		})
	}
}

// Plaintext waiting for its binding is bounded: per key, and in time.
func TestAssemblerTLSWaitBounded(t *testing.T) {
	var recs [][]byte
	for i := range tlsWaitRecords + 4 {
		recs = append(recs, plainRec(-1, 0x1000, 0, 0, uint64(1000+i), "GET / HTTP/1.1\r\n\r\n"))
	}
	var c Counters
	a := newAssembler(clock{}, &c, func(uint32) *Target { return nil }, func(Span) {})
	var ev event
	for _, r := range recs {
		if err := decodeEvent(r, &ev); err != nil {
			t.Fatal(err)
		}
		a.handle(&ev)
	}
	if n := c.TLSUnbound.Load(); n != 4 {
		t.Errorf("%d over the bound, want 4", n)
	}
	a.expireTLS(1000 + tlsWaitAge + 100)
	if n := c.TLSUnbound.Load(); n != 4+tlsWaitRecords || len(a.tlsWait.keys[tlsKey{pid: 42, key: 0x1000}].recs) != 0 {
		t.Errorf("after expiry: %d unbound, want %d, and no record kept", n, 4+tlsWaitRecords)
	}
	a.expireTLS(1000 + tlsForget + 100)
	if len(a.tlsWait.keys) != 0 || len(a.tlsWait.order) != 0 {
		t.Errorf("%d keys remembered after %v, want none", len(a.tlsWait.keys), tlsForget)
	}
}
