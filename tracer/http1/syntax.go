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
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j
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

// text is a start line: a string once its head is complete, or the
// buffered bytes when it is checked before, which then need no copy.
type text interface{ string | []byte }

// cutSP splits s around its first space.
func cutSP[T text](s T) (before, after T, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, s[len(s):], false
}

func isHTTP1[T text](proto T) bool {
	const prefix = "HTTP/1."
	if len(proto) != len(prefix)+1 || proto[7] < '0' || proto[7] > '9' {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if proto[i] != prefix[i] {
			return false
		}
	}
	return true
}

func isToken[T text](s T) bool {
	for i := 0; i < len(s); i++ {
		if byteClass[s[i]]&tchar == 0 {
			return false
		}
	}
	return len(s) > 0
}

// parseRequestLine splits "METHOD SP target SP HTTP/1.x".
func parseRequestLine[T text](line T) (method, target, proto T, ok bool) {
	method, rest, ok1 := cutSP(line)
	target, proto, ok2 := cutSP(rest)
	if !ok1 || !ok2 || !isToken(method) || len(target) == 0 || !isHTTP1(proto) {
		return method[:0], target[:0], proto[:0], false
	}
	for i := 0; i < len(target); i++ {
		if target[i] <= ' ' || target[i] == 0x7f {
			return method[:0], target[:0], proto[:0], false
		}
	}
	return method, target, proto, true
}

func validRequestLine[T text](line T) bool {
	_, _, _, ok := parseRequestLine(line)
	return ok
}

// parseStatusLine splits "HTTP/1.x SP 3DIGIT [SP reason]".
func parseStatusLine[T text](line T) (proto T, code int, ok bool) {
	proto, rest, _ := cutSP(line)
	if !isHTTP1(proto) || len(rest) < 3 || len(rest) > 3 && rest[3] != ' ' {
		return proto[:0], 0, false
	}
	for i := 0; i < 3; i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return proto[:0], 0, false
		}
		code = code*10 + int(rest[i]-'0')
	}
	return proto, code, code >= 100
}

func validStatusLine[T text](line T) bool {
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
		return i < maxHead && validRequestLine(trimCR(data[:i]))
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
