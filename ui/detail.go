package ui

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// detailPane shows every field of the span under the list's cursor, and
// the calls its request made on one time axis; the list's keys still move
// the cursor under it.
type detailPane struct {
	common
	list *spanList
	open bool
}

func newDetailPane(c common, list *spanList) *detailPane { return &detailPane{common: c, list: list} }

func (d *detailPane) Init() tea.Cmd { return nil }

// Update opens and closes the pane.
func (d *detailPane) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if km, ok := msg.(tea.KeyMsg); ok {
		switch {
		case key.Matches(km, d.keys.Enter):
			d.open = !d.open
		case key.Matches(km, d.keys.Back):
			d.open = false
		}
	}
	return d, nil
}

// ShortHelp and FullHelp list the keys the pane answers: enter opens it,
// enter or esc closes it.
func (d *detailPane) ShortHelp() []key.Binding {
	if d.open {
		return []key.Binding{d.keys.Enter, d.keys.Back}
	}
	return []key.Binding{d.keys.Enter}
}

func (d *detailPane) FullHelp() [][]key.Binding { return [][]key.Binding{d.ShortHelp()} }

// shown is true when the pane is open on a span.
func (d *detailPane) shown() bool {
	_, ok := d.list.selected()
	return d.open && ok
}

// View draws the span under the list's cursor: its fields, the waterfall
// of its request when it made calls, and its attributes.
func (d *detailPane) View() string {
	r, ok := d.list.selected()
	if !ok {
		return ""
	}
	st, width := d.styles, d.width
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
	if root, calls := d.family(r); len(calls) > 0 {
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
func (d *detailPane) family(r *spanRow) (root *spanRow, calls []*spanRow) {
	s := &r.span
	id, tr := s.SpanContext.SpanID(), s.SpanContext.TraceID()
	if s.Parent.IsValid() && !s.Parent.IsRemote() {
		id = s.Parent.SpanID()
	}
	rows := d.list.rows
	for i := range rows {
		x := &rows[i].span
		if x.SpanContext.TraceID() != tr {
			continue
		}
		switch {
		case x.SpanContext.SpanID() == id:
			root = &rows[i]
		case x.Parent.SpanID() == id && !x.Parent.IsRemote():
			calls = append(calls, &rows[i])
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
func waterfall(root *spanRow, calls []*spanRow, sel *spanRow, st *styles, width int) string {
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
