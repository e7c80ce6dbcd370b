//go:build linux

package e2e

// Hostile traffic over HTTP/2: random bytes, malformed frames and HPACK,
// and valid gRPC calls among them.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// random is a seeded source of random bytes.
type random struct{ *rand.Rand }

func newRandom(stream uint64) random {
	return random{rand.New(rand.NewPCG(hostileSeed, stream))}
}

func (r random) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// randomBytes sends random bytes, alone and after the start of each
// protocol, in one write and in many.
func (h *hostile) randomBytes() {
	r := newRandom(1)
	for i := range 24 {
		var prefix []byte
		switch i % 4 {
		case 1:
			prefix = []byte("GET / HTTP/1.1\r\n")
		case 2:
			prefix = []byte(http2.ClientPreface)
		case 3:
			prefix = append([]byte(http2.ClientPreface), frame(http2.FrameSettings, 0, 0, nil)...)
		}
		b := append(prefix, r.bytes(1+r.IntN(16<<10))...)
		if i%3 == 0 {
			h.send(10*time.Millisecond, b)
			continue
		}
		var parts [][]byte
		for len(b) > 0 {
			n := min(len(b), 1+r.IntN(3000))
			parts = append(parts, b[:n])
			b = b[n:]
		}
		h.send(5*time.Millisecond, parts...)
	}
}

// --- HTTP/2 -------------------------------------------------------------------

// frame is one HTTP/2 frame: its header says len(payload).
func frame(typ http2.FrameType, flags http2.Flags, sid uint32, payload []byte) []byte {
	return frameLen(typ, flags, sid, len(payload), payload)
}

// frameLen is a frame whose header says length, whatever follows.
func frameLen(typ http2.FrameType, flags http2.Flags, sid uint32, length int, payload []byte) []byte {
	b := []byte{byte(length >> 16), byte(length >> 8), byte(length), byte(typ), byte(flags), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[5:], sid)
	return append(b, payload...)
}

// hblock HPACK-encodes name, value pairs with a fresh table.
func hblock(kv ...string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for i := 0; i+1 < len(kv); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return b.Bytes()
}

func grpcHeaders(port int) []string {
	return []string{":method", "POST", ":scheme", "http", ":path", "/demo.v1.Users/GetUser", ":authority", "127.0.0.1:" + strconv.Itoa(port),
		"content-type", "application/grpc", "te", "trailers"}
}

// grpcBody is a GetUserRequest{id} as a gRPC message.
func grpcBody(id string) []byte {
	msg := append([]byte{0x0a, byte(len(id))}, id...)
	return append([]byte{0, 0, 0, 0, byte(len(msg))}, msg...)
}

// h2Request is the preface, SETTINGS and a GetUser(id) call on stream sid.
func h2Request(port int, id string, sid uint32) []byte {
	b := append([]byte(http2.ClientPreface), frame(http2.FrameSettings, 0, 0, nil)...)
	b = append(b, frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, sid, hblock(grpcHeaders(port)...))...)
	return append(b, frame(http2.FrameData, http2.FlagDataEndStream, sid, grpcBody(id))...)
}

// http2Garbage sends malformed HTTP/2 after a valid preface (and a bad
// preface), each on its own connection, and valid calls followed by
// garbage on the same connection.
func (h *hostile) http2Garbage() {
	pre := append([]byte(http2.ClientPreface), frame(http2.FrameSettings, 0, 0, nil)...)
	good := hblock(grpcHeaders(h.srv.port)...)
	body := grpcBody("7")
	var cont []byte // a CONTINUATION flood: a header block that never ends
	cont = append(cont, frame(http2.FrameHeaders, 0, 1, good)...)
	for i := range 2000 {
		cont = append(cont, frame(http2.FrameContinuation, 0, 1, hblock(fmt.Sprintf("x-flood-%d", i), strings.Repeat("f", 64)))...)
	}
	var conns [][][]byte
	for _, frames := range [][]byte{
		// bad lengths
		frameLen(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, 0xffffff, good),
		frameLen(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, 1000, good),
		frameLen(http2.FrameData, 0, 1, 1<<20, body),
		frame(http2.FrameSettings, 0, 0, []byte{0, 1, 0, 0, 0}),
		frame(http2.FramePing, 0, 0, []byte{1, 2, 3}),
		frame(http2.FrameWindowUpdate, 0, 0, []byte{0, 0}),
		frame(http2.FrameRSTStream, 0, 1, []byte{0, 0, 0}),
		frame(http2.FramePriority, 0, 1, []byte{0, 0, 0, 1}),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersPadded, 1, append([]byte{200}, good...)),
		// bad HPACK: indices past the tables, a huge dynamic-table-size
		// update, one after a field, a truncated literal, bad Huffman
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, []byte{0x80}),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, []byte{0xbe}),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, append([]byte{0x3f, 0xe1, 0xff, 0xff, 0xff, 0x07}, good...)),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, append(append([]byte{}, good...), 0x20)),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, append(append([]byte{}, good[:len(good)/2]...), 0x40, 0x7f, 'a')),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, []byte{0x40, 0x83, 0xff, 0xff, 0xff, 0x01, 'v'}),
		// CONTINUATION without HEADERS, on another stream, flooded
		frame(http2.FrameContinuation, http2.FlagContinuationEndHeaders, 1, good),
		append(frame(http2.FrameHeaders, 0, 1, good[:3]), frame(http2.FrameContinuation, http2.FlagContinuationEndHeaders, 3, good[3:])...),
		append(frame(http2.FrameHeaders, 0, 1, good[:3]), frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 3, good)...),
		cont,
		// streams that may not be opened
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 0, good),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 2, good),
		append(frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 5, good), frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 3, good)...),
		frame(http2.FrameData, http2.FlagDataEndStream, 9, body),
		// headers a server must refuse
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, hblock(":path", "/demo.v1.Users/GetUser")),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, hblock(append(grpcHeaders(h.srv.port), ":method", "GET")...)),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, hblock(append(grpcHeaders(h.srv.port), "Upper-Case", "x")...)),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, hblock(append(grpcHeaders(h.srv.port), "connection", "close")...)),
		frame(http2.FrameSettings, 0, 0, []byte{0, 1, 0xff, 0xff, 0xff, 0xff, 0, 4, 0xff, 0xff, 0xff, 0xff}),
		frame(99, 0, 1, []byte("unknown frame type")),
		// a valid call with garbage in the same write
		append(append(frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, good), frame(http2.FrameData, http2.FlagDataEndStream, 1, body)...), newRandom(7).bytes(500)...),
	} {
		conns = append(conns, [][]byte{pre, frames})
	}
	conns = append(conns,
		[][]byte{[]byte("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"), frame(http2.FrameSettings, 0, 0, nil)},
		[][]byte{[]byte(http2.ClientPreface[:10]), []byte("GET / HTTP/1.1\r\n\r\n")},
		[][]byte{[]byte("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")})
	h.sendAll(conns)
	if !h.grpc {
		return
	}
	// Valid calls, each answered, then garbage on the same connection.
	for i, garbage := range [][]byte{
		frame(http2.FrameContinuation, http2.FlagContinuationEndHeaders, 3, good),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 3, []byte{0xbe}),
		frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 3, []byte{0x3f, 0xe1, 0xff, 0xff, 0xff, 0x07}),
		frameLen(http2.FrameHeaders, 0, 3, 0xffffff, nil),
		newRandom(8).bytes(3000),
	} {
		id := strconv.Itoa(800 + i)
		c, ok := h.dial()
		if !ok {
			return
		}
		if _, err := c.Write(h2Request(h.srv.port, id, 1)); err != nil {
			h.fail(fmt.Errorf("gRPC call then garbage: %w", err))
		} else if h.h2Answer(c, id, true) {
			c.Write(garbage)
			drain(c, 300*time.Millisecond)
		}
		c.Close()
	}
}

// h2Answer reads the answer to the GetUser(id) call on stream 1 of c
// (sent with h2Request) and records its span key; it acknowledges the
// server's SETTINGS as a client must.
func (h *hostile) h2Answer(c net.Conn, id string, keepOpen bool) bool {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var status string
	var n int
	for done := false; !done; {
		f, err := fr.ReadFrame()
		if err != nil {
			h.fail(fmt.Errorf("GetUser(%s) over raw frames: %w", id, err))
			return false
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				fr.WritePing(true, f.Data)
			}
		case *http2.DataFrame:
			if f.StreamID == 1 {
				n += len(f.Data())
				done = f.StreamEnded()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == 1 {
				if v := f.PseudoValue("status"); v != "" && v != "200" {
					h.fail(fmt.Errorf("GetUser(%s) over raw frames: :status %s", id, v))
				}
				for _, hf := range f.RegularFields() {
					if hf.Name == "grpc-status" {
						status = hf.Value
					}
				}
				done = f.StreamEnded()
			}
		case *http2.RSTStreamFrame, *http2.GoAwayFrame:
			h.fail(fmt.Errorf("GetUser(%s) over raw frames: %v", id, f))
			return false
		}
	}
	c.SetDeadline(time.Time{})
	code, _ := strconv.Atoi(status)
	h.expectGRPC(localPort(c), id, code, n)
	return true
}

// expectGRPC records a GetUser(id) call that got code and a response body
// of respBody bytes.
func (h *hostile) expectGRPC(port int, id string, code, respBody int) {
	resp := strconv.Itoa(respBody)
	if code == 0 && respBody > 5 {
		resp = "some" // as grpcSpanKey has it
	}
	h.expect(port, "demo.v1.Users/GetUser", grpcKey("GetUser", code, len(grpcBody(id)), resp)+" "+strconv.Itoa(port))
}

// grpcValid makes gRPC calls over h2c connections (a few calls each,
// some concurrent) until done.
func (h *hostile) grpcValid(done <-chan struct{}) {
	untilDone(done, func() {
		tr := newH2CTransport(h)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { h.grpcCalls(tr, 6) })
		}
		wg.Wait()
		tr.CloseIdleConnections()
	})
}

// newH2CTransport is an HTTP/2 transport without TLS.
func newH2CTransport(h *hostile) *http2.Transport {
	return &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
}

// grpcCalls makes n GetUser calls over tr, cycling OK, NOT_FOUND and
// INTERNAL, and records their span keys.
func (h *hostile) grpcCalls(tr *http2.Transport, n int) {
	for i := range n {
		id := []string{strconv.Itoa(i + 1), "notfound", "fail"}[i%3]
		want := []int{0, 5, 13}[i%3]
		port, code, size, err := grpcCall(tr, h.srv.base, id)
		if err == nil && code != want {
			err = fmt.Errorf("grpc-status %d, want %d", code, want)
		}
		if err != nil {
			h.fail(fmt.Errorf("GetUser(%s) over h2c: %w", id, err))
			continue
		}
		h.expectGRPC(port, id, code, size)
	}
}

// grpcCall makes one GetUser(id) call and returns the client port, the
// grpc-status and the response body size.
func grpcCall(tr *http2.Transport, base, id string) (port, code, size int, err error) {
	req, err := http.NewRequest("POST", base+"/demo.v1.Users/GetUser", bytes.NewReader(grpcBody(id)))
	if err != nil {
		return 0, 0, 0, err
	}
	req.Header.Set("content-type", "application/grpc")
	req.Header.Set("te", "trailers")
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { port = localPort(i.Conn) },
	}))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("read body: %w", err)
	}
	status := resp.Trailer.Get("grpc-status")
	if status == "" {
		status = resp.Header.Get("grpc-status")
	}
	if code, err = strconv.Atoi(status); err != nil {
		return 0, 0, 0, fmt.Errorf("grpc-status %q", status)
	}
	return port, code, int(n), nil
}

// --- checks ---------------------------------------------------------------------
