package http2

import (
	"strconv"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rustscope/rustscope/tracer/flow"
)

// prog hands out the bytes of a fuzz input as small numbers, zero once
// they run out (zero always asks for the simplest: no cut, no padding).
type prog []byte

func (p *prog) next() int {
	if len(*p) == 0 {
		return 0
	}
	b := (*p)[0]
	*p = (*p)[1:]
	return int(b)
}

func (p *prog) bit() bool { return p.next()&1 == 1 }

// want is what one stream was encoded with.
type want struct {
	method, path, value string
	status              int
	grpcStatus          string // "" when no trailers were sent
	reqBody, respBody   int64  // DATA payload bytes, padding included
}

// FuzzRoundTrip encodes a conversation of up to eight streams as real
// endpoints would (one HPACK encoder per direction with its dynamic
// table, table size updates, sensitive fields, header blocks split into
// CONTINUATION frames, padded DATA frames, interim responses, trailers,
// responses in any order), cuts each direction into capture records at
// fuzzed places with DATA payloads captured or only counted, and feeds
// it: every stream must come out exactly as it was encoded.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{3, 0, 10, 0, 1, 7, 200, 3, 1, 9}, "/demo.v1.Users/GetUser", "v")
	f.Add([]byte{8, 1, 255, 3, 0, 40, 7, 7, 7, 1, 1, 1, 0, 255, 2, 100, 1}, "/", "")
	f.Add([]byte{1, 2, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1}, "/a?b=c", "\x00\xff")
	f.Fuzz(func(t *testing.T, input []byte, path, value string) {
		p := prog(input)
		n := 1 + p.next()%8
		cl, sv := newPeer(true), newPeer(false)
		wants := map[uint32]*want{}
		var sids []uint32
		body := func(w *peer, sid uint32, size int, end bool) int64 {
			var sent int64
			for size > 0 {
				k := min(size, 16384) // a frame as large as allowed, unless the input says smaller
				if c := p.next(); c > 0 {
					k = min(k, c*64)
				}
				pad := []byte(nil)
				if p.bit() {
					pad = make([]byte, p.next())
				}
				w.fr.WriteDataPadded(sid, end && k == size, make([]byte, k), pad)
				sent += int64(k)
				if pad != nil {
					sent += int64(1 + len(pad))
				}
				size -= k
			}
			return sent
		}
		for i := range n {
			sid := uint32(1 + 2*i)
			sids = append(sids, sid)
			w := &want{method: []string{"GET", "POST", "PUT", "DELETE"}[p.next()%4], path: path + strconv.Itoa(i), value: value}
			wants[sid] = w
			if p.bit() {
				cl.enc.SetMaxDynamicTableSize(uint32(p.next() * 16))
			}
			size := p.next() * p.next()
			cl.hb.Reset()
			for _, f := range [][2]string{{":method", w.method}, {":scheme", "http"}, {":path", w.path}, {":authority", "h"}, {"x-v", w.value}} {
				cl.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1], Sensitive: p.bit()})
			}
			writeBlock(cl, sid, size == 0, p.next())
			if size > 0 {
				w.reqBody = body(cl, sid, size, true)
			}
		}
		// Responses, in an order of the input's choosing.
		for i := len(sids) - 1; i > 0; i-- {
			j := p.next() % (i + 1)
			sids[i], sids[j] = sids[j], sids[i]
		}
		for _, sid := range sids {
			w := wants[sid]
			w.status = 200 + p.next()%400
			if p.bit() {
				sv.hb.Reset()
				sv.enc.WriteField(hpack.HeaderField{Name: ":status", Value: "100"})
				writeBlock(sv, sid, false, 0)
			}
			size, trailers := p.next()*p.next(), p.bit()
			sv.hb.Reset()
			sv.enc.WriteField(hpack.HeaderField{Name: ":status", Value: strconv.Itoa(w.status)})
			writeBlock(sv, sid, size == 0 && !trailers, p.next())
			if size > 0 {
				w.respBody = body(sv, sid, size, !trailers)
			}
			if trailers {
				w.grpcStatus = strconv.Itoa(p.next() % 17)
				sv.hb.Reset()
				sv.enc.WriteField(hpack.HeaderField{Name: "grpc-status", Value: w.grpcStatus})
				writeBlock(sv, sid, true, p.next())
			}
		}

		c := NewConn(flow.RoleUnknown)
		got := map[uint32]Stream{}
		ts := uint64(0)
		for _, d := range []struct {
			dir   flow.Direction
			bytes []byte
		}{{flow.Ingress, cl.buf.Bytes()}, {flow.Egress, sv.buf.Bytes()}} {
			for _, r := range records(&p, d.bytes, d.dir == flow.Ingress) {
				ts++
				for _, s := range c.Feed(d.dir, r.data, r.size, ts) {
					if _, dup := got[s.ID]; dup {
						t.Fatalf("stream %d twice", s.ID)
					}
					got[s.ID] = s
				}
			}
		}
		if st := c.Stats(); st != (Stats{Streams: uint64(n)}) || c.Role() != flow.RoleServer {
			t.Fatalf("stats %+v, role %v; want %d streams", st, c.Role(), n)
		}
		for sid, w := range wants {
			s, ok := got[sid]
			if !ok {
				t.Fatalf("stream %d missing", sid)
			}
			g := want{method: s.Request.Method, path: s.Request.Path, value: s.Request.Header.Get("x-v"), status: s.Response.Status,
				grpcStatus: s.Response.Trailer.Get("grpc-status"), reqBody: s.Request.BodySize, respBody: s.Response.BodySize}
			if g != *w || !s.Request.Known || !s.Response.Known || s.Reset || s.Request.Scheme != "http" || s.Request.Authority != "h" ||
				s.RequestStart > s.RequestEnd || s.ResponseStart > s.ResponseEnd || s.RequestStart > s.ResponseStart {
				t.Fatalf("stream %d:\n got %+v\nwant %+v\n%+v", sid, g, *w, s)
			}
		}
	})
}

// writeBlock writes the header block in w.hb for sid: one HEADERS frame,
// or HEADERS and CONTINUATION frames of frag bytes when frag is smaller.
func writeBlock(w *peer, sid uint32, end bool, frag int) {
	block := w.hb.Bytes()
	if frag == 0 || frag >= len(block) {
		w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: block, EndStream: end, EndHeaders: true})
		return
	}
	w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: block[:frag], EndStream: end})
	for block = block[frag:]; len(block) > frag; block = block[frag:] {
		w.fr.WriteContinuation(sid, false, block[:frag])
	}
	w.fr.WriteContinuation(sid, true, block)
}

// records cuts one direction's bytes into capture records as the BPF
// program may: captured bytes cut anywhere, and DATA payloads either
// captured or only counted (alone, or after a record's captured bytes).
func records(p *prog, b []byte, preface bool) []chunk {
	type seg struct {
		b    []byte
		data bool // a DATA payload: may go uncaptured
	}
	var segs []seg
	pos := 0
	if preface {
		segs, pos = append(segs, seg{b[:len(Preface)], false}), len(Preface)
	}
	for pos < len(b) {
		l := int(b[pos])<<16 | int(b[pos+1])<<8 | int(b[pos+2])
		if http2.FrameType(b[pos+3]) == http2.FrameData {
			segs = append(segs, seg{b[pos : pos+9], false}, seg{b[pos+9 : pos+9+l], true})
		} else {
			segs = append(segs, seg{b[pos : pos+9+l], false})
		}
		pos += 9 + l
	}
	var out []chunk
	for _, s := range segs {
		if s.data && len(s.b) > 0 && p.bit() {
			if last := len(out) - 1; last >= 0 && out[last].size == len(out[last].data) && p.bit() {
				out[last].size += len(s.b) // counted after the record's captured bytes
			} else {
				out = append(out, chunk{nil, len(s.b)})
			}
			continue
		}
		for rest := s.b; len(rest) > 0; {
			k := len(rest) // in one record, unless the input cuts it
			if c := p.next(); c > 0 {
				k = min(k, c*c/8+1)
			}
			out = append(out, chunk{rest[:k], k})
			rest = rest[k:]
		}
	}
	return out
}
