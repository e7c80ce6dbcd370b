package http1

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"reflect"
	"strconv"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/rustscope/rustscope/tracer/flow"
)

// encode builds a FuzzConn input: per capture a control byte (bit 0
// direction, bits 1-2 truncation mode, bits 3-7 truncation amount), a length
// byte and the data.
func encode(steps ...step) []byte {
	var b []byte
	for _, s := range steps {
		ctl := byte(s.dir)
		if extra := s.size - len(s.data); extra > 0 {
			ctl |= 1<<1 | byte(min(extra, 31))<<3 // approximate: small truncation
			if s.data == "" {
				ctl |= 3 << 1
			}
		}
		for d := []byte(s.data); ; {
			n := min(len(d), 255)
			b = append(b, ctl, byte(n))
			b = append(b, d[:n]...)
			if d = d[n:]; len(d) == 0 {
				break
			}
		}
	}
	return b
}

func FuzzConn(f *testing.F) {
	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"
	chunkedReq := "POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n"
	seeds := [][]step{
		{in(get), out(ok5)},
		{in("POST /p HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789"), out(chunked)},
		{out(get), in(ok5), out("HEAD / HTTP/1.1\r\n\r\n"), in("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n")},
		{in("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"), out(ok0 + ok5), out("HTTP/1.0 200 OK\r\n\r\nabc")},
		{in("PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"), out("HTTP/1.1 100 Continue\r\n\r\n"), in("3\r\nabc\r\n0\r\n\r\n"), out("HTTP/1.1 204 No Content\r\n\r\n")},
		{in(h2), out(tls)},
		{in(chunkedReq + chunkedReq + get), out(chunked + chunked), out(chunked)},
		{out(chunkedReq), trunc(flow.Egress, "", 3), in(chunked[:50]), trunc(flow.Ingress, chunked[50:60], 200), out(get + get), in(ok5 + "HTTP/1.1 101 Switching Protocols\r\n\r\n")},
		{in(get), trunc(flow.Egress, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nab", 900), trunc(flow.Egress, "", 100), in(get), out("HTTP/1.1 304 Not Modified\r\n\r\n")},
	}
	for _, s := range seeds {
		for _, role := range []flow.Role{flow.RoleUnknown, flow.RoleServer, flow.RoleClient} {
			f.Add(uint8(role), encode(s...))
		}
	}
	f.Add(uint8(flow.RoleServer), append(encode(in(get)), 0x05, 0x10, 'H', 'T', 'T', 'P', '/', '1', '.', '1', ' ', '2', '0', '0', '\r', '\n', '\r', '\n'))
	f.Fuzz(func(t *testing.T, role uint8, input []byte) {
		c := NewConn(flow.Role(role % 4))
		var total uint64
		ts := uint64(0)
		check := func(exs []Exchange) {
			for _, e := range exs {
				total++
				if e.Request == nil || e.Response == nil || e.Request.BodySize < 0 || e.Response.BodySize < 0 ||
					e.RequestStart > e.RequestEnd || e.ResponseStart > e.ResponseEnd || e.RequestEnd > ts || e.ResponseEnd > ts {
					t.Fatalf("bad exchange %+v", e)
				}
			}
			if len(c.queue) > maxPending {
				t.Fatalf("queue %d", len(c.queue))
			}
			for i := range c.halves {
				if h := &c.halves[i]; len(h.buf) > maxHead || cap(h.buf) > 2*maxHead {
					t.Fatalf("buffer %d/%d", len(h.buf), cap(h.buf))
				}
			}
		}
		for len(input) >= 2 {
			ctl, n := input[0], int(input[1])
			input = input[2:]
			n = min(n, len(input))
			data := input[:n]
			input = input[n:]
			size := len(data)
			switch amt := int(ctl >> 3); ctl >> 1 & 3 {
			case 1:
				size += amt
			case 2:
				size += amt << 12
			case 3: // lost event: nothing captured
				data, size = nil, size+amt
			}
			ts++
			check(c.Feed(flow.Direction(ctl&1), data, size, ts))
		}
		check(c.Close(ts + 1))
		if st := c.Stats(); st.Exchanges != total {
			t.Fatalf("stats %+v, returned %d", st, total)
		}
	})
}

// FuzzSplit checks that how the streams are cut into captures does not
// matter when nothing is lost or malformed.
func FuzzSplit(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\n\r\nPOST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nA: b\r\n\r\n"),
		[]byte(ok5+"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n"), []byte{1, 7, 3, 200, 5})
	f.Add([]byte("POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\nPUT /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a=b\r\nx\r\n0\r\n\r\n"),
		[]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nT: 1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"), []byte{0, 0, 9, 13, 40})
	f.Add([]byte("HEAD / HTTP/1.1\r\n\r\n\r\nGET / HTTP/1.0\n\n"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nHTTP/1.0 200 OK\n\nbody"), []byte{2})
	f.Fuzz(func(t *testing.T, reqs, resps, cuts []byte) {
		feed := func(cut bool) (*Conn, []string) {
			c := NewConn(flow.RoleServer)
			var got []string
			k, ts := 0, uint64(0)
			for _, s := range []struct {
				dir  flow.Direction
				data []byte
			}{{flow.Ingress, reqs}, {flow.Egress, resps}} {
				for d := s.data; len(d) > 0; {
					n := len(d)
					if cut && k < len(cuts) {
						n = min(n, int(cuts[k])+1)
						k++
					}
					ts++
					for _, e := range c.Feed(s.dir, d[:n], n, ts) {
						got = append(got, describe(e))
					}
					d = d[n:]
				}
			}
			for _, e := range c.Close(ts) {
				got = append(got, describe(e))
			}
			return c, got
		}
		whole, want := feed(false)
		if st := whole.Stats(); st.ParseErrors > 0 || st.Resyncs > 0 {
			return
		}
		split, got := feed(true)
		if !reflect.DeepEqual(got, want) || split.Stats() != whole.Stats() {
			t.Fatalf("split changed result:\n%q\n%+v\nwhole:\n%q\n%+v", got, split.Stats(), want, whole.Stats())
		}
	})
}

func describe(e Exchange) string {
	return fmt.Sprintf("%+v %+v %v", *e.Request, *e.Response, e.Truncated)
}

// FuzzRoundTrip writes pipelined exchanges with net/http's own writers
// (Request.Write, Response.Write: Content-Length and chunked bodies with
// trailers, HEAD, 204 and 304, interim 100 Continue, a close-delimited
// last response) from fuzzed methods, targets and header values, cuts
// both directions into captures at fuzzed places, and checks that every
// exchange comes out as written.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{3, 1, 10, 0, 2, 7, 1, 3, 200, 9}, "users/7", "v")
	f.Add([]byte{6, 5, 0, 1, 1, 255, 4, 3, 2, 1, 0, 3, 3, 8}, "a b?c=d&e", "x\ty")
	f.Add([]byte{1, 4, 100, 1, 40, 1, 0}, "", "")
	f.Fuzz(func(t *testing.T, input []byte, path, value string) {
		p := prog(input)
		if !httpguts.ValidHeaderFieldValue(value) {
			value = "invalid"
		}
		value = textproto.TrimString(value) // what a header field holds: no surrounding whitespace
		type wantX struct {
			method, target, value, trailer string
			status                         int
			reqBody, respBody              int64
		}
		n := 1 + p.next()%6
		var reqs, resps bytes.Buffer
		var wants []wantX
		for i := range n {
			method := []string{"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"}[p.next()%7]
			u := &url.URL{Scheme: "http", Host: "h", Path: "/" + path + strconv.Itoa(i), RawQuery: url.QueryEscape(value)}
			req, _ := http.NewRequest(method, u.String(), nil)
			req.Header.Set("X-V", value)
			w := wantX{method: method, target: req.URL.RequestURI(), value: value}
			if size := p.next() * p.next(); size > 0 || p.bit() {
				w.reqBody = int64(size)
				req.Body = io.NopCloser(bytes.NewReader(make([]byte, size)))
				req.ContentLength = int64(size)
				if size > 0 && p.bit() { // chunked, with a trailer (net/http sends an empty body with a length)
					req.ContentLength, w.trailer = -1, "t"+strconv.Itoa(i)
					req.Trailer = http.Header{"X-T": {w.trailer}}
				}
			}
			if err := req.Write(&reqs); err != nil {
				t.Fatal(err)
			}
			if p.bit() {
				resps.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			}
			w.status = []int{200, 201, 204, 301, 304, 404, 500, 503}[p.next()%8]
			resp := &http.Response{StatusCode: w.status, ProtoMajor: 1, ProtoMinor: 1, Request: req, Header: http.Header{}}
			size := p.next() * p.next()
			switch {
			case w.status == 204 || w.status == 304:
			case p.bit():
				resp.TransferEncoding = []string{"chunked"}
				resp.ContentLength = -1
				resp.Body = io.NopCloser(bytes.NewReader(make([]byte, size)))
			case i == n-1 && p.bit(): // delimited by the connection's close
				resp.ContentLength = -1
				resp.Close = true
				resp.Body = io.NopCloser(bytes.NewReader(make([]byte, size)))
			default:
				resp.ContentLength = int64(size)
				resp.Body = io.NopCloser(bytes.NewReader(make([]byte, size)))
			}
			if resp.Body != nil && method != "HEAD" {
				w.respBody = int64(size)
			}
			if err := resp.Write(&resps); err != nil {
				t.Fatal(err)
			}
			wants = append(wants, w)
		}

		c := NewConn(flow.RoleServer)
		var got []Exchange
		ts := uint64(0)
		for _, d := range []struct {
			dir flow.Direction
			b   []byte
		}{{flow.Ingress, reqs.Bytes()}, {flow.Egress, resps.Bytes()}} {
			for b := d.b; len(b) > 0; {
				k := len(b)
				if cut := p.next(); cut > 0 {
					k = min(k, cut*cut/4+1)
				}
				ts++
				got = append(got, c.Feed(d.dir, b[:k], k, ts)...)
				b = b[k:]
			}
		}
		got = append(got, c.Close(ts+1)...)
		if len(got) != n || c.Stats() != (Stats{Exchanges: uint64(n)}) {
			t.Fatalf("%d exchanges of %d, stats %+v\nrequests:\n%q\nresponses:\n%q", len(got), n, c.Stats(), reqs.String(), resps.String())
		}
		for i, e := range got {
			g := wantX{method: e.Request.Method, target: e.Request.Target, value: e.Request.Header.Get("X-V"), status: e.Response.StatusCode,
				reqBody: e.Request.BodySize, respBody: e.Response.BodySize}
			if e.Request.Trailer != nil {
				g.trailer = e.Request.Trailer.Get("X-T")
			}
			if g != wants[i] || e.Truncated || e.Request.Host != "h" || e.RequestStart > e.RequestEnd || e.ResponseStart > e.ResponseEnd {
				t.Fatalf("exchange %d:\n got %+v\nwant %+v\n%+v", i, g, wants[i], e)
			}
		}
	})
}

// prog hands out the bytes of a fuzz input as small numbers, zero once
// they run out (zero asks for the simplest: no body, no cut).
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
