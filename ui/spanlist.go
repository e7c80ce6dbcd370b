package ui

import (
	"fmt"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// spanList is the span list of a session: a bounded buffer that follows
// new spans unless paused or scrolled away, with the filter line that
// narrows it.
type spanList struct {
	common
	session Session   // whose targets the list names while it is empty
	rows    []spanRow // oldest first, at most cap: a window into buf
	buf     []spanRow
	cap     int
	cursor  int   // index into rows
	vis     []int // indices of the rows the filter lets through
	filter  filter
	typing  bool   // the filter line has the keyboard
	input   string // filter being typed
	follow  bool
	paused  bool
	held    []spanRow // arrived while paused: a window into heldBuf
	heldBuf []spanRow
}

func newSpanList(c common, s Session, capacity int) *spanList {
	return &spanList{common: c, session: s, cap: capacity, follow: true}
}

func (l *spanList) Init() tea.Cmd { return nil }

// Update takes the keys of the list, or of the filter line while it is
// typed.
func (l *spanList) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	switch {
	case !ok:
	case l.typing:
		return l, l.typeKey(km)
	case key.Matches(km, l.keys.Up):
		l.move(-1)
	case key.Matches(km, l.keys.Down):
		l.move(1)
	case key.Matches(km, l.keys.Top):
		l.move(-len(l.vis))
	case key.Matches(km, l.keys.Bottom):
		l.follow = true
		l.refilter()
	case key.Matches(km, l.keys.Pause):
		l.paused = !l.paused
	case key.Matches(km, l.keys.Back):
		l.setFilter(filter{})
	}
	return l, nil
}

// typeKey edits the filter line: enter applies it, esc clears it.
func (l *spanList) typeKey(msg tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(msg, l.keys.ApplyFilter):
		f, err := parseFilter(l.input)
		if err != nil {
			return send(errMsg{fmt.Errorf("filter: %w", err)})
		}
		l.typing = false
		l.setFilter(f)
	case key.Matches(msg, l.keys.EndFilter):
		l.typing, l.input = false, ""
		l.setFilter(filter{})
	default:
		l.input, _ = typed(l.input, msg, l.keys, true)
	}
	return nil
}

// startFilter gives the filter line the keyboard, starting from the
// filter in force.
func (l *spanList) startFilter() { l.typing, l.input = true, l.filter.src }

// ShortHelp and FullHelp list the keys the list answers (the filter
// line's while it is typed).
func (l *spanList) ShortHelp() []key.Binding {
	k := l.keys
	if l.typing {
		return []key.Binding{k.ApplyFilter, k.EndFilter}
	}
	return []key.Binding{k.Up, k.Down, k.Top, k.Bottom, k.Pause, k.Back}
}

func (l *spanList) FullHelp() [][]key.Binding { return [][]key.Binding{l.ShortHelp()} }

// add appends a batch, or holds it while paused.
func (l *spanList) add(rows []spanRow) {
	if l.paused {
		l.held = appendBounded(&l.heldBuf, l.held, rows, l.cap)
		return
	}
	if len(l.held) > 0 {
		rows = append(l.held, rows...)
		l.held, l.heldBuf = nil, nil
	}
	before := len(l.rows)
	l.rows = appendBounded(&l.buf, l.rows, rows, l.cap)
	dropped := before + len(rows) - len(l.rows)
	l.cursor = max(0, l.cursor-dropped)
	l.refilter()
}

// refilter recomputes the visible rows and keeps the cursor on a visible
// one: the newest when following, else the nearest at or after it.
func (l *spanList) refilter() {
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
func (l *spanList) pos() int {
	return sort.SearchInts(l.vis, l.cursor)
}

func (l *spanList) setFilter(f filter) {
	l.filter = f
	l.refilter()
}

// selected is the row under the cursor, if any is visible.
func (l *spanList) selected() (*spanRow, bool) {
	if len(l.vis) == 0 || l.cursor >= len(l.rows) {
		return nil, false
	}
	return &l.rows[l.cursor], true
}

// appendBounded appends src to rows, a window at the end of *buf, and
// keeps the newest n. *buf has room for up to 2n: dropping the oldest rows
// is a reslice, and the rows move to the front of *buf once per n
// arrivals rather than on every batch.
func appendBounded(buf *[]spanRow, rows, src []spanRow, n int) []spanRow {
	if len(src) >= n {
		src, rows = src[len(src)-n:], rows[:0]
	}
	if len(rows)+len(src) > cap(rows) {
		keep := min(len(rows), n-len(src))
		size := min(2*n, max(64, 2*(keep+len(src))))
		b := *buf
		if cap(b) < size {
			b = make([]spanRow, size)
		}
		b = b[:cap(b)]
		copy(b, rows[len(rows)-keep:])
		clear(b[keep:]) // what moved or was dropped can go
		*buf, rows = b, b[:keep]
	}
	rows = append(rows, src...)
	if over := len(rows) - n; over > 0 {
		clear(rows[:over])
		rows = rows[over:]
	}
	return rows
}

func (l *spanList) move(d int) {
	if len(l.vis) == 0 {
		return
	}
	p := max(0, min(len(l.vis)-1, l.pos()+d))
	l.cursor = l.vis[p]
	l.follow = p == len(l.vis)-1
}

// multi is true when the session watches several processes: the span list
// gets a service column.
func (l *spanList) multi() bool { return len(l.session.Targets()) > 1 }

func (l *spanList) View() string {
	st, width, height := l.styles, l.width, l.height
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
