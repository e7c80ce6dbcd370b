package ui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// statsView is the per-route statistics of every span received: a table
// sortable on any column, and the latency of the route under the cursor.
type statsView struct {
	common
	*statsTable
	shown bool
	now   func() time.Time
}

func newStatsView(c common, now func() time.Time) *statsView {
	return &statsView{common: c, statsTable: newStatsTable(), now: now}
}

func (v *statsView) Init() tea.Cmd { return nil }

// Update moves the cursor, sorts, and closes the view (s or esc).
func (v *statsView) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	switch {
	case !ok:
	case key.Matches(km, v.keys.Up):
		v.move(-1)
	case key.Matches(km, v.keys.Down):
		v.move(1)
	case key.Matches(km, v.keys.Sort):
		col := int(km.Runes[0] - '1') // 1-9 are the first nine columns, 0 the tenth
		if km.Runes[0] == '0' {
			col = 9
		}
		v.sortOn(col)
	case key.Matches(km, v.keys.Stats, v.keys.Back):
		v.shown = false
	}
	return v, nil
}

// ShortHelp and FullHelp list the keys the view answers.
func (v *statsView) ShortHelp() []key.Binding {
	k := v.keys
	return []key.Binding{k.Up, k.Down, k.Sort, k.Stats, k.Back}
}

func (v *statsView) FullHelp() [][]key.Binding { return [][]key.Binding{v.ShortHelp()} }

func (t *statsTable) move(d int) {
	t.cursor = max(0, min(len(t.routes)-1, t.cursor+d))
}

func (v *statsView) View() string {
	t, st, width, height, now := v.statsTable, v.styles, v.width, v.height, v.now()
	rows := t.sorted(now)
	var b strings.Builder
	cols := make([]string, len(statsColumns))
	for i, c := range statsColumns {
		if i == t.sortBy {
			c += map[bool]string{true: "↓", false: "↑"}[t.desc]
		}
		cols[i] = c
	}
	header := fmt.Sprintf(" %-4s %-7s %-30s %7s %7s %6s %8s %8s %8s %8s", strs(cols)...)
	b.WriteString(st.Header.Render(clip(header, width)) + "\n")
	if len(rows) == 0 {
		return b.String() + st.Dim.Render("  no requests yet") + "\n"
	}
	histH := 10
	n := max(1, height-2-histH)
	start := max(0, min(t.cursor-n/2, len(rows)-n))
	for i := start; i < len(rows) && i < start+n; i++ {
		r := rows[i]
		errs := fmt.Sprintf("%6.1f", r.errPct())
		if r.errors > 0 {
			errs = st.Error.Render(errs)
		}
		line := fmt.Sprintf("%-4s %-7s %-30s %7d %7.1f %s %8s %8s %8s %8s", r.kind, clip(r.method, 7), clip(r.target, 30), r.count, r.rate(now), errs,
			fmtDuration(r.quantile(50)), fmtDuration(r.quantile(90)), fmtDuration(r.quantile(99)), fmtDuration(time.Duration(r.hist.Max())*time.Microsecond))
		b.WriteString(st.row(line, i == t.cursor) + "\n")
	}
	sel := rows[t.cursor]
	b.WriteString(st.Dim.Render(clip("  sort: keys 1-9 and 0 pick a column in order, again reverses", width)) + "\n")
	b.WriteString(st.Header.Render(clip(fmt.Sprintf("latency of %s %s (%d requests)", sel.method, sel.target, sel.count), width)) + "\n")
	rate, lat := sel.sparklines(now, width)
	fmt.Fprintf(&b, "%-22s %s\n", "req/s, last minute", rate)
	fmt.Fprintf(&b, "%-22s %s\n", "mean latency", lat)
	b.WriteString(histogramView(sel.hist, width, histH-4))
	return b.String()
}

// histogramView draws the latency distribution as horizontal bars over
// logarithmic buckets (powers of two microseconds), which keeps both the
// fast bulk and the slow tail readable.
func histogramView(h *hdrhistogram.Histogram, width, lines int) string {
	if h.TotalCount() == 0 {
		return ""
	}
	type bucket struct {
		lo, hi int64
		n      int64
	}
	var bs []bucket
	for lo := int64(1); lo <= h.Max(); lo *= 2 {
		bs = append(bs, bucket{lo: lo, hi: lo*2 - 1})
	}
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		i := int(math.Log2(float64(max(1, bar.From))))
		if i >= len(bs) {
			i = len(bs) - 1
		}
		bs[i].n += bar.Count
	}
	// Keep the populated span of buckets, merged down to the lines we have.
	first, last := 0, len(bs)-1
	for first < last && bs[first].n == 0 {
		first++
	}
	for last > first && bs[last].n == 0 {
		last--
	}
	bs = bs[first : last+1]
	for len(bs) > lines && lines > 0 {
		merged := make([]bucket, 0, (len(bs)+1)/2)
		for i := 0; i < len(bs); i += 2 {
			m := bs[i]
			if i+1 < len(bs) {
				m.hi, m.n = bs[i+1].hi, m.n+bs[i+1].n
			}
			merged = append(merged, m)
		}
		bs = merged
	}
	var peak int64
	for _, bk := range bs {
		peak = max(peak, bk.n)
	}
	var b strings.Builder
	barW := max(10, width-32)
	for _, bk := range bs {
		w := int(float64(barW) * float64(bk.n) / float64(peak))
		label := fmt.Sprintf("%8s-%-8s", fmtDuration(time.Duration(bk.lo)*time.Microsecond), fmtDuration(time.Duration(bk.hi)*time.Microsecond))
		b.WriteString(fmt.Sprintf("%s %s %d\n", label, strings.Repeat("█", w), bk.n))
	}
	return b.String()
}
