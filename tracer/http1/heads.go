// Heads: a message's start line and header fields, parsed once the whole
// head is captured, then the exchange it starts or answers.

package http1

import "bytes"

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
	// A head that one capture holds whole is parsed where it lies: only
	// one split across captures is copied into buf.
	b := data[:n]
	if old > 0 {
		h.buf = append(h.buf, b...)
		b = h.buf
	}
	if !h.lineOK {
		part := b[old:]
		i := bytes.IndexByte(part, '\n')
		if i >= 0 {
			part = part[:i]
		}
		if !printable(part) {
			c.fail(h)
			return len(data)
		}
		if i >= 0 {
			line := trimCR(b[:old+i])
			if h.isReq && !validRequestLine(line) || !h.isReq && !validStatusLine(line) {
				c.fail(h)
				return len(data)
			}
			h.lineOK = true
		}
	}
	end := headEnd(b, max(0, old-3))
	if end < 0 {
		if len(b) >= maxHead {
			c.fail(h)
			return len(data)
		}
		if old == 0 {
			h.buf = append(h.buf, b...)
		}
		return n
	}
	h.last = ts
	// One string per head: the start line's parts and every field are
	// substrings of it.
	line, fields, _ := cutLine(string(b[:end]))
	hdr, ok := parseFields(fields)
	if cap(h.buf) > 8<<10 {
		h.buf = nil // don't keep a large buffer on an idle connection
	} else {
		h.buf = h.buf[:0]
	}
	if !ok {
		c.fail(h)
		return len(data)
	}
	h.body, h.trunc, h.trailer = 0, false, nil
	if h.isReq {
		c.startRequest(h, line, hdr)
	} else {
		c.startResponse(h, line, hdr)
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
			hdr, ok := parseFields(string(h.buf))
			if !ok {
				c.fail(h)
				return n
			}
			h.trailer = hdr
		}
		c.finish(h)
	}
	return n
}

func (c *Conn) startRequest(h *half, line string, hdr Header) {
	method, target, proto, _ := parseRequestLine(line)
	f, length, ok := framing(hdr)
	if !ok || f == fOtherTE { // a request must be length-delimited (RFC 9112 §6.3)
		c.fail(h)
		return
	}
	if len(c.queue) >= maxPending {
		c.drop(c.queue[0])
	}
	p := &pending{reqStart: h.start, reqMsg: Request{Method: method, Target: target, Proto: proto, Host: hdr.Get("Host"), Header: hdr}}
	p.req = &p.reqMsg
	c.queue = append(c.queue, p)
	h.p, h.req = p, p.req
	switch {
	case f == fChunked:
		h.st = stChunkSize
	case length > 0:
		h.st, h.remain = stBody, length
	default:
		c.finish(h)
	}
}

func (c *Conn) startResponse(h *half, line string, hdr Header) {
	proto, code, _ := parseStatusLine(line)
	if code < 200 && code != 101 {
		return // interim (100 Continue, 103 Early Hints): the final response follows
	}
	var p *pending
	for _, q := range c.queue {
		if q.resp == nil {
			p = q
			break
		}
	}
	var resp *Response
	method := ""
	if p != nil {
		resp = &p.respMsg
		p.resp, p.respStart, method = resp, h.start, p.req.Method
	} else {
		resp = new(Response) // framed to stay in sync, then dropped
	}
	*resp = Response{Proto: proto, StatusCode: code, Header: hdr}
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
