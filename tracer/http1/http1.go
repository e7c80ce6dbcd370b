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
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
)

// Direction of a capture relative to the traced process.
type Direction uint8

const (
	Ingress Direction = iota // read, recvfrom, readv
	Egress                   // write, sendto, writev
)

// Role of the traced process on the connection.
type Role uint8

const (
	RoleUnknown Role = iota // decided from the first request line seen
	RoleServer              // requests are Ingress
	RoleClient              // requests are Egress
)

const (
	maxHead    = 64 << 10 // bound for a buffered head, chunk-size line or trailer section
	maxPending = 64       // bound for requests awaiting their response
)

// Request is a parsed request head plus the framed body size.
type Request struct {
	Method, Target, Proto string // Target as on the wire ("/users/7?x=1")
	Host                  string // Host header
	Header                http.Header
	Trailer               http.Header // chunked trailer fields, nil if none
	BodySize              int64       // content-length or sum of chunk sizes actually framed
}

// Response is a parsed final response head plus the framed body size.
type Response struct {
	Proto      string
	StatusCode int
	Header     http.Header
	Trailer    http.Header // chunked trailer fields, nil if none
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
type pending struct {
	req                                  *Request
	resp                                 *Response
	reqStart, reqEnd, respStart, respEnd uint64
	reqDone, respDone, trunc, dropped    bool
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
	trailer     http.Header
	remain      int64
	body        int64
	trunc       bool
	start, last uint64
}

// Conn reassembles the exchanges of one connection. It is not safe for
// concurrent use; memory per Conn is bounded by maxHead per direction and
// maxPending queued requests.
type Conn struct {
	role   Role
	halves [2]half // indexed by Direction
	queue  []*pending
	out    []Exchange
	stats  Stats
	closed bool
}

// NewConn returns a parser for a connection. A known role means the
// connection was seen from its start, so both directions begin at a message
// boundary; with RoleUnknown both directions wait for a recognisable start.
func NewConn(role Role) *Conn {
	c := &Conn{}
	if role == RoleServer || role == RoleClient {
		c.setRole(role)
		c.halves[Ingress].st, c.halves[Egress].st = stHead, stHead
	}
	return c
}

func (c *Conn) setRole(r Role) {
	c.role = r
	c.halves[Ingress].isReq = r == RoleServer
	c.halves[Egress].isReq = r == RoleClient
}

// Role returns the configured or (once a request was seen) inferred role.
func (c *Conn) Role() Role { return c.role }

// Stats returns the connection's counters.
func (c *Conn) Stats() Stats { return c.stats }

// Feed consumes one capture: data are the captured bytes and size the number
// of bytes the syscall moved (size > len(data): the rest is unknown). It
// returns the exchanges completed by this capture, in order.
func (c *Conn) Feed(dir Direction, data []byte, size int, ts uint64) []Exchange {
	if c.closed || dir > Egress {
		return nil
	}
	unknown := int64(size) - int64(len(data))
	if unknown < 0 {
		unknown = 0
	}
	if c.role == RoleUnknown {
		// Only a request line tells which side is the server.
		if !looksLikeRequest(data) {
			return nil
		}
		r := RoleServer
		if dir == Egress {
			r = RoleClient
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

// head accumulates head bytes until the empty line, validating the first
// line early so that non-HTTP bytes are rejected without buffering 64 KiB.
func (h *half) head(c *Conn, data []byte, ts uint64) int {
	if len(h.buf) == 0 {
		// Empty lines before a message are allowed (RFC 9112 §2.2); some
		// clients send a CRLF after a body.
		n := 0
		for n < len(data) && (data[n] == '\r' || data[n] == '\n') {
			n++
		}
		if n > 0 {
			return n
		}
		h.start, h.lineOK = ts, false
	}
	old := len(h.buf)
	n := min(len(data), maxHead-old)
	h.buf = append(h.buf, data[:n]...)
	if !h.lineOK {
		part := h.buf[old:]
		i := bytes.IndexByte(part, '\n')
		if i >= 0 {
			part = part[:i]
		}
		if !printable(part) {
			c.fail(h)
			return len(data)
		}
		if i >= 0 {
			line := string(trimCR(h.buf[:old+i]))
			if h.isReq && !validRequestLine(line) || !h.isReq && !validStatusLine(line) {
				c.fail(h)
				return len(data)
			}
			h.lineOK = true
		}
	}
	end := headEnd(h.buf, max(0, old-3))
	if end < 0 {
		if len(h.buf) >= maxHead {
			c.fail(h)
			return len(data)
		}
		return n
	}
	h.last = ts
	line, mh, err := readHead(h.buf[:end], true)
	if cap(h.buf) > 8<<10 {
		h.buf = nil // don't keep a large buffer on an idle connection
	} else {
		h.buf = h.buf[:0]
	}
	if err != nil {
		c.fail(h)
		return len(data)
	}
	h.body, h.trunc, h.trailer = 0, false, nil
	if h.isReq {
		c.startRequest(h, line, http.Header(mh))
	} else {
		c.startResponse(h, line, http.Header(mh))
	}
	return end - old
}

// line handles the line-oriented parts of chunked framing.
func (h *half) line(c *Conn, data []byte, ts uint64) int {
	h.last = ts
	i := bytes.IndexByte(data, '\n')
	n := len(data)
	if i >= 0 {
		n = i + 1
	}
	if len(h.buf)+n > maxHead {
		c.fail(h)
		return len(data)
	}
	h.buf = append(h.buf, data[:n]...)
	if i < 0 {
		return n
	}
	line := trimCR(h.buf[h.lineAt : len(h.buf)-1])
	switch h.st {
	case stChunkSize:
		size, ok := parseChunkSize(line)
		if !ok {
			c.fail(h)
			return n
		}
		h.buf = h.buf[:0]
		if size == 0 {
			h.st, h.lineAt = stTrailer, 0
		} else {
			h.st, h.remain = stChunkData, size
		}
	case stChunkEnd:
		if len(line) != 0 {
			c.fail(h)
			return n
		}
		h.buf = h.buf[:0]
		h.st = stChunkSize
	case stTrailer:
		if len(line) > 0 {
			h.lineAt = len(h.buf)
			return n
		}
		if h.lineAt > 0 {
			_, mh, err := readHead(h.buf, false)
			if err != nil {
				c.fail(h)
				return n
			}
			h.trailer = http.Header(mh)
		}
		c.finish(h)
	}
	return n
}

// readers are reused across heads: a bufio.Reader per head was a tenth of
// rustscope's CPU at saturation (its 4 KB buffer, and the GC after it).
var readers = sync.Pool{New: func() any { return bufio.NewReader(nil) }}

// readHead parses a head (with its first line, or a trailer without)
// with net/textproto.
func readHead(b []byte, withLine bool) (line string, mh textproto.MIMEHeader, err error) {
	br := readers.Get().(*bufio.Reader)
	br.Reset(bytes.NewReader(b))
	defer func() {
		br.Reset(nil)
		readers.Put(br)
	}()
	tp := textproto.NewReader(br)
	if withLine {
		if line, err = tp.ReadLine(); err != nil {
			return "", nil, err
		}
	}
	mh, err = tp.ReadMIMEHeader()
	return line, mh, err
}

func (c *Conn) startRequest(h *half, line string, hdr http.Header) {
	method, target, proto, _ := parseRequestLine(line)
	f, length, ok := framing(hdr)
	if !ok || f == fOtherTE { // a request must be length-delimited (RFC 9112 §6.3)
		c.fail(h)
		return
	}
	req := &Request{Method: method, Target: target, Proto: proto, Host: hdr.Get("Host"), Header: hdr}
	if len(c.queue) >= maxPending {
		c.drop(c.queue[0])
	}
	p := &pending{req: req, reqStart: h.start}
	c.queue = append(c.queue, p)
	h.p, h.req = p, req
	switch {
	case f == fChunked:
		h.st = stChunkSize
	case length > 0:
		h.st, h.remain = stBody, length
	default:
		c.finish(h)
	}
}

func (c *Conn) startResponse(h *half, line string, hdr http.Header) {
	proto, code, _ := parseStatusLine(line)
	if code < 200 && code != 101 {
		return // interim (100 Continue, 103 Early Hints): the final response follows
	}
	resp := &Response{Proto: proto, StatusCode: code, Header: hdr}
	var p *pending
	for _, q := range c.queue {
		if q.resp == nil {
			p = q
			break
		}
	}
	method := ""
	if p != nil {
		p.resp, p.respStart, method = resp, h.start, p.req.Method
	}
	h.p, h.resp = p, resp
	if code == 101 || method == "CONNECT" && code/100 == 2 {
		// The connection leaves HTTP/1; only a capture that starts a
		// message again is parsed.
		c.finish(h)
		for i := range c.halves {
			c.abort(&c.halves[i])
		}
		return
	}
	f, length, ok := framing(hdr)
	switch {
	case !ok:
		c.fail(h)
	case method == "HEAD" || code == 204 || code == 304:
		c.finish(h)
	case f == fChunked:
		h.st = stChunkSize
	case f == fLength && length > 0:
		h.st, h.remain = stBody, length
	case f == fLength:
		c.finish(h)
	default:
		h.st = stEOF
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

type frame uint8

const (
	fNone    frame = iota // no length information
	fLength               // Content-Length
	fChunked              // Transfer-Encoding ending in chunked
	fOtherTE              // other transfer coding: length unknown
)

// framing reads the body framing from a head; ok is false for an invalid
// Content-Length, which makes the message length unknowable.
func framing(hdr http.Header) (f frame, length int64, ok bool) {
	if te := hdr.Values("Transfer-Encoding"); len(te) > 0 {
		all := strings.Join(te, ",")
		last := strings.TrimSpace(all[strings.LastIndexByte(all, ',')+1:])
		if strings.EqualFold(last, "chunked") {
			return fChunked, 0, true
		}
		return fOtherTE, 0, true
	}
	cl := hdr.Values("Content-Length")
	if len(cl) == 0 {
		return fNone, 0, true
	}
	length = -1
	for _, v := range strings.Split(strings.Join(cl, ","), ",") {
		v = strings.TrimSpace(v)
		if v == "" || len(v) > 18 {
			return fNone, 0, false
		}
		var n int64
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return fNone, 0, false
			}
			n = n*10 + int64(v[i]-'0')
		}
		if length >= 0 && n != length { // differing duplicates: RFC 9112 §6.3
			return fNone, 0, false
		}
		length = n
	}
	return fLength, length, true
}

func parseChunkSize(line []byte) (int64, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, b := range line {
		switch {
		case b >= '0' && b <= '9':
			b -= '0'
		case b >= 'a' && b <= 'f':
			b -= 'a' - 10
		case b >= 'A' && b <= 'F':
			b -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | int64(b)
	}
	return n, true
}

// headEnd returns the index just past the empty line ending a head, or -1.
func headEnd(b []byte, from int) int {
	for i := from; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 3
		}
	}
	return -1
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// printable rejects control bytes, which never occur in a head's first
// line but start TLS records and most binary protocols.
func printable(b []byte) bool {
	for _, x := range b {
		if x < 0x20 && x != '\t' && x != '\r' || x == 0x7f {
			return false
		}
	}
	return true
}

func isHTTP1(proto string) bool {
	return len(proto) == 8 && strings.HasPrefix(proto, "HTTP/1.") && proto[7] >= '0' && proto[7] <= '9'
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0) {
			return false
		}
	}
	return s != ""
}

// parseRequestLine splits "METHOD SP target SP HTTP/1.x".
func parseRequestLine(line string) (method, target, proto string, ok bool) {
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !isToken(method) || target == "" || !isHTTP1(proto) {
		return "", "", "", false
	}
	for i := 0; i < len(target); i++ {
		if target[i] <= ' ' || target[i] == 0x7f {
			return "", "", "", false
		}
	}
	return method, target, proto, true
}

func validRequestLine(line string) bool {
	_, _, _, ok := parseRequestLine(line)
	return ok
}

// parseStatusLine splits "HTTP/1.x SP 3DIGIT [SP reason]".
func parseStatusLine(line string) (proto string, code int, ok bool) {
	proto, rest, _ := strings.Cut(line, " ")
	if !isHTTP1(proto) || len(rest) < 3 || len(rest) > 3 && rest[3] != ' ' {
		return "", 0, false
	}
	for i := 0; i < 3; i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return "", 0, false
		}
		code = code*10 + int(rest[i]-'0')
	}
	return proto, code, code >= 100
}

func validStatusLine(line string) bool {
	_, _, ok := parseStatusLine(line)
	return ok
}

var knownMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// looksLikeRequest reports whether a capture starts with a request line.
// A head split inside its request line is accepted with a well-known method;
// the full line is still validated once it completes.
func looksLikeRequest(data []byte) bool {
	data = bytes.TrimLeft(data, "\r\n")
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i < maxHead && validRequestLine(string(trimCR(data[:i])))
	}
	m, _, found := bytes.Cut(data, []byte(" "))
	if !found || len(data) > maxHead || !printable(data) {
		return false
	}
	for _, k := range knownMethods {
		if string(m) == k {
			return true
		}
	}
	return false
}
