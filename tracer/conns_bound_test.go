package tracer

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"

	"github.com/rustscope/rustscope/bpf"
)

// TestConnTableBounded feeds 1,000,000 synthetic connection events through
// the connection table: whole exchanges on fds the way the kernel reuses
// them, connections whose close was lost after half a request line, on fds
// spread over the whole range (so nothing reuses them), and data on
// connections whose open was lost. The table never holds more than
// maxConns, its counter agrees, every whole exchange still becomes a span,
// and what stays idle for connIdle is freed.
func TestConnTableBounded(t *testing.T) {
	var spans int
	var c Counters
	a := newAssembler(&clock{}, &c, func(uint32) *Target { return nil }, func(Span) { spans++ })
	var ev event
	// Records are built once and given their fd and time in place, as the
	// ring reader's buffer is reused.
	recs := map[string][]byte{
		"open":  openRec(0, roleServer, 0),
		"req":   dataRec(0, 0, 0, 0, "GET /users/1 HTTP/1.1\r\nHost: a\r\n\r\n", 0),
		"resp":  dataRec(0, 1, 0, 0, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", 0),
		"close": closeRec(0, 0),
		"half":  dataRec(0, 0, 0, 0, "GET /users/1 HT", 0),
		"head":  dataRec(0, 0, 0, 0, "GET /users/2 HTTP/1.1\r\nHost: a\r\n", 0),
	}
	feed := func(kind string, fd int32, ts uint64) {
		r := unsafe.Pointer(&recs[kind][0])
		switch kind {
		case "open":
			(*bpf.WireOpenEvent)(r).Fd = fd
		case "close":
			(*bpf.WireCloseEvent)(r).Fd = fd
		default:
			(*bpf.WireDataEvent)(r).Fd = fd
		}
		(*bpf.WireEventHead)(r).Ts = ts
		if err := decodeEvent(recs[kind], &ev); err != nil {
			t.Fatal(err)
		}
		a.handle(&ev)
	}
	rng := rand.New(rand.NewPCG(10, 1_000_000))
	const events = 1_000_000
	ts, whole, most := uint64(1), 0, 0
	for n := 0; n < events; {
		ts += 1000
		switch k := rng.IntN(8); {
		case k < 5:
			fd := int32(3 + rng.IntN(1000))
			feed("open", fd, ts)
			feed("req", fd, ts+1)
			feed("resp", fd, ts+2)
			feed("close", fd, ts+3)
			n, whole = n+4, whole+1
		case k < 7:
			fd := int32(2000 + rng.IntN(1<<30))
			feed("open", fd, ts)
			feed("half", fd, ts+1)
			n += 2
		default:
			feed("head", int32(2000+rng.IntN(1<<30)), ts)
			n++
		}
		if len(a.conns) > maxConns {
			t.Fatalf("after %d events the table holds %d connections, more than %d", n, len(a.conns), maxConns)
		}
		if got := c.Conns.Load(); got != int64(len(a.conns)) {
			t.Fatalf("after %d events Counters.Conns = %d, the table holds %d", n, got, len(a.conns))
		}
		most = max(most, len(a.conns))
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("%d events: at most %d connections tracked, %d now, heap %.1f MiB; %d spans", events, most, len(a.conns), float64(ms.HeapAlloc)/(1<<20), spans)
	if most < maxConns*3/4 {
		t.Errorf("the table never came near its bound (%d of %d): the test did not test it", most, maxConns)
	}
	if spans != whole {
		t.Errorf("%d spans for %d whole exchanges", spans, whole)
	}
	a.expire(ts + uint64(connIdle) + 1)
	if len(a.conns) != 0 || c.Conns.Load() != 0 {
		t.Errorf("%d connections (counter %d) left after %v idle", len(a.conns), c.Conns.Load(), connIdle)
	}
}
