// Streams: opening, ending and finishing streams, and the messages their
// header blocks make.

package http2

import (
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rustscope/rustscope/tracer/flow"
)

func (c *Conn) open(sid uint32, ts uint64) *Stream {
	if len(c.streams) >= maxStreams {
		for len(c.order) > 0 {
			old := c.order[0]
			c.order = c.order[1:]
			if _, ok := c.streams[old]; ok {
				delete(c.streams, old)
				c.stats.Dropped++
				break
			}
		}
	}
	s := &Stream{ID: sid, RequestStart: ts, RequestEnd: ts}
	c.streams[sid] = s
	c.order = append(c.order, sid)
	c.opened = append(c.opened, sid)
	return s
}

// endStream handles END_STREAM from dir; a stream is over when both
// sides ended (or on RST_STREAM).
func (c *Conn) endStream(sid uint32, dir flow.Direction, ts uint64) {
	s := c.streams[sid]
	if s == nil {
		return
	}
	if c.isRequest(dir) {
		s.RequestEnd, s.Request.ended = ts, true
	} else {
		s.ResponseEnd, s.Response.ended = ts, true
	}
	if s.Request.ended && s.Response.ended {
		c.finish(s)
	}
}

func (c *Conn) finish(s *Stream) {
	delete(c.streams, s.ID)
	if len(c.order) > 0 && c.order[0] == s.ID {
		c.order = c.order[1:]
	}
	if len(c.order) > 2*maxStreams {
		c.compact()
	}
	c.stats.Streams++
	out := *s
	out.Request.ended, out.Response.ended = false, false
	c.out = append(c.out, out)
}

// compact drops ids of finished streams from order.
func (c *Conn) compact() {
	keep := c.order[:0]
	for _, id := range c.order {
		if _, ok := c.streams[id]; ok {
			keep = append(keep, id)
		}
	}
	c.order = keep
}

// Close ends the connection: streams still open were never answered.
func (c *Conn) Close(ts uint64) []Stream {
	c.stats.Dropped += uint64(len(c.streams))
	clear(c.streams)
	c.order = nil
	return nil
}

func message(fields []hpack.HeaderField, known bool) Message {
	m := Message{Known: known, Header: http.Header{}}
	for _, f := range fields {
		switch f.Name {
		case ":method":
			m.Method = f.Value
		case ":path":
			m.Path = f.Value
		case ":scheme":
			m.Scheme = f.Value
		case ":authority":
			m.Authority = f.Value
		case ":status":
			m.Status, _ = strconv.Atoi(f.Value)
		default:
			if !strings.HasPrefix(f.Name, ":") {
				m.Header.Add(f.Name, f.Value)
			}
		}
	}
	return m
}

func trailer(fields []hpack.HeaderField) http.Header {
	t := http.Header{}
	for _, f := range fields {
		t.Add(f.Name, f.Value)
	}
	return t
}

// ErrCodeName names an RST_STREAM or GOAWAY error code ("CANCEL").
func ErrCodeName(code uint32) string { return http2.ErrCode(code).String() }
