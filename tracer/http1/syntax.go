// Message syntax: body framing from a head, chunk-size lines, request and
// status lines, and whether a capture looks like the start of a message.

package http1

import (
	"bytes"
	"strings"
)

type frame uint8

const (
	fNone    frame = iota // no length information
	fLength               // Content-Length
	fChunked              // Transfer-Encoding ending in chunked
	fOtherTE              // other transfer coding: length unknown
)

// framing reads the body framing from a head; ok is false for an invalid
// Content-Length, which makes the message length unknowable. Several
// fields of a name count as one, their values joined by commas.
func framing(hdr Header) (f frame, length int64, ok bool) {
	// The last transfer coding is the last comma-separated element of
	// the last Transfer-Encoding field, present even if empty.
	te, hasTE := "", false
	for i := range hdr {
		if equalFold(hdr[i].Name, "Transfer-Encoding") {
			te, hasTE = hdr[i].Value, true
		}
	}
	if hasTE {
		last := strings.TrimSpace(te[strings.LastIndexByte(te, ',')+1:])
		if strings.EqualFold(last, "chunked") {
			return fChunked, 0, true
		}
		return fOtherTE, 0, true
	}
	length = -1
	for i := range hdr {
		if !equalFold(hdr[i].Name, "Content-Length") {
			continue
		}
		for rest, more := hdr[i].Value, true; more; {
			var v string
			v, rest, more = strings.Cut(rest, ",")
			n, ok := parseLength(strings.TrimSpace(v))
			if !ok || length >= 0 && n != length { // differing duplicates: RFC 9112 §6.3
				return fNone, 0, false
			}
			length = n
		}
	}
	if length < 0 {
		return fNone, 0, true
	}
	return fLength, length, true
}

// parseLength parses a Content-Length element: 1 to 18 digits.
func parseLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n, true
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
		if byteClass[s[i]]&tchar == 0 {
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
