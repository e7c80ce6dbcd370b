package export

import (
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// limitAttrs is what the SDK's SetAttributes made of the sampler's
// attributes and then the span's (l from sdktrace.NewSpanLimits, which
// reads OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT and
// OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT or OTEL_ATTRIBUTE_*): invalid
// attributes are dropped, a repeated key keeps its first place and its last
// value, new keys past the count limit are dropped, and string values are
// cut to the length limit. It returns the attributes and how many were
// dropped; attrs itself, not a copy, when nothing changes, which is the
// common case.
//
// Slice and map values (the tracer makes none) are kept as they are: the
// SDK would deduplicate and cut inside them too.
func limitAttrs(l sdktrace.SpanLimits, extra, attrs []attribute.KeyValue) ([]attribute.KeyValue, int) {
	if len(extra) == 0 && withinLimits(l, attrs) {
		return attrs, 0
	}
	n := len(extra) + len(attrs)
	if l.AttributeCountLimit >= 0 {
		n = min(n, l.AttributeCountLimit)
	}
	out := make([]attribute.KeyValue, 0, n)
	dropped := 0
	for _, list := range [2][]attribute.KeyValue{extra, attrs} {
		for _, a := range list {
			if !a.Valid() {
				dropped++
				continue
			}
			a.Value = truncateValue(l.AttributeValueLengthLimit, a.Value)
			if i := keyIndex(out, a.Key); i >= 0 {
				out[i] = a
				continue
			}
			if l.AttributeCountLimit >= 0 && len(out) >= l.AttributeCountLimit {
				dropped++
				continue
			}
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		out = nil
	}
	return out, dropped
}

// withinLimits reports whether attrs are valid, unique, under the count
// limit and none would be cut.
func withinLimits(l sdktrace.SpanLimits, attrs []attribute.KeyValue) bool {
	if l.AttributeCountLimit >= 0 && len(attrs) > l.AttributeCountLimit {
		return false
	}
	for i, a := range attrs {
		if !a.Valid() || keyIndex(attrs[:i], a.Key) >= 0 || mayTruncate(l.AttributeValueLengthLimit, a.Value) {
			return false
		}
	}
	return true
}

// keyIndex is the index of key in attrs, or -1. Spans have a few dozen
// attributes at most: a scan beats a map.
func keyIndex(attrs []attribute.KeyValue, key attribute.Key) int {
	for i := range attrs {
		if attrs[i].Key == key {
			return i
		}
	}
	return -1
}

func mayTruncate(limit int, v attribute.Value) bool {
	if limit < 0 {
		return false
	}
	switch v.Type() {
	case attribute.STRING, attribute.BYTESLICE:
		return len(v.AsString()) > limit
	case attribute.STRINGSLICE:
		for _, s := range v.AsStringSlice() {
			if len(s) > limit {
				return true
			}
		}
	}
	return false
}

// truncateValue cuts string values to limit characters, as the SDK does.
func truncateValue(limit int, v attribute.Value) attribute.Value {
	if !mayTruncate(limit, v) {
		return v
	}
	switch v.Type() {
	case attribute.STRING:
		return attribute.StringValue(truncate(limit, v.AsString()))
	case attribute.BYTESLICE:
		return attribute.ByteSliceValue([]byte(v.AsString()[:limit]))
	case attribute.STRINGSLICE:
		ss := v.AsStringSlice()
		for i, s := range ss {
			ss[i] = truncate(limit, s)
		}
		return attribute.StringSliceValue(ss)
	}
	return v
}

// truncate keeps the first limit characters of s (the SDK's rule: invalid
// UTF-8 bytes of a string over the limit are dropped, not counted).
func truncate(limit int, s string) string {
	if len(s) <= limit {
		return s
	}
	if utf8.ValidString(s) {
		n := 0
		for i := range s {
			if n == limit {
				return s[:i]
			}
			n++
		}
		return s
	}
	var b strings.Builder
	for i, n := 0, 0; i < len(s) && n < limit; {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r != utf8.RuneError || size > 1 {
			b.WriteString(s[i : i+size])
			n++
		}
		i += size
	}
	return b.String()
}
