// Field lines: parsed in place over a head's one string, accepting and
// returning exactly what net/textproto's ReadMIMEHeader did (it allocated
// a map, a string per value and a bufio.Reader per head).

package http1

import "strings"

// parseFields parses the field lines of s, a head after its start line or
// a trailer section, up to the empty line that ends it. As
// net/textproto.Reader.ReadMIMEHeader:
//   - a line ends at LF; one CR before the LF is dropped;
//   - the section may not start with SP or HTAB; a later line that does
//     (obs-fold) continues the field before it, joined by one space;
//   - each line is trimmed of SP and HTAB on both sides, so a last
//     continuation line of only whitespace leaves the joining space;
//   - the name is what precedes the first colon, which must be on the
//     field's first line: token bytes or spaces (a name with a space is
//     kept but matches no lookup, as http.Header did not canonicalise it);
//   - every value byte is HTAB, SP, VCHAR or obs-text; the value's leading
//     SP and HTAB are dropped.
//
// ok is false for anything else, or when s has no empty line.
func parseFields(s string) (h Header, ok bool) {
	if s != "" && (s[0] == ' ' || s[0] == '\t') {
		return nil, false
	}
	if n := countFields(s); n > 0 {
		h = make(Header, 0, n)
	}
	for {
		line, rest, found := cutLine(s)
		if !found {
			return nil, false
		}
		if line == "" {
			return h, true
		}
		if strings.IndexByte(line, ':') < 0 {
			return nil, false
		}
		kv := trimWS(line)
		if folded(rest) {
			if kv, rest, ok = unfold(kv, rest); !ok {
				return nil, false
			}
		}
		s = rest
		name, value, _ := strings.Cut(kv, ":")
		if !validName(name) || !validValue(value) {
			return nil, false
		}
		h = append(h, Field{Name: name, Value: trimLeftWS(value)})
	}
}

// countFields bounds the fields of s, to size a Header once: a field per
// line but the empty one, which one vectorised count gives. Continuation
// lines make it an overestimate, so past a few dozen lines they are
// counted out: a head of folds must not make a Header 16 times its size.
func countFields(s string) int {
	n := strings.Count(s, "\n") - 1
	if n <= 32 {
		return max(n, 0)
	}
	n = 0
	for {
		line, rest, found := cutLine(s)
		if !found || line == "" {
			return n
		}
		if !folded(line) {
			n++
		}
		s = rest
	}
}

// unfold joins to first the continuation lines that start rest, and
// returns what follows them. Only obs-fold allocates.
func unfold(first, rest string) (kv, after string, ok bool) {
	var b strings.Builder
	b.WriteString(first)
	for folded(rest) {
		line, r, found := cutLine(trimLeftWS(rest))
		if !found {
			return "", "", false
		}
		b.WriteByte(' ')
		b.WriteString(trimWS(line))
		rest = r
	}
	return b.String(), rest, true
}

// folded reports whether s starts with a continuation line.
func folded(s string) bool {
	return s != "" && (s[0] == ' ' || s[0] == '\t')
}

// cutLine splits s after its first LF; line has neither the LF nor one CR
// before it. found is false when s has no LF.
func cutLine(s string) (line, rest string, found bool) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, "", false
	}
	line = s[:i]
	if i > 0 && line[i-1] == '\r' {
		line = line[:i-1]
	}
	return line, s[i+1:], true
}

func trimLeftWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

// trimWS trims SP and HTAB, not the other whitespace strings.TrimSpace does.
func trimWS(s string) string {
	s = trimLeftWS(s)
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// Byte classes of field lines (RFC 9110 §5.1, §5.5).
const (
	tchar = 1 << iota // token: a name, method
	vbyte             // field value: HTAB, SP, VCHAR, obs-text
)

var byteClass = func() (t [256]uint8) {
	for c := range 256 {
		if c == '\t' || c >= ' ' && c != 0x7f {
			t[c] |= vbyte
		}
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0 {
			t[c] |= tchar
		}
	}
	return t
}()

// validName accepts token bytes and, as net/textproto did, spaces.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		if byteClass[s[i]]&tchar == 0 && s[i] != ' ' {
			return false
		}
	}
	return s != ""
}

func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if byteClass[s[i]]&vbyte == 0 {
			return false
		}
	}
	return true
}
