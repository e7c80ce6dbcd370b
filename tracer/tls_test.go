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
	a := newAssembler(&clock{}, &c, func(uint32) *Target { return nil }, func(Span) {})
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

// FuzzTLS drives the TLS paths of the assembler (plaintext kept for keys
// not bound, bindings that replay it, responses held for their requests,
// keys that move, records late or out of order, connections closed and
// reopened) with sequences of records built from the input, 6 bytes each:
// nothing may panic, what is kept and held stays within its bounds, and
// the counters agree with the spans.
func FuzzTLS(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x01\x00\x00\x01\x01\x00\x02\x01\x00\x02\x00\x00\x03\x00\x00\x02\x01\x01\x04\x01\x00"))
	f.Add([]byte("\x02\x00\x00\x01\x05\x00\x02\x01\x01\x02\x06\x00\x03\x01\x01\x00\x00\x00\x03\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00"))
	f.Add([]byte("\x01\x00\x00\x00\x00\x09\x02\x00\x00\x07\x07\x00\x03\x00\x00\x00\x00\x00\x02\x01\x01\x08\x08\x01\x03\x01\x01\x00\x00\x00"))
	payloads := []string{
		"GET /a HTTP/1.1\r\nhost: h\r\n\r\n",
		"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
		"POST /b HTTP/1.1\r\nhost: h\r\ncontent-length: 4\r\n\r\nbody",
		"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 2\r\n\r\nno",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
		"\x00\x00\x00\x04\x00\x00\x00\x00\x00",
		"\x00\x00\x05\x01\x05\x00\x00\x00\x01\x82\x86\x84\x41\x01",
		"\x00\x00\x01\x01\x05\x00\x00\x00\x01\x88",
		"\x16\x03\x01\x00\x05hello",
		"garbage that is no protocol at all",
	}
	keys := []uint64{0x7f0000001000, 0x7f0000002000, 0x7f0000003000, 0x7f0000004000}
	f.Fuzz(func(t *testing.T, in []byte) {
		var c0 Counters
		var spans []Span
		asm := probedAssembler(&spans, &c0)
		var ev event
		seq := map[[2]int32]uint32{}
		ts := uint64(1000)
		for len(in) >= 6 {
			op, fd, dir, key, pl, step := in[0]%6, int32(7+in[1]%2), in[2]%2, keys[in[3]%4], payloads[int(in[4])%len(payloads)], in[5]
			in = in[6:]
			if step&0x80 != 0 {
				ts -= uint64(step & 0x7f) // late
			} else {
				ts += uint64(step) * 100_000_000 // up to 12.7 s: bounds by age
			}
			var r []byte
			s := seq[[2]int32{fd, int32(dir)}]
			switch op {
			case 0:
				r = openRec(fd, roleServer+in0(pl)%2, ts)
				delete(seq, [2]int32{fd, 0})
				delete(seq, [2]int32{fd, 1})
			case 1:
				r = cipherRec(fd, dir, s, ts, pl)
				seq[[2]int32{fd, int32(dir)}]++
			case 2:
				r = plainRec(-1, key, dir, 0, ts, pl)
			case 3:
				r = plainRec(fd, key, dir, s, ts, pl)
				seq[[2]int32{fd, int32(dir)}]++
			case 4:
				r = bindRec(key, dir, fd, []uint8{0, 16, 17, 24}[step%4], ts)
			case 5:
				r = closeRec(fd, ts)
			}
			if err := decodeEvent(r, &ev); err != nil {
				t.Fatalf("decode: %v", err)
			}
			asm.handle(&ev)
			asm.expireTLS(ts)
			w := &asm.tlsWait
			if len(w.keys) > tlsWaitKeys || len(w.order) != len(w.keys) {
				t.Fatalf("%d keys kept, %d in order", len(w.keys), len(w.order))
			}
			for k, p := range w.keys {
				if len(p.recs) > tlsWaitRecords || p.bytes > tlsWaitBytes || len(p.marks) > maxMarks {
					t.Fatalf("key %+v keeps %d records, %d bytes, %d marks", k, len(p.recs), p.bytes, len(p.marks))
				}
			}
			for k, c := range asm.conns {
				if len(c.tlsHeld) > tlsHoldRecords+tlsWaitRecords || c.tlsHeldBytes > tlsHoldBytes+tlsWaitBytes {
					t.Fatalf("connection %+v holds %d records, %d bytes", k, len(c.tlsHeld), c.tlsHeldBytes)
				}
			}
		}
		asm.unparkAll()
		if c0.Spans.Load() != uint64(len(spans)) || c0.Conns.Load() != int64(len(asm.conns)) {
			t.Fatalf("counters: %d spans, %d conns; emitted %d, tracking %d", c0.Spans.Load(), c0.Conns.Load(), len(spans), len(asm.conns))
		}
		for _, s := range spans {
			if k := s.Kind.String(); k != "server" && k != "client" {
				t.Fatalf("span %+v", s)
			}
		}
	})
}

// in0 is the first byte of s.
func in0(s string) uint8 { return s[0] }
