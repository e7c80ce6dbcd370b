package ui

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// filter is a parsed `/` expression: space-separated terms that must all
// hold. A term is either `field op value` (ops = != ~ > >= < <=; ~ means
// contains) or plain text matched against method, route/path, status and
// peer. Fields: status, method, route, path, dur, kind, peer, or any
// attribute key such as url.query.
type filter struct {
	src   string
	terms []term
}

type term struct {
	field, op, value string
	dur              time.Duration // for dur
	num              float64       // for numeric comparisons
	numeric          bool
}

var ops = []string{">=", "<=", "!=", "=", "~", ">", "<"} // longest first

func parseFilter(src string) (filter, error) {
	f := filter{src: src}
	for _, w := range strings.Fields(src) {
		t := term{value: strings.ToLower(w)}
		for _, op := range ops {
			if i := strings.Index(w, op); i > 0 {
				t = term{field: strings.ToLower(w[:i]), op: op, value: w[i+len(op):]}
				break
			}
		}
		if t.op != "" {
			switch {
			case t.field == "dur" || t.field == "duration":
				d, err := time.ParseDuration(t.value)
				if err != nil {
					return f, fmt.Errorf("dur %s: want a duration like 100ms", t.value)
				}
				t.field, t.dur = "dur", d
			default:
				if n, err := strconv.ParseFloat(t.value, 64); err == nil {
					t.num, t.numeric = n, true
				}
				if (t.op == ">" || t.op == "<" || t.op == ">=" || t.op == "<=") && !t.numeric {
					return f, fmt.Errorf("%s%s%s: %s compares numbers", t.field, t.op, t.value, t.op)
				}
			}
		}
		f.terms = append(f.terms, t)
	}
	return f, nil
}

func (f *filter) empty() bool { return len(f.terms) == 0 }

func (f *filter) match(r *spanRow) bool {
	for i := range f.terms {
		if !f.terms[i].match(r) {
			return false
		}
	}
	return true
}

func (t *term) match(r *spanRow) bool {
	if t.op == "" {
		for _, s := range []string{r.method, r.target, r.route, strconv.Itoa(r.status), r.peer, r.service} {
			if strings.Contains(strings.ToLower(s), t.value) {
				return true
			}
		}
		return false
	}
	if t.field == "dur" {
		return compare(float64(r.span.Duration()), t.op, float64(t.dur))
	}
	var v string
	switch t.field {
	case "status":
		v = strconv.Itoa(r.status)
	case "method":
		v = r.method
	case "route":
		v = firstNonEmpty(r.route, r.target)
	case "path":
		v = r.target
	case "kind":
		v = map[string]string{"SRV": "server", "CLI": "client"}[r.kind]
	case "peer":
		v = r.peer
	case "service":
		v = r.service
	default:
		val, ok := r.attr(t.field)
		if !ok {
			return t.op == "!="
		}
		v = val
	}
	if t.numeric {
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			return compare(n, t.op, t.num)
		}
	}
	switch t.op {
	case "=":
		return strings.EqualFold(v, t.value)
	case "!=":
		return !strings.EqualFold(v, t.value)
	case "~":
		return strings.Contains(strings.ToLower(v), strings.ToLower(t.value))
	}
	return false
}

func compare(a float64, op string, b float64) bool {
	switch op {
	case "=":
		return a == b
	case "!=":
		return a != b
	case ">":
		return a > b
	case ">=":
		return a >= b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case "~":
		return strings.Contains(strconv.FormatFloat(a, 'f', -1, 64), strconv.FormatFloat(b, 'f', -1, 64))
	}
	return false
}
