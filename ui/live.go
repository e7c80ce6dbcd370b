package ui

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/rustscope/rustscope/tracer"
)

// spanRow is a span with its display fields worked out once, on arrival,
// so rendering a full buffer stays cheap.
type spanRow struct {
	span    tracer.Span
	kind    string
	method  string
	route   string // http.route, when a probe knew it
	target  string // path (server), else url (client)
	status  int    // HTTP status; for gRPC a stand-in for colouring (200 OK, 400, 500)
	code    string // the STATUS column: the HTTP status, or the gRPC code name
	peer    string
	service string // service.name, when the session watches several processes
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
	r.target = firstNonEmpty(attrs["url.path"], attrs["url.full"])
	fmt.Sscan(attrs["http.response.status_code"], &r.status)
	r.code = attrs["http.response.status_code"]
	if attrs["rpc.system"] == "grpc" {
		r.method, r.target = "gRPC", s.Name
		var c uint32
		if _, err := fmt.Sscan(attrs["rpc.grpc.status_code"], &c); err == nil {
			r.code = codes.Code(c).String()
			r.status = 200
			switch {
			case s.Error:
				r.status = 500
			case c != 0:
				r.status = 400
			}
		}
	}
	if r.code == "" {
		r.code = "-"
	}
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

// attr returns an attribute's value as text.
func (r *spanRow) attr(key string) (string, bool) {
	for _, kv := range r.span.Attrs {
		if string(kv.Key) == key {
			return kv.Value.Emit(), true
		}
	}
	return "", false
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
	cursor    int    // index into rows
	vis       []int  // indices of the rows the filter lets through
	filter    filter
	typing    bool   // the filter line has the keyboard
	input     string // filter being typed
	follow    bool
	paused    bool
	held      []spanRow // arrived while paused
	detail    bool
	stats     *statsTable
	showStats bool
	rate      rateMeter
	now       func() time.Time
}

func newLive(s Session, capacity int, now func() time.Time) *live {
	return &live{session: s, cap: capacity, follow: true, now: now, stats: newStatsTable()}
}

func (l *live) add(rows []spanRow) {
	if l.multi() { // one process: the title names it
		for i := range rows {
			rows[i].service = l.session.Service(rows[i].span.PID)
		}
	}
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
	l.cursor = max(0, l.cursor-dropped)
	l.refilter()
}

// refilter recomputes the visible rows and keeps the cursor on a visible
// one: the newest when following, else the nearest at or after it.
func (l *live) refilter() {
	l.vis = l.vis[:0]
	for i := range l.rows {
		if l.filter.empty() || l.filter.match(&l.rows[i]) {
			l.vis = append(l.vis, i)
		}
	}
	if len(l.vis) == 0 {
		l.cursor = 0
		return
	}
	if l.follow {
		l.cursor = l.vis[len(l.vis)-1]
		return
	}
	l.cursor = l.vis[min(l.pos(), len(l.vis)-1)]
}

// pos is the cursor's position among the visible rows (or where it would be).
func (l *live) pos() int {
	return sort.SearchInts(l.vis, l.cursor)
}

func (l *live) setFilter(f filter) {
	l.filter = f
	l.refilter()
}

// selected is the row under the cursor, if any is visible.
func (l *live) selected() (*spanRow, bool) {
	if len(l.vis) == 0 || l.cursor >= len(l.rows) {
		return nil, false
	}
	return &l.rows[l.cursor], true
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
	if len(l.vis) == 0 {
		return
	}
	p := max(0, min(len(l.vis)-1, l.pos()+d))
	l.cursor = l.vis[p]
	l.follow = p == len(l.vis)-1
}

func (l *live) title() string {
	ts := l.session.Targets()
	if len(ts) == 1 {
		return fmt.Sprintf("pid %d %s", ts[0].PID, ts[0].Comm)
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = fmt.Sprintf("%d %s", t.PID, t.Comm)
	}
	return fmt.Sprintf("%d processes: %s", len(ts), strings.Join(names, ", "))
}

// multi is true when the session watches several processes: the span list
// gets a service column.
func (l *live) multi() bool { return len(l.session.Targets()) > 1 }

func (l *live) view(st styles, width, height int) string {
	if l.showStats {
		return l.stats.view(st, width, height, l.now())
	}
	if r, ok := l.selected(); ok && l.detail {
		return l.detailView(r, st, width)
	}
	var b strings.Builder
	// With several processes a service column takes part of the path's.
	svcW, pathW := 0, 32
	if l.multi() {
		svcW, pathW = 14, 24
	}
	header := fmt.Sprintf(" %-12s %-*s%-3s %-7s %-*s %9s %10s  %s", "TIME", svcW, colHead("SERVICE", svcW), "", "METHOD", pathW, "PATH / RPC", "STATUS", "DURATION", "PEER")
	b.WriteString(st.Header.Render(clip(header, width)) + "\n")
	if l.typing || !l.filter.empty() {
		line := "filter: " + l.filter.src
		if l.typing {
			line = "filter: " + l.input + "_  (enter applies, esc clears; e.g. status>=500 route~users dur>100ms kind=client)"
		}
		b.WriteString(st.Info.Render(clip(line, width)) + "\n")
		height--
	}
	if len(l.rows) == 0 {
		b.WriteString(st.Dim.Render("  waiting for requests...") + "\n")
		for _, t := range l.session.Targets() {
			for _, c := range t.Capture {
				if l.multi() {
					c = fmt.Sprintf("pid %d: %s", t.PID, c)
				}
				b.WriteString(st.Dim.Render(clip("  attached: "+c, width)) + "\n")
			}
		}
		return b.String()
	}
	if len(l.vis) == 0 {
		b.WriteString(st.Dim.Render("  no span matches the filter") + "\n")
		return b.String()
	}
	n := max(1, height-2)
	p := l.pos()
	start := max(0, min(p-n/2, len(l.vis)-n))
	if l.follow {
		start = max(0, len(l.vis)-n)
	}
	for _, i := range l.vis[start:min(len(l.vis), start+n)] {
		r := &l.rows[i]
		d := r.span.Duration()
		svc := ""
		if svcW > 0 {
			svc = fmt.Sprintf("%-*s", svcW, clip(r.service, svcW-1))
		}
		line := fmt.Sprintf("%-12s %s%-3s %-7s %-*s %s %s  %s",
			r.span.Start.Format("15:04:05.000"), svc, r.kind, clip(r.method, 7), pathW, clip(r.target, pathW),
			st.statusStyle(r.status).Render(fmt.Sprintf("%9s", clip(r.code, 9))),
			st.durationStyle(d).Render(fmt.Sprintf("%10s", fmtDuration(d))), r.peer)
		b.WriteString(st.row(line, i == l.cursor && !l.follow) + "\n")
	}
	return b.String()
}

func (l *live) detailView(r *spanRow, st styles, width int) string {
	s := &r.span
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s\n", st.Header.Render(s.Name), st.Dim.Render("(esc: back)"))
	fmt.Fprintf(&b, "kind         %s\n", strings.ToLower(s.Kind.String()))
	fmt.Fprintf(&b, "start        %s\n", s.Start.Format("2006-01-02 15:04:05.000000"))
	fmt.Fprintf(&b, "duration     %s\n", fmtDuration(s.Duration()))
	fmt.Fprintf(&b, "measures     %s\n", clip(s.Measures, width-13))
	fmt.Fprintf(&b, "produced by  %s %s\n", s.Scope.Name, s.Scope.Version)
	if s.SpanContext.IsValid() {
		fmt.Fprintf(&b, "trace        %s\n", s.SpanContext.TraceID())
		fmt.Fprintf(&b, "span         %s\n", s.SpanContext.SpanID())
	}
	switch {
	case s.Parent.IsRemote():
		fmt.Fprintf(&b, "parent       %s (the caller, from traceparent)\n", s.Parent.SpanID())
	case s.Parent.IsValid():
		fmt.Fprintf(&b, "parent       %s (the server span whose handler made this call)\n", s.Parent.SpanID())
	default:
		b.WriteString("parent       none (root)\n")
	}
	if s.Error {
		fmt.Fprintf(&b, "status       %s\n", st.Error.Render("error "+s.StatusMessage))
	}
	if root, calls := l.family(r); len(calls) > 0 {
		b.WriteString(waterfall(root, calls, r, st, width))
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

// family returns the spans of r's request found in the buffer: its
// server span (r, or r's parent when r is a call it made; nil when that
// is not in the buffer) and the calls made under it, by start.
func (l *live) family(r *spanRow) (root *spanRow, calls []*spanRow) {
	s := &r.span
	id, tr := s.SpanContext.SpanID(), s.SpanContext.TraceID()
	if s.Parent.IsValid() && !s.Parent.IsRemote() {
		id = s.Parent.SpanID()
	}
	for i := range l.rows {
		x := &l.rows[i].span
		if x.SpanContext.TraceID() != tr {
			continue
		}
		switch {
		case x.SpanContext.SpanID() == id:
			root = &l.rows[i]
		case x.Parent.SpanID() == id && !x.Parent.IsRemote():
			calls = append(calls, &l.rows[i])
		}
	}
	sort.SliceStable(calls, func(i, j int) bool { return calls[i].span.Start.Before(calls[j].span.Start) })
	return root, calls
}

// maxWaterfall is how many calls the waterfall draws.
const maxWaterfall = 8

// waterfall draws a request and its calls on one time axis: each row's bar
// spans its start to end within the server span (or the calls' extent
// when the server span is not in the buffer).
func waterfall(root *spanRow, calls []*spanRow, sel *spanRow, st styles, width int) string {
	rows := calls
	if root != nil {
		rows = append([]*spanRow{root}, calls...)
	}
	if len(rows) > maxWaterfall+1 {
		rows = rows[:maxWaterfall+1]
	}
	t0, t1 := rows[0].span.Start, rows[0].span.End
	for _, x := range rows {
		if x.span.Start.Before(t0) {
			t0 = x.span.Start
		}
		if x.span.End.After(t1) {
			t1 = x.span.End
		}
	}
	total := max(t1.Sub(t0), time.Nanosecond)
	label := min(44, max(24, width*2/5))
	barW := max(10, width-label-15)
	var b strings.Builder
	b.WriteString(st.Header.Render("waterfall") + "\n")
	for _, x := range rows {
		name := "  " + x.kind + " " + x.method + " " + x.target
		if x != root {
			name = "   └ " + x.kind + " " + x.method + " " + x.target
		}
		from := int(float64(x.span.Start.Sub(t0)) / float64(total) * float64(barW))
		to := int(math.Ceil(float64(x.span.End.Sub(t0)) / float64(total) * float64(barW)))
		from = min(from, barW-1)
		to = max(min(to, barW), from+1)
		bar := strings.Repeat(" ", from) + strings.Repeat("█", to-from) + strings.Repeat(" ", barW-to)
		line := fmt.Sprintf("%-*s |%s| %9s", label, clip(name, label), bar, fmtDuration(x.span.Duration()))
		b.WriteString(st.row(line, x == sel) + "\n")
	}
	shown := len(rows)
	if root != nil {
		shown--
	}
	if more := len(calls) - shown; more > 0 {
		b.WriteString(st.Dim.Render(fmt.Sprintf("  ... and %d more calls", more)) + "\n")
	}
	return b.String()
}

func (l *live) status(st styles, width int) string {
	stats := l.session.Stats()
	state := "live"
	switch {
	case l.paused:
		state = fmt.Sprintf("paused (%d held)", len(l.held))
	case !l.follow:
		state = "scrolled (G follows)"
	}
	s := fmt.Sprintf(" %s | spans %d | %.1f/s | lost events %d", state, l.total, l.rate.perSecond(l.now()), stats.Lost)
	if stats.Dropped > 0 {
		s += fmt.Sprintf(" | ui dropped %d", stats.Dropped)
	}
	for _, pid := range stats.Exited {
		s += fmt.Sprintf(" | pid %d exited", pid)
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

// colHead is a column's title, or nothing when the column is not shown.
func colHead(title string, width int) string {
	if width == 0 {
		return ""
	}
	return title
}
