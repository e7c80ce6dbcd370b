package ui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer"
)

// spanRow is a span with its display fields worked out once, on arrival,
// so rendering a full buffer stays cheap.
type spanRow struct {
	span   tracer.Span
	kind   string
	method string
	route  string // http.route, when a probe knew it
	target string // route, else path, else url
	status int
	peer   string
}

func newSpanRow(s *tracer.Span) spanRow {
	r := spanRow{span: *s, kind: "SRV"}
	if s.Kind == trace.SpanKindClient {
		r.kind = "CLI"
	}
	attrs := map[string]string{}
	for _, kv := range s.Attrs {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	r.method = attrs["http.request.method"]
	r.route = attrs["http.route"]
	r.target = firstNonEmpty(attrs["http.route"], attrs["url.path"], attrs["url.full"])
	fmt.Sscan(attrs["http.response.status_code"], &r.status)
	if r.kind == "SRV" {
		r.peer = attrs["client.address"]
	} else {
		r.peer = attrs["server.address"]
		if p := attrs["server.port"]; p != "" {
			r.peer += ":" + p
		}
	}
	return r
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// live is the view of one attached session: a bounded span list that
// follows new spans unless paused or scrolled away.
type live struct {
	session   Session
	rows      []spanRow // oldest first, at most cap
	cap       int
	total     uint64 // spans received
	cursor    int
	follow    bool
	paused    bool
	held      []spanRow // arrived while paused
	detail    bool
	stats     *statsTable
	showStats bool
	ended     bool
	rate      rateMeter
	now       func() time.Time
}

func newLive(s Session, capacity int, now func() time.Time) *live {
	return &live{session: s, cap: capacity, follow: true, now: now, stats: newStatsTable()}
}

func (l *live) add(rows []spanRow) {
	l.total += uint64(len(rows))
	l.rate.add(l.now(), len(rows))
	l.stats.add(rows, l.now()) // statistics count every span, paused or not
	if l.paused {
		l.held = appendBounded(l.held, rows, l.cap)
		return
	}
	if len(l.held) > 0 {
		rows = append(l.held, rows...)
		l.held = nil
	}
	before := len(l.rows)
	l.rows = appendBounded(l.rows, rows, l.cap)
	dropped := before + len(rows) - len(l.rows)
	if l.follow {
		l.cursor = len(l.rows) - 1
	} else {
		l.cursor = max(0, l.cursor-dropped)
	}
}

// appendBounded appends and keeps the newest n.
func appendBounded(dst, src []spanRow, n int) []spanRow {
	dst = append(dst, src...)
	if over := len(dst) - n; over > 0 {
		dst = append(dst[:0], dst[over:]...)
	}
	return dst
}

func (l *live) move(d int) {
	if len(l.rows) == 0 {
		return
	}
	l.cursor = max(0, min(len(l.rows)-1, l.cursor+d))
	l.follow = l.cursor == len(l.rows)-1
}

func (l *live) title() string {
	t := l.session.Target()
	return fmt.Sprintf("pid %d %s", t.PID, t.Comm)
}

func (l *live) view(st styles, width, height int) string {
	if l.showStats {
		return l.stats.view(st, width, height, l.now())
	}
	if l.detail && l.cursor < len(l.rows) {
		return l.detailView(st, width, height)
	}
	var b strings.Builder
	header := fmt.Sprintf("%-12s %-3s %-7s %-32s %6s %10s  %s", "TIME", "", "METHOD", "ROUTE / PATH", "STATUS", "DURATION", "PEER")
	b.WriteString(st.Header.Render(clip(header, width)) + "\n")
	if len(l.rows) == 0 {
		b.WriteString(st.Dim.Render("  waiting for requests...") + "\n")
		for _, c := range l.session.Target().Capture {
			b.WriteString(st.Dim.Render(clip("  attached: "+c, width)) + "\n")
		}
		return b.String()
	}
	n := max(1, height-2)
	start := max(0, min(l.cursor-n/2, len(l.rows)-n))
	if l.follow {
		start = max(0, len(l.rows)-n)
	}
	for i := start; i < len(l.rows) && i < start+n; i++ {
		r := &l.rows[i]
		d := r.span.Duration()
		line := fmt.Sprintf("%-12s %-3s %-7s %-32s %s %s  %s",
			r.span.Start.Format("15:04:05.000"), r.kind, clip(r.method, 7), clip(r.target, 32),
			st.statusStyle(r.status).Render(fmt.Sprintf("%6d", r.status)),
			st.durationStyle(d).Render(fmt.Sprintf("%10s", fmtDuration(d))), r.peer)
		if i == l.cursor && !l.follow {
			line = st.Selected.Render(line)
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func (l *live) detailView(st styles, width, height int) string {
	r := &l.rows[l.cursor]
	s := &r.span
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s\n", st.Header.Render(s.Name), st.Dim.Render("(esc: back)"))
	fmt.Fprintf(&b, "kind         %s\n", strings.ToLower(s.Kind.String()))
	fmt.Fprintf(&b, "start        %s\n", s.Start.Format("2006-01-02 15:04:05.000000"))
	fmt.Fprintf(&b, "duration     %s\n", fmtDuration(s.Duration()))
	fmt.Fprintf(&b, "measures     %s\n", clip(s.Measures, width-13))
	fmt.Fprintf(&b, "produced by  %s %s\n", s.Scope.Name, s.Scope.Version)
	if s.Error {
		fmt.Fprintf(&b, "status       %s\n", st.Error.Render("error "+s.StatusMessage))
	}
	keys := make([]string, 0, len(s.Attrs))
	vals := map[string]string{}
	for _, kv := range s.Attrs {
		keys = append(keys, string(kv.Key))
		vals[string(kv.Key)] = kv.Value.Emit()
	}
	sort.Strings(keys)
	b.WriteString(st.Header.Render("attributes") + "\n")
	for _, k := range keys {
		b.WriteString(clip(fmt.Sprintf("  %-28s %s", k, vals[k]), width) + "\n")
	}
	return b.String()
}

func (l *live) status(st styles, width int) string {
	stats := l.session.Stats()
	state := "live"
	switch {
	case l.ended:
		state = "ended"
	case l.paused:
		state = fmt.Sprintf("paused (%d held)", len(l.held))
	case !l.follow:
		state = "scrolled (G follows)"
	}
	s := fmt.Sprintf(" %s | spans %d | %.1f/s | lost events %d", state, l.total, l.rate.perSecond(l.now()), stats.Lost)
	if stats.Dropped > 0 {
		s += fmt.Sprintf(" | ui dropped %d", stats.Dropped)
	}
	if stats.Export != "" {
		s += " | export " + stats.Export
	}
	return st.Status.Render(pad(clip(s, width), width))
}

// fmtDuration prints durations with 3 significant digits.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%dµs", d.Microseconds())
	}
}

// rateMeter is spans per second over the last five whole seconds.
type rateMeter struct {
	buckets [6]struct {
		sec int64
		n   int
	}
}

func (r *rateMeter) add(now time.Time, n int) {
	b := &r.buckets[now.Unix()%int64(len(r.buckets))]
	if b.sec != now.Unix() {
		b.sec, b.n = now.Unix(), 0
	}
	b.n += n
}

func (r *rateMeter) perSecond(now time.Time) float64 {
	total := 0
	for _, b := range r.buckets {
		if age := now.Unix() - b.sec; age >= 1 && age < int64(len(r.buckets)) {
			total += b.n
		}
	}
	return float64(total) / float64(len(r.buckets)-1)
}
