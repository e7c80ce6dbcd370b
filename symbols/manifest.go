package symbols

import (
	"strings"

	"github.com/rustscope/rustscope/lib"
)

// Manifest is what rustscope wants from every instrumented library, as
// each library's home declares it (package lib).
var Manifest = lib.Manifest()

// impliedGroups: a group is also in use when one of these is, because it
// serves them. Without this a group whose only point is inlined would look
// unused.
var impliedGroups = lib.Implied()

// wantKeys are precomputed substrings every raw (mangled) name of a copy
// must contain: the length-prefixed last identifier ("5parse") and the
// plain path identifiers ("hyper", "role", "Server"). Both manglings spell
// identifiers literally at least once (legacy trait impls as
// "$LT$hyper..proto..", v0 with back-references after the first use).
type wantKeys struct {
	final  string   // "5parse": checked first, it is the most selective
	idents []string // "hyper", "proto", ...
}

func keysFor(pattern string) wantKeys {
	var ids []string
	cur := strings.Builder{}
	flush := func() {
		if cur.Len() > 0 {
			ids = append(ids, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if isIdentByte(c) {
			cur.WriteByte(c)
			continue
		}
		flush()
	}
	flush()
	var k wantKeys
	// Drop keywords and closure markers; the last real identifier is final.
	var real []string
	for _, id := range ids {
		switch id {
		case "as", "closure", "impl", "for", "dyn", "mut", "const":
			continue
		}
		real = append(real, id)
	}
	if len(real) == 0 {
		return k
	}
	last := real[len(real)-1]
	k.final = itoa(len(last)) + last
	k.idents = real[:len(real)-1]
	return k
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
