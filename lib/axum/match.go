package axum

import "strings"

// Route template syntax, axum 0.7 (matchit 0.7) and axum 0.8 (matchit 0.8):
// "/users/:id" or "/users/{id}" is a parameter (one segment's rest, not
// empty), "/files/*path" or "/files/{*path}" a catch-all (the rest of the
// path, not empty, last).

type partKind int

// Ranks: a path position matched by a static part beats a parameter,
// which beats a catch-all; this is matchit's precedence.
const (
	catchAll partKind = 1
	param    partKind = 2
	static   partKind = 3
)

type part struct {
	kind partKind
	text string // static text
}

type route struct {
	parts   []part
	display string // the template as http.route shows it
}

func parseRoute(tpl string) route {
	r := route{display: tpl}
	if i := strings.Index(tpl, "*"+nestTailParam); i >= 0 {
		r.display = tpl[:i] + "*"
	}
	rest := tpl
	for rest != "" {
		i := strings.IndexAny(rest, ":*{")
		if i < 0 {
			r.parts = append(r.parts, part{kind: static, text: rest})
			break
		}
		if i > 0 {
			r.parts = append(r.parts, part{kind: static, text: rest[:i]})
		}
		rest = rest[i:]
		switch rest[0] {
		case ':':
			end := strings.IndexByte(rest, '/')
			if end < 0 {
				end = len(rest)
			}
			r.parts = append(r.parts, part{kind: param})
			rest = rest[end:]
		case '*':
			r.parts = append(r.parts, part{kind: catchAll})
			rest = ""
		case '{':
			end := strings.IndexByte(rest, '}')
			if end < 0 { // not a parameter after all
				r.parts = append(r.parts, part{kind: static, text: rest})
				rest = ""
				break
			}
			if strings.HasPrefix(rest, "{*") {
				r.parts = append(r.parts, part{kind: catchAll})
				rest = ""
				break
			}
			r.parts = append(r.parts, part{kind: param})
			rest = rest[end+1:]
		}
	}
	return r
}

// match reports whether path matches r and, if so, the kind of part that
// consumed each byte of path: of two matching routes, the one with the
// higher rank at the first byte where they differ is the one a
// backtracking matchit walk picks (static, then parameter, then catch-all).
func (r *route) match(path string) ([]byte, bool) {
	rank := make([]byte, 0, len(path))
	for _, p := range r.parts {
		n := 0
		switch p.kind {
		case static:
			if !strings.HasPrefix(path, p.text) {
				return nil, false
			}
			n = len(p.text)
		case param:
			n = strings.IndexByte(path, '/')
			if n < 0 {
				n = len(path)
			}
		case catchAll:
			n = len(path)
		}
		if n == 0 && p.kind != static {
			return nil, false // parameters are never empty
		}
		for range n {
			rank = append(rank, byte(p.kind))
		}
		path = path[n:]
	}
	return rank, path == ""
}
