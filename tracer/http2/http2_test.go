package http2

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rustscope/rustscope/tracer/flow"
)

// peer writes one side's frames as a real endpoint would.
type peer struct {
	buf bytes.Buffer
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer
}

func newPeer(client bool) *peer {
	p := &peer{}
	if client {
		p.buf.WriteString(Preface)
	}
	p.fr = http2.NewFramer(&p.buf, nil)
	p.enc = hpack.NewEncoder(&p.hb)
	p.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
	return p
}

// headers writes a header block, split into HEADERS + CONTINUATION frames
// of at most frag bytes when frag > 0.
func (p *peer) headers(sid uint32, end bool, frag int, kv ...string) {
	p.hb.Reset()
	for i := 0; i < len(kv); i += 2 {
		p.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	block := p.hb.Bytes()
	if frag <= 0 || frag >= len(block) {
		p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: block, EndStream: end, EndHeaders: true})
		return
	}
	p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: block[:frag], EndStream: end})
	block = block[frag:]
	for len(block) > frag {
		p.fr.WriteContinuation(sid, false, block[:frag])
		block = block[frag:]
	}
	p.fr.WriteContinuation(sid, true, block)
}

func (p *peer) data(sid uint32, n int, end bool) {
	for n > 16384 {
		p.fr.WriteData(sid, false, make([]byte, 16384))
		n -= 16384
	}
	p.fr.WriteData(sid, end, make([]byte, n))
}

// chunk is one capture record: captured bytes and the uncaptured count.
type chunk struct {
	data []byte
	size int
}

// captured cuts stream into records of at most step bytes, each capturing
// only its frame headers and non-DATA payloads as the BPF planner does
// (uncaptured: DATA payload bytes).
func captured(t *testing.T, stream []byte, preface bool, step int) []chunk {
	t.Helper()
	var out []chunk
	pos := 0
	if preface {
		out = append(out, chunk{stream[:len(Preface)], len(Preface)})
		pos = len(Preface)
	}
	for pos < len(stream) {
		l := int(stream[pos])<<16 | int(stream[pos+1])<<8 | int(stream[pos+2])
		typ := stream[pos+3]
		if typ == byte(http2.FrameData) {
			out = append(out, chunk{stream[pos : pos+9], 9 + l})
		} else {
			out = append(out, chunk{stream[pos : pos+9+l], 9 + l})
		}
		pos += 9 + l
	}
	// Re-split fully captured stretches at step to exercise partial frames.
	var split []chunk
	for _, c := range out {
		for len(c.data) > step && c.size == len(c.data) {
			split = append(split, chunk{c.data[:step], step})
			c = chunk{c.data[step:], c.size - step}
		}
		split = append(split, c)
	}
	return split
}

func feedAll(c *Conn, dir flow.Direction, chunks []chunk, ts uint64) []Stream {
	var out []Stream
	for _, ch := range chunks {
		out = append(out, c.Feed(dir, ch.data, ch.size, ts)...)
	}
	return out
}

func TestGRPCExchange(t *testing.T) {
	for _, step := range []int{1, 7, 100, 1 << 20} {
		cl, sv := newPeer(true), newPeer(false)
		// Stream 1: unary, OK. Stream 3: NOT_FOUND, trailers-only.
		// Stream 5: 1 MB request, headers split over CONTINUATION.
		cl.headers(1, false, 0, ":method", "POST", ":scheme", "http", ":path", "/demo.v1.Users/GetUser", ":authority", "127.0.0.1:50051", "content-type", "application/grpc", "te", "trailers")
		cl.data(1, 12, true)
		cl.headers(3, false, 0, ":method", "POST", ":scheme", "http", ":path", "/demo.v1.Users/GetUser", ":authority", "127.0.0.1:50051", "content-type", "application/grpc")
		cl.data(3, 10, true)
		cl.headers(5, false, 5, ":method", "POST", ":scheme", "http", ":path", "/demo.v1.Users/Echo", ":authority", "127.0.0.1:50051", "content-type", "application/grpc", "x-pad", string(bytes.Repeat([]byte("p"), 300)))
		cl.data(5, 1<<20+5, true)
		sv.headers(1, false, 0, ":status", "200", "content-type", "application/grpc")
		sv.data(1, 20, false)
		sv.headers(1, true, 0, "grpc-status", "0")
		sv.headers(3, true, 0, ":status", "200", "content-type", "application/grpc", "grpc-status", "5", "grpc-message", "no such user")
		sv.headers(5, false, 0, ":status", "200", "content-type", "application/grpc")
		sv.data(5, 1<<20+5, false)
		sv.headers(5, true, 0, "grpc-status", "0")

		c := NewConn(flow.RoleServer)
		c.ExpectPreface(flow.Ingress)
		var got []Stream
		got = append(got, feedAll(c, flow.Ingress, captured(t, cl.buf.Bytes(), true, step), 100)...)
		got = append(got, feedAll(c, flow.Egress, captured(t, sv.buf.Bytes(), false, step), 200)...)
		if len(got) != 3 {
			t.Fatalf("step %d: %d streams, want 3 (stats %+v)", step, len(got), c.Stats())
		}
		byID := map[uint32]Stream{}
		for _, s := range got {
			byID[s.ID] = s
		}
		for id, want := range map[uint32]struct {
			path, status string
			req, resp    int64
		}{1: {"/demo.v1.Users/GetUser", "0", 12, 20}, 3: {"/demo.v1.Users/GetUser", "5", 10, 0}, 5: {"/demo.v1.Users/Echo", "0", 1<<20 + 5, 1<<20 + 5}} {
			s := byID[id]
			status := s.Response.Trailer.Get("grpc-status")
			if status == "" {
				status = s.Response.Header.Get("grpc-status")
			}
			if s.Request.Method != "POST" || s.Request.Path != want.path || s.Response.Status != 200 || status != want.status ||
				s.Request.BodySize != want.req || s.Response.BodySize != want.resp || !s.Request.Known || !s.Response.Known {
				t.Errorf("step %d stream %d: %+v", step, id, s)
			}
			if s.RequestStart != 100 || s.ResponseEnd != 200 {
				t.Errorf("step %d stream %d: times %d..%d", step, id, s.RequestStart, s.ResponseEnd)
			}
		}
	}
}

// A connection first seen mid-way: its HPACK table is unknown. Blocks that
// use it are not decoded (and not guessed); streams still end.
func TestUnknownTable(t *testing.T) {
	cl, sv := newPeer(true), newPeer(false)
	cl.headers(1, true, 0, ":method", "GET", ":scheme", "http", ":path", "/a", ":authority", "h")
	sv.headers(1, true, 0, ":status", "200")
	start := cl.buf.Len()
	cl.headers(3, true, 0, ":method", "GET", ":scheme", "http", ":path", "/a", ":authority", "h") // indexed: the table holds them now
	c := NewConn(flow.RoleServer)
	got := feedAll(c, flow.Ingress, captured(t, cl.buf.Bytes()[start:], false, 1<<20), 1)
	sv2 := newPeer(false)
	sv2.headers(3, true, 0, ":status", "404")
	b := sv2.buf.Bytes()
	// skip the SETTINGS frame
	got = append(got, feedAll(c, flow.Egress, captured(t, b[9+6:], false, 1<<20), 2)...)
	if len(got) != 1 {
		t.Fatalf("%d streams (stats %+v)", len(got), c.Stats())
	}
	if got[0].Request.Known || got[0].Request.Method != "" || got[0].Request.Path != "" {
		t.Errorf("request decoded from an unknown table: %+v", got[0].Request)
	}
	if c.Stats().Undecoded == 0 {
		t.Error("undecoded block not counted")
	}
}

func TestResetAndLostFraming(t *testing.T) {
	cl := newPeer(true)
	cl.headers(1, false, 0, ":method", "POST", ":scheme", "http", ":path", "/x", ":authority", "h")
	cl.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	c := NewConn(flow.RoleServer)
	c.ExpectPreface(flow.Ingress)
	got := feedAll(c, flow.Ingress, captured(t, cl.buf.Bytes(), true, 1<<20), 5)
	if len(got) != 1 || !got[0].Reset || got[0].ResetCode != uint32(http2.ErrCodeCancel) {
		t.Fatalf("reset stream: %+v", got)
	}
	// Uncaptured bytes outside a DATA payload: the direction is lost.
	c.Feed(flow.Ingress, nil, 50, 6)
	if c.Stats().Broken != 1 {
		t.Errorf("lost framing not noticed: %+v", c.Stats())
	}
}

func FuzzFeed(f *testing.F) {
	cl := newPeer(true)
	cl.headers(1, false, 3, ":method", "POST", ":scheme", "http", ":path", "/demo.v1.Users/GetUser", ":authority", "h")
	cl.data(1, 40, true)
	f.Add(cl.buf.Bytes(), 5, 0)
	f.Add(append([]byte(Preface), 0, 0, 5, 9, 4, 0, 0, 0, 1, 0x82, 0x86, 0x84, 0x41, 0x01), 3, 0)
	// Arbitrary bytes, both ways, cut at step, some uncaptured: nothing may
	// panic, state stays bounded, and what comes out is well formed.
	f.Fuzz(func(t *testing.T, b []byte, step, gap int) {
		c := NewConn(flow.RoleUnknown)
		if bytes.HasPrefix(b, []byte(Preface)) {
			c.ExpectPreface(flow.Ingress)
		}
		if step <= 0 {
			step = 1
		}
		var n uint64
		check := func(sts []Stream) {
			for _, s := range sts {
				n++
				if s.ID == 0 || s.Request.BodySize < 0 || s.Response.BodySize < 0 || s.Request.Header == nil ||
					(s.Response.Known && s.Response.Header == nil) {
					t.Fatalf("bad stream %+v", s)
				}
			}
			if len(c.streams) > maxStreams || len(c.order) > 2*maxStreams+1 || len(c.opened) > len(c.streams)+len(sts) {
				t.Fatalf("%d streams, %d ids in order, %d opened", len(c.streams), len(c.order), len(c.opened))
			}
			for _, h := range c.halves {
				if len(h.block) > maxFrame || len(h.frame) > frameHeaderLen+maxFrame {
					t.Fatalf("header block %d, frame %d bytes", len(h.block), len(h.frame))
				}
			}
		}
		for len(b) > 0 {
			k := min(step, len(b))
			check(c.Feed(flow.Ingress, b[:k], k+gap%5000, 1))
			check(c.Feed(flow.Egress, b[:k], k, 2))
			b = b[k:]
		}
		open := uint64(len(c.streams))
		before := c.Stats()
		if out := c.Close(3); len(out) != 0 || len(c.streams) != 0 {
			t.Fatalf("close returned %d streams, kept %d", len(out), len(c.streams))
		}
		if st := c.Stats(); st.Streams != n || st.Dropped != before.Dropped+open {
			t.Fatalf("stats %+v (before close %+v, %d open); %d streams returned", st, before, open, n)
		}
	})
}

// TestContinuationFlood: a header block that never ends (HEADERS, then
// CONTINUATION frames without END_HEADERS) must not grow without bound;
// the direction is given up, as the peer gives up the connection.
func TestContinuationFlood(t *testing.T) {
	cl := newPeer(true)
	cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x82}})
	frag := bytes.Repeat([]byte{0x40, 0x01, 'x', 0x01, 'y'}, 3000)
	for range 2 * maxFrame / len(frag) {
		cl.fr.WriteContinuation(1, false, frag)
	}
	c := NewConn(flow.RoleServer)
	b := cl.buf.Bytes()
	for len(b) > 0 {
		n := min(len(b), 4096)
		c.Feed(flow.Ingress, b[:n], n, 1)
		b = b[n:]
		if h := c.halves[flow.Ingress]; len(h.block) > maxFrame || cap(h.frame) > 2*(frameHeaderLen+maxFrame) {
			t.Fatalf("header block %d bytes, frame buffer %d", len(h.block), cap(h.frame))
		}
	}
	if st := c.Stats(); st.Broken != 1 {
		t.Errorf("stats %+v: want the direction given up", st)
	}
}

// A direction that must begin at the connection's start trusts its HPACK
// table only when its first frame is a connection's first (SETTINGS, not
// an ACK); a gap gives the direction up.
func TestRequireStartAndGap(t *testing.T) {
	req := func(cl *peer, sid uint32) {
		cl.headers(sid, true, 0, ":method", "GET", ":scheme", "https", ":path", "/a", ":authority", "h")
	}
	for _, tc := range []struct {
		name    string
		from    func(cl *peer) int // where the fed bytes start
		gap     bool
		decoded bool
	}{
		{"from the preface", func(*peer) int { return 0 }, false, true},
		{"from the first SETTINGS", func(*peer) int { return len(Preface) }, false, true},
		{"mid-connection", func(cl *peer) int { return cl.buf.Len() }, false, false},
		{"after a gap", func(*peer) int { return 0 }, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := newPeer(true)
			start := tc.from(cl)
			req(cl, 1)
			c := NewConn(flow.RoleServer)
			c.RequireStart(flow.Ingress)
			b := cl.buf.Bytes()[start:]
			if tc.gap {
				c.Gap(flow.Ingress)
			}
			c.Feed(flow.Ingress, b, len(b), 1)
			r := c.Request(1)
			if got := r != nil && r.Known && r.Path == "/a"; got != tc.decoded {
				t.Errorf("request decoded %v (%+v), want %v", got, r, tc.decoded)
			}
		})
	}
}
