package symbols

import (
	"strings"

	"github.com/ianlancetaylor/demangle"
)

// Rust symbol manglings.
const (
	ManglingLegacy = "legacy" // _ZN...17h<16 hex>E (Itanium-like, hash suffix)
	ManglingV0     = "v0"     // _R... (RFC 2603)
)

// manglingOf classifies a raw symbol name ("" if not Rust-mangled).
func manglingOf(name string) string {
	if strings.HasPrefix(name, "_R") && len(name) > 3 {
		c := name[2]
		if c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			return ManglingV0
		}
		return ""
	}
	if strings.HasPrefix(name, "_ZN") && isLegacyRust(name) {
		return ManglingLegacy
	}
	return ""
}

// isLegacyRust reports whether a _ZN name ends in the legacy Rust hash
// "17h<16 hex>E", optionally followed by a ".llvm.123" style suffix.
func isLegacyRust(name string) bool {
	if i := strings.Index(name, "E."); i > 0 {
		name = name[:i+1]
	}
	n := len(name)
	if n < 23 || name[n-1] != 'E' || name[n-20:n-17] != "17h" {
		return false
	}
	return isHex(name[n-17 : n-1])
}

// Demangle returns the readable name of a Rust (legacy or v0) or C++
// symbol, without the legacy hash; the input if it is not mangled.
func Demangle(name string) string {
	s, err := demangle.ToString(name)
	if err != nil {
		return name
	}
	return s
}

// NormalizeName turns a demangled Rust path into the form the probe
// manifest matches on, the same for both manglings and every
// monomorphization:
//
//   - generic arguments are removed: Conn<I,T>::poll and
//     <Conn<Io<..>, ..>>::poll (v0) both become krate::conn::Conn::poll;
//   - a v0 inherent-impl path <Type>::f becomes Type::f;
//   - qualified paths <A as B>::f keep their shape, with A and B normalized;
//   - v0 closures {closure#0} become legacy's {{closure}}, shims likewise;
//   - a legacy hash (if a caller kept it) and ".llvm.123" suffixes go.
func NormalizeName(s string) string {
	if i := strings.Index(s, ".llvm."); i > 0 {
		s = s[:i]
	}
	if n := len(s); n > 19 && s[n-19:n-16] == "::h" && isHex(s[n-16:]) {
		s = s[:n-19]
	}
	out, j := normalizePath(s, 0)
	for j < len(s) { // an unbalanced '>' at the top level: keep going
		more, k := normalizePath(s, j+1)
		out += ">" + more
		j = k
	}
	return out
}

// normalizePath normalizes s[i:] up to the end or an unbalanced '>' or ','
// (when called for the inside of a qualified path) and returns the result
// and the index where it stopped.
func normalizePath(s string, i int) (string, int) {
	var b strings.Builder
	b.Grow(len(s) - i)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '>':
			return b.String(), i
		case c == '{':
			// {closure#N} / {shim:vtable#N} (v0) and {{closure}} (legacy)
			if strings.HasPrefix(s[i:], "{{") {
				j := strings.Index(s[i:], "}}")
				if j < 0 {
					b.WriteString(s[i:])
					return b.String(), len(s)
				}
				b.WriteString(s[i : i+j+2])
				i += j + 2
				continue
			}
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				b.WriteString(s[i:])
				return b.String(), len(s)
			}
			inner := s[i+1 : i+j]
			if k := strings.IndexByte(inner, '#'); k >= 0 {
				inner = inner[:k]
			}
			if k := strings.IndexByte(inner, ':'); k >= 0 {
				inner = inner[:k]
			}
			b.WriteString("{{" + inner + "}}")
			i += j + 1
		case c == '<':
			prev := byte(0)
			if b.Len() > 0 {
				str := b.String()
				prev = str[len(str)-1]
			}
			if isIdentByte(prev) {
				// Generic arguments: Name<T, U> -> Name.
				i = skipAngle(s, i)
				continue
			}
			if prev == ':' && !strings.HasPrefix(s[i+1:], "impl ") {
				// Turbofish ::<T> -> drop it and the "::".
				str := b.String()
				b.Reset()
				b.WriteString(strings.TrimSuffix(str, "::"))
				i = skipAngle(s, i)
				continue
			}
			// Qualified path <A as B>, <impl X for Y>, or v0 <Type>.
			inner, j := normalizeQualified(s, i+1)
			if j < len(s) && s[j] == '>' {
				j++
			}
			if !strings.Contains(inner, " as ") && !strings.HasPrefix(inner, "impl ") &&
				strings.HasPrefix(s[j:], "::") && (prev == 0 || prev == ':') {
				// v0 inherent impl: <hyper::X>::f -> hyper::X::f
				b.WriteString(inner)
			} else {
				b.WriteString("<" + inner + ">")
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), i
}

// normalizeQualified normalizes the inside of <...> starting at i; it stops
// at the matching '>'.
func normalizeQualified(s string, i int) (string, int) {
	var parts []string
	for i < len(s) && s[i] != '>' {
		p, j := normalizePath(s, i)
		parts = append(parts, p)
		if j == i { // no progress: skip a byte to avoid looping on junk
			j++
		}
		i = j
	}
	return strings.Join(parts, ""), i
}

// skipAngle returns the index after the '>' matching the '<' at i. The '>'
// of "->" (fn pointer return types) does not close.
func skipAngle(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '<':
			depth++
		case '>':
			if i > 0 && s[i-1] == '-' {
				continue
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}
