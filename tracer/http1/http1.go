// Package http1 reassembles HTTP/1.x request/response exchanges from the
// per-syscall captures of one TCP connection.
//
// Captures come from BPF syscall tracepoints: each one holds the bytes a
// single read/write-like syscall moved, in order per connection, but possibly
// truncated (large bodies are not copied) or missing (lost events). The parser
// therefore only needs the bytes of message heads and chunk-size lines; body
// bytes are skipped by count, so truncated bodies still yield exact sizes.
// When framing information itself is lost, the affected direction resyncs at
// the next capture that starts a message, which is where writes of HTTP/1
// messages usually begin.
package http1

import (
	"bytes"

	"github.com/rustscope/rustscope/tracer/flow"
)

const (
	maxHead    = 64 << 10 // bound for a buffered head, chunk-size line or trailer section
	maxPending = 64       // bound for requests awaiting their response
)

// Request is a parsed request head plus the framed body size.
type Request struct {
	Method, Target, Proto string // Target as on the wire ("/users/7?x=1")
	Host                  string // Host header
	Header                Header
	Trailer               Header // chunked trailer fields, nil if none
	BodySize              int64  // content-length or sum of chunk sizes actually framed
}

// Response is a parsed final response head plus the framed body size.
type Response struct {
	Proto      string
	StatusCode int
	Header     Header
	Trailer    Header // chunked trailer fields, nil if none
	BodySize   int64
}

// Exchange is a request paired with its final response. Times are the
// monotonic timestamps of the captures holding the first and last byte of
// each message.
type Exchange struct {
	Request                                              *Request
	Response                                             *Response
	RequestStart, RequestEnd, ResponseStart, ResponseEnd uint64
	Truncated                                            bool // some body bytes were not captured
}

// Stats counts what did not become an exchange, to spot lossy or non-HTTP connections.
type Stats struct {
	Exchanges   uint64 // exchanges returned
	ParseErrors uint64 // malformed or oversized heads, chunk lines, trailers
	Dropped     uint64 // requests never answered and responses without request
	Resyncs     uint64 // times a direction lost sync (parse error or lost bytes)
}

// pending is one request slot; responses are assigned FIFO (pipelining).
// It holds the request and response that req and resp point to, so that
// an exchange is one allocation, not three.
type pending struct {
	req                                  *Request
	resp                                 *Response
	reqStart, reqEnd, respStart, respEnd uint64
	reqDone, respDone, trunc, dropped    bool
	reqMsg                               Request
	respMsg                              Response
}

type state uint8

const (
	stResync    state = iota // discard until a capture starts with a message start
	stHead                   // accumulating a head in buf
	stBody                   // Content-Length body, remain bytes left
	stChunkSize              // chunk-size line in buf
	stChunkData              // remain bytes of chunk data left
	stChunkEnd               // CRLF after chunk data
	stTrailer                // trailer section in buf, current line at lineAt
	stEOF                    // response body delimited by connection close
)

// half is the parser of one direction.
type half struct {
	isReq  bool
	st     state
	buf    []byte
	lineOK bool // first line of the buffered head already validated
	lineAt int

	// message in progress; p is nil for a response without request, which
	// is still framed to stay in sync.
	p           *pending
	req         *Request
	resp        *Response
	trailer     Header
	remain      int64
	body        int64
	trunc       bool
	start, last uint64
}

// Conn reassembles the exchanges of one connection. It is not safe for
// concurrent use; memory per Conn is bounded by maxHead per direction and
// maxPending queued requests.
type Conn struct {
	role   flow.Role
	halves [2]half // indexed by flow.Direction
	queue  []*pending
	out    []Exchange
	stats  Stats
	closed bool
}

// NewConn returns a parser for a connection. A known role means the
// connection was seen from its start, so both directions begin at a message
// boundary; with flow.RoleUnknown both directions wait for a recognisable start.
func NewConn(role flow.Role) *Conn {
	c := &Conn{}
	if role == flow.RoleServer || role == flow.RoleClient {
		c.setRole(role)
		c.halves[flow.Ingress].st, c.halves[flow.Egress].st = stHead, stHead
	}
	return c
}

func (c *Conn) setRole(r flow.Role) {
	c.role = r
	c.halves[flow.Ingress].isReq = r == flow.RoleServer
	c.halves[flow.Egress].isReq = r == flow.RoleClient
}

// Role returns the configured or (once a request was seen) inferred role.
func (c *Conn) Role() flow.Role { return c.role }

// Stats returns the connection's counters.
func (c *Conn) Stats() Stats { return c.stats }

// Feed consumes one capture: data are the captured bytes and size the number
// of bytes the syscall moved (size > len(data): the rest is unknown). It
// returns the exchanges completed by this capture, in order.
func (c *Conn) Feed(dir flow.Direction, data []byte, size int, ts uint64) []Exchange {
	if c.closed || dir > flow.Egress {
		return nil
	}
	unknown := int64(size) - int64(len(data))
	if unknown < 0 {
		unknown = 0
	}
	if c.role == flow.RoleUnknown {
		// Only a request line tells which side is the server.
		if !looksLikeRequest(data) {
			return nil
		}
		r := flow.RoleServer
		if dir == flow.Egress {
			r = flow.RoleClient
		}
		c.setRole(r)
	}
	c.halves[dir].feed(c, data, unknown, ts)
	out := c.out
	c.out = nil
	return out
}

// Close flushes at connection close: a close-delimited response completes;
// requests still unanswered are dropped. Timestamps still come from the
// captures, so ts is not needed for them.
func (c *Conn) Close(ts uint64) []Exchange {
	if c.closed {
		return nil
	}
	c.closed = true
	for i := range c.halves {
		if h := &c.halves[i]; h.st == stEOF {
			c.finish(h)
		}
	}
	for _, p := range c.queue {
		p.dropped = true
		c.stats.Dropped++
	}
	c.queue = nil
	out := c.out
	c.out = nil
	return out
}

func (h *half) feed(c *Conn, data []byte, unknown int64, ts uint64) {
	if h.st == stResync {
		if h.isReq && !looksLikeRequest(data) || !h.isReq && !bytes.HasPrefix(data, []byte("HTTP/1.")) {
			return
		}
		h.st = stHead
	}
	for len(data) > 0 && h.st != stResync {
		data = data[h.step(c, data, ts):]
	}
	if unknown > 0 {
		h.skip(c, unknown, ts)
	}
}

// step consumes a prefix of data (at least one byte unless it resyncs).
func (h *half) step(c *Conn, data []byte, ts uint64) int {
	switch h.st {
	case stHead:
		return h.head(c, data, ts)
	case stBody, stChunkData:
		n := min(h.remain, int64(len(data)))
		h.remain -= n
		h.body += n
		h.last = ts
		if h.remain == 0 {
			if h.st == stBody {
				c.finish(h)
			} else {
				h.st = stChunkEnd
			}
		}
		return int(n)
	case stEOF:
		h.body += int64(len(data))
		h.last = ts
		return len(data)
	default:
		return h.line(c, data, ts)
	}
}

// skip accounts for n bytes that the syscall moved but were not captured.
// Body bytes are skipped by count; anything else means framing was lost.
func (h *half) skip(c *Conn, n int64, ts uint64) {
	switch h.st {
	case stBody, stChunkData:
		k := min(h.remain, n)
		h.remain -= k
		h.body += k
		h.trunc = true
		h.last = ts
		switch {
		case h.remain > 0:
		case h.st == stChunkData && n == k:
			h.st = stChunkEnd
		case h.st == stChunkData: // the chunk's CRLF and the next size line are lost
			c.finish(h)
			c.resync(h)
		default: // Content-Length body complete; any rest starts an unseen message
			c.finish(h)
			if n > k {
				c.resync(h)
			}
		}
	case stEOF:
		h.body += n
		h.trunc = true
		h.last = ts
	case stChunkSize, stChunkEnd, stTrailer:
		h.trunc = true
		h.last = ts
		c.finish(h)
		c.resync(h)
	case stHead:
		c.resync(h)
	}
}

// Current returns the start of the oldest exchange not yet complete.
func (c *Conn) Current() (start uint64, ok bool) {
	if len(c.queue) == 0 {
		return 0, false
	}
	return c.queue[0].reqStart, true
}

// Awaiting returns the request whose head had been read at time at and
// whose response had not begun: the one a server was handling then, with
// its start. ok is false when there is none, or several (pipelined
// requests: which one was being handled is not known).
func (c *Conn) Awaiting(at uint64) (req *Request, start uint64, ok bool) {
	var found *pending
	for _, p := range c.queue {
		if p.reqStart > at || p.resp != nil && p.respStart <= at {
			continue
		}
		if found != nil {
			return nil, 0, false
		}
		found = p
	}
	if found == nil {
		return nil, 0, false
	}
	return found.req, found.reqStart, true
}

// finish completes the message in progress and emits what became complete.
func (c *Conn) finish(h *half) {
	p := h.p
	switch {
	case h.req != nil:
		h.req.BodySize, h.req.Trailer = h.body, h.trailer
		p.reqDone, p.reqEnd, p.trunc = true, h.last, p.trunc || h.trunc
	case h.resp != nil:
		h.resp.BodySize, h.resp.Trailer = h.body, h.trailer
		if p == nil {
			c.stats.Dropped++ // response to a request never seen
		} else {
			p.respDone, p.respEnd, p.trunc = true, h.last, p.trunc || h.trunc
		}
	}
	h.p, h.req, h.resp, h.trailer = nil, nil, nil, nil
	h.st, h.buf, h.lineAt = stHead, h.buf[:0], 0
	for len(c.queue) > 0 && c.queue[0].reqDone && c.queue[0].respDone {
		p := c.queue[0]
		c.queue = append(c.queue[:0], c.queue[1:]...)
		c.out = append(c.out, Exchange{
			Request: p.req, Response: p.resp,
			RequestStart: p.reqStart, RequestEnd: p.reqEnd,
			ResponseStart: p.respStart, ResponseEnd: p.respEnd,
			Truncated: p.trunc,
		})
		c.stats.Exchanges++
	}
}

func (c *Conn) fail(h *half) {
	c.stats.ParseErrors++
	c.resync(h)
}

// resync makes h wait for a capture that starts a message. When responses
// lose sync, the requests still waiting for one are dropped: their
// responses may be among the lost bytes, and pairing a later response with
// them would be worse than losing them.
func (c *Conn) resync(h *half) {
	c.stats.Resyncs++
	c.abort(h)
	if !h.isReq {
		for i := 0; i < len(c.queue); {
			if c.queue[i].resp == nil {
				c.drop(c.queue[i])
			} else {
				i++
			}
		}
	}
}

// abort discards h's message in progress and state.
func (c *Conn) abort(h *half) {
	if h.p != nil {
		c.drop(h.p)
	}
	*h = half{isReq: h.isReq}
}

func (c *Conn) drop(p *pending) {
	for i, q := range c.queue {
		if q == p {
			c.queue = append(c.queue[:i], c.queue[i+1:]...)
			p.dropped = true
			c.stats.Dropped++
			return
		}
	}
}
