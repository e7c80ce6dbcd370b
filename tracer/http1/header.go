package http1

// Header is the field lines of a head or trailer section, in wire order.
// Names are as on the wire and values substrings of one string per head:
// parsing a head allocates that string and this slice, not a map and a
// string per field. Lookups ignore ASCII case, so they find what
// http.Header's canonical keys find.
type Header []Field

// Field is one field line: its name, and its value with the surrounding
// whitespace removed (obs-fold lines joined by a space, as net/textproto
// does).
type Field struct {
	Name, Value string
}

// Get returns the first value of the field name, "" if there is none.
func (h Header) Get(name string) string {
	for i := range h {
		if equalFold(h[i].Name, name) {
			return h[i].Value
		}
	}
	return ""
}

// Values returns every value of the field name in wire order, nil if
// there is none. The slice is the caller's.
func (h Header) Values(name string) []string {
	var vs []string
	for i := range h {
		if equalFold(h[i].Name, name) {
			vs = append(vs, h[i].Value)
		}
	}
	return vs
}

// equalFold compares field names ignoring case. Names are ASCII tokens,
// so ASCII folding is enough and spares strings.EqualFold's Unicode path.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}
