package tracer

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/rustscope/rustscope/bpf"
)

// BenchmarkAssembleExchange is rustscope's user-space cost of one HTTP/1.1
// request on a keep-alive connection: decoding its two ring records (as
// the BPF programs write them for the bench's load generator and the
// axum app), parsing both heads and building the server span.
func BenchmarkAssembleExchange(b *testing.B) {
	const n = 1024
	reqs := make([][]byte, n)
	resps := make([][]byte, n)
	for i := range n {
		reqs[i] = dataRec(7, 0, uint32(i), uint64(10*i+1), fmt.Sprintf("GET /users/%d HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n", i), 0)
		resps[i] = dataRec(7, 1, uint32(i), uint64(10*i+5), "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 24\r\ndate: Sat, 21 Nov 2026 22:00:00 GMT\r\n\r\n{\"id\":7,\"name\":\"user-7\"}", 0)
	}
	var c Counters
	spans := 0
	a := newAssembler(&clock{}, &c, func(uint32) *Target { return nil }, func(Span) { spans++ })
	var ev event
	if err := decodeEvent(openRec(7, roleServer, 0), &ev); err != nil {
		b.Fatal(err)
	}
	a.handle(&ev)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		// Sequence numbers run on across the loop: one long connection.
		for _, r := range [][]byte{reqs[i%n], resps[i%n]} {
			setSeq(r, uint32(i))
			if err := decodeEvent(r, &ev); err != nil {
				b.Fatal(err)
			}
			a.handle(&ev)
		}
	}
	b.StopTimer()
	if spans != b.N {
		b.Fatalf("%d spans from %d exchanges", spans, b.N)
	}
}

// setSeq rewrites a data record's sequence number in place.
func setSeq(raw []byte, seq uint32) {
	(*bpf.WireDataEvent)(unsafe.Pointer(&raw[0])).Seq = seq
}
