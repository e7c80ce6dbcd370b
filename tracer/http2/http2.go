// Package http2 reassembles HTTP/2 streams (h2c, gRPC) from the bytes one
// TCP connection carried, as the wire capture delivers them: per direction,
// captured bytes followed by counts of bytes that were not copied (DATA
// payloads, which are only counted).
//
// Frames are read with golang.org/x/net/http2's Framer and header blocks
// decoded with its hpack package, one decoder per direction, exactly as the
// receiving peer decodes them. A header block that cannot be decoded (the
// connection was opened before rustscope attached, so the HPACK dynamic
// table it refers to was never seen) leaves that stream's headers unknown
// and the direction's table untrusted from then on: nothing is guessed.
package http2

import (
	"bytes"
	"errors"
	"net/http"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rustscope/rustscope/tracer/flow"
)

// Preface is the client connection preface.
const Preface = http2.ClientPreface

const (
	frameHeaderLen = 9
	maxFrame       = 1 << 20 // largest non-DATA payload, and header block, buffered
	maxStreams     = 4096    // open streams kept per connection
	defaultTable   = 4096    // SETTINGS_HEADER_TABLE_SIZE until a peer says otherwise
)

// Message is one side of a stream: its header block and what followed.
type Message struct {
	Method, Path, Scheme, Authority string // request pseudo-headers
	Status                          int    // response :status
	Header                          http.Header
	Trailer                         http.Header
	BodySize                        int64 // DATA payload bytes (padding included when present)
	Known                           bool  // the header block was decoded
	TrailerUnknown                  bool  // a trailer block could not be decoded
	ended                           bool  // END_STREAM seen
}

// Stream is a finished request/response exchange on one stream.
type Stream struct {
	ID                         uint32
	Request, Response          Message
	RequestStart, RequestEnd   uint64
	ResponseStart, ResponseEnd uint64
	Reset                      bool   // ended by RST_STREAM
	ResetCode                  uint32 // its error code
}

// Stats count what did not become a stream.
type Stats struct {
	Streams   uint64
	Undecoded uint64 // header blocks whose HPACK state was unknown
	Dropped   uint64 // streams never completed (closed, evicted)
	Broken    uint64 // directions whose framing was lost
}

type half struct {
	frame     []byte // the frame being gathered: header, then a non-DATA payload
	rd        bytes.Reader
	fr        *http2.Framer // reads complete frames from rd
	fh        http2.FrameHeader
	inFrame   bool
	skip      uint32 // DATA payload bytes left
	dataEnd   bool   // END_STREAM of the DATA frame being skipped
	dataSid   uint32
	preface   int // preface bytes still to pass
	dec       *hpack.Decoder
	fields    []hpack.HeaderField
	block     []byte // header block fragments (HEADERS + CONTINUATION)
	blockSid  uint32
	blockEnd  bool // END_STREAM on the HEADERS that began the block
	untrusted bool // an HPACK error happened: the table may be wrong
	broken    bool // framing lost: bytes of frame headers were not captured
	started   bool // bytes were fed
	needStart bool // RequireStart: the first frame must begin a connection
}

// Conn is the HTTP/2 state of one connection.
type Conn struct {
	role    flow.Role
	halves  [2]*half
	streams map[uint32]*Stream
	order   []uint32 // stream ids in creation order, for eviction
	out     []Stream
	opened  []uint32 // streams the last Feed opened, in order
	stats   Stats
}

// NewConn returns a parser. role says which direction carries requests;
// RoleUnknown learns it from the preface or the first request headers.
func NewConn(role flow.Role) *Conn {
	c := &Conn{role: role, streams: map[uint32]*Stream{}}
	for i := range c.halves {
		h := &half{}
		h.dec = hpack.NewDecoder(defaultTable, func(f hpack.HeaderField) { h.fields = append(h.fields, f) })
		h.dec.SetMaxStringLength(64 << 10)
		h.fr = http2.NewFramer(nil, &h.rd)
		h.fr.SetMaxReadFrameSize(maxFrame)
		h.fr.AllowIllegalReads = true // CONTINUATION is assembled here, not by the Framer
		c.halves[i] = h
	}
	return c
}

// RequireStart says that dir's bytes should begin at the connection's
// start, which is not certain (TLS plaintext whose first reads may have
// been missed): unless its first frame is one every connection begins with
// (after the client's preface, a SETTINGS frame that is not an ACK), its
// HPACK table is untrusted from the start.
func (c *Conn) RequireStart(dir flow.Direction) {
	if dir <= flow.Egress && !c.halves[dir].started {
		c.halves[dir].needStart = true
	}
}

// Gap says that bytes of dir were lost: where frames begin is not known
// any more, nor what the HPACK table holds. The direction is given up.
func (c *Conn) Gap(dir flow.Direction) {
	if dir <= flow.Egress {
		c.halves[dir].untrusted = true
		c.breakHalf(c.halves[dir])
	}
}

// Opened lists the streams the last Feed opened (request headers seen,
// decoded or not), in the order the peer opened them.
func (c *Conn) Opened() []uint32 { return c.opened }

// Request returns the request of open stream sid, nil if none is open.
func (c *Conn) Request(sid uint32) *Message {
	if s := c.streams[sid]; s != nil {
		return &s.Request
	}
	return nil
}

// Role is the role as known now.
func (c *Conn) Role() flow.Role { return c.role }

// Stats returns the running counts.
func (c *Conn) Stats() Stats { return c.stats }

// ExpectPreface tells the parser that dir starts with the client preface
// (its first bytes are the preface, not frames). Feed notices the preface
// by itself when the direction's first bytes are it.
func (c *Conn) ExpectPreface(dir flow.Direction) {
	c.halves[dir].preface = len(Preface)
	if c.role == flow.RoleUnknown {
		if dir == flow.Ingress {
			c.role = flow.RoleServer
		} else {
			c.role = flow.RoleClient
		}
	}
}

// Feed processes one capture record of direction dir: data are the
// captured bytes, size the bytes the record accounts for (size-len(data)
// were not captured and follow data). It returns the streams that ended.
func (c *Conn) Feed(dir flow.Direction, data []byte, size int, ts uint64) []Stream {
	if dir > flow.Egress {
		return nil
	}
	c.out, c.opened = c.out[:0], c.opened[:0]
	h := c.halves[dir]
	if h.broken {
		return nil
	}
	if !h.started {
		h.started = true
		if len(data) > 0 && strings.HasPrefix(Preface, string(data[:min(len(data), len(Preface))])) {
			c.ExpectPreface(dir) // the client's first bytes
		}
	}
	c.feed(dir, h, data, ts)
	if gap := size - len(data); gap > 0 && !h.broken {
		c.skip(h, uint64(gap), ts, dir)
	}
	return c.out
}

func (c *Conn) feed(dir flow.Direction, h *half, p []byte, ts uint64) {
	for len(p) > 0 && !h.broken {
		if h.preface > 0 {
			n := min(h.preface, len(p))
			off := len(Preface) - h.preface
			if !bytes.Equal(p[:n], []byte(Preface[off:off+n])) {
				h.preface = 0 // not a preface after all: frames
				continue
			}
			h.preface -= n
			p = p[n:]
			continue
		}
		if h.skip > 0 {
			n := uint32(min(uint64(h.skip), uint64(len(p))))
			h.skip -= n
			p = p[n:]
			if h.skip == 0 {
				c.dataDone(dir, h, ts)
			}
			continue
		}
		if !h.inFrame {
			n := min(frameHeaderLen-len(h.frame), len(p))
			h.frame = append(h.frame, p[:n]...)
			p = p[n:]
			if len(h.frame) < frameHeaderLen {
				return
			}
			h.rd.Reset(h.frame)
			fh, err := http2.ReadFrameHeader(&h.rd)
			if err != nil || fh.Type > http2.FrameContinuation || fh.Length > maxFrame {
				c.breakHalf(h)
				return
			}
			h.fh, h.inFrame = fh, true
			if h.needStart {
				h.needStart = false
				if fh.Type != http2.FrameSettings || fh.Flags.Has(http2.FlagSettingsAck) {
					h.untrusted = true
				}
			}
			if fh.Type == http2.FrameData {
				h.frame = h.frame[:0]
				c.dataStart(dir, h, ts)
				continue
			}
			if fh.Length == 0 {
				c.frame(dir, h, ts)
			}
			continue
		}
		// a non-DATA payload
		want := frameHeaderLen + int(h.fh.Length)
		n := min(want-len(h.frame), len(p))
		h.frame = append(h.frame, p[:n]...)
		p = p[n:]
		if len(h.frame) == want {
			c.frame(dir, h, ts)
		}
	}
}

// skip accounts for n uncaptured bytes: they must lie inside a DATA
// payload; anywhere else the framing is lost.
func (c *Conn) skip(h *half, n uint64, ts uint64, dir flow.Direction) {
	if h.skip == 0 || n > uint64(h.skip) {
		c.breakHalf(h)
		return
	}
	h.skip -= uint32(n)
	if h.skip == 0 {
		c.dataDone(dir, h, ts)
	}
}

func (c *Conn) breakHalf(h *half) {
	if !h.broken {
		h.broken = true
		c.stats.Broken++
	}
}

// isRequest reports whether dir carries requests.
func (c *Conn) isRequest(dir flow.Direction) bool {
	return (c.role == flow.RoleServer) == (dir == flow.Ingress)
}

func (c *Conn) msg(s *Stream, dir flow.Direction) *Message {
	if c.isRequest(dir) {
		return &s.Request
	}
	return &s.Response
}

// dataStart begins a DATA frame: its payload is counted, not copied.
func (c *Conn) dataStart(dir flow.Direction, h *half, ts uint64) {
	fh := h.fh
	h.inFrame = false
	h.dataSid = fh.StreamID
	h.dataEnd = fh.Flags.Has(http2.FlagDataEndStream)
	if s := c.streams[fh.StreamID]; s != nil {
		c.msg(s, dir).BodySize += int64(fh.Length)
		c.touch(s, dir, ts)
	}
	h.skip = fh.Length
	if h.skip == 0 {
		c.dataDone(dir, h, ts)
	}
}

func (c *Conn) dataDone(dir flow.Direction, h *half, ts uint64) {
	if h.dataEnd {
		c.endStream(h.dataSid, dir, ts)
	}
	h.dataEnd = false
}

// touch records activity of dir on s.
func (c *Conn) touch(s *Stream, dir flow.Direction, ts uint64) {
	if c.isRequest(dir) {
		s.RequestEnd = ts
	} else {
		s.ResponseEnd = ts
	}
}

// frame handles a complete non-DATA frame.
func (c *Conn) frame(dir flow.Direction, h *half, ts uint64) {
	h.inFrame = false
	h.rd.Reset(h.frame)
	f, err := h.fr.ReadFrame() // copies the frame: h.frame is free again
	h.frame = h.frame[:0]
	if err != nil {
		var se http2.StreamError
		if errors.As(err, &se) {
			return // a malformed frame on one stream: the peer resets it
		}
		c.breakHalf(h)
		return
	}
	switch f := f.(type) {
	case *http2.HeadersFrame:
		h.block = append(h.block[:0], f.HeaderBlockFragment()...)
		h.blockSid = f.StreamID
		h.blockEnd = f.StreamEnded()
		if f.HeadersEnded() {
			c.headers(dir, h, ts)
		}
	case *http2.ContinuationFrame:
		if f.StreamID != h.blockSid {
			c.breakHalf(h)
			return
		}
		if len(h.block)+len(f.HeaderBlockFragment()) > maxFrame {
			// A block that never ends (a CONTINUATION flood): servers
			// refuse far smaller ones; give up before holding more.
			c.breakHalf(h)
			h.block = nil
			return
		}
		h.block = append(h.block, f.HeaderBlockFragment()...)
		if f.HeadersEnded() {
			c.headers(dir, h, ts)
		}
	case *http2.RSTStreamFrame:
		if s := c.streams[f.StreamID]; s != nil {
			s.Reset, s.ResetCode = true, uint32(f.ErrCode)
			c.touch(s, dir, ts)
			c.finish(s)
		}
	case *http2.SettingsFrame:
		// The sender's SETTINGS_HEADER_TABLE_SIZE bounds the table the
		// other direction's encoder may use.
		if v, ok := f.Value(http2.SettingHeaderTableSize); ok && !f.IsAck() {
			c.halves[1-dir].dec.SetAllowedMaxDynamicTableSize(v)
		}
	}
}

// headers decodes a complete header block and applies it to its stream.
func (c *Conn) headers(dir flow.Direction, h *half, ts uint64) {
	h.fields = h.fields[:0]
	known := !h.untrusted
	if _, err := h.dec.Write(h.block); err != nil {
		known = false
	} else if err := h.dec.Close(); err != nil {
		known = false
	}
	if !known {
		// The table this block refers to was never seen (or is now
		// wrong): decoding later blocks could give wrong values, and a
		// wrong method or path is worse than an unknown one.
		h.untrusted = true
		c.stats.Undecoded++
		h.fields = h.fields[:0]
	}
	sid, end := h.blockSid, h.blockEnd
	if c.role == flow.RoleUnknown {
		if !known || sid == 0 {
			return
		}
		c.learnRole(dir, h.fields)
		if c.role == flow.RoleUnknown {
			return
		}
	}
	s := c.streams[sid]
	if c.isRequest(dir) {
		if s == nil {
			s = c.open(sid, ts)
			s.Request = message(h.fields, known)
		} else {
			s.Request.Trailer = trailer(h.fields) // request trailers
			s.Request.TrailerUnknown = !known
		}
		s.RequestEnd = ts
	} else {
		if s == nil {
			return // a response to a request before attach, or a push
		}
		m := message(h.fields, known)
		switch {
		case s.ResponseStart == 0 && known && m.Status >= 100 && m.Status < 200:
			return // interim response
		case s.ResponseStart == 0:
			s.Response, s.ResponseStart = m, ts
		default:
			s.Response.Trailer = trailer(h.fields)
			s.Response.TrailerUnknown = !known
		}
		s.ResponseEnd = ts
	}
	if end {
		c.endStream(sid, dir, ts)
	}
}

// learnRole decides which direction carries requests from a decoded block.
func (c *Conn) learnRole(dir flow.Direction, fields []hpack.HeaderField) {
	for _, f := range fields {
		switch f.Name {
		case ":method":
			c.role = flow.RoleServer
			if dir == flow.Egress {
				c.role = flow.RoleClient
			}
			return
		case ":status":
			c.role = flow.RoleClient
			if dir == flow.Egress {
				c.role = flow.RoleServer
			}
			return
		}
	}
}
