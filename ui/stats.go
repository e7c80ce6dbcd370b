package ui

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histograms track 1 µs to 5 minutes with 2 significant digits:
// about 2 KB per route.
const (
	histMin = 1
	histMax = int64(5 * time.Minute / time.Microsecond)
)

// routeStats are the RED figures of one route (or path, or destination).
type routeStats struct {
	kind, method, target string
	count, errors        int64
	hist                 *hdrhistogram.Histogram // µs
	// recent holds one bucket per second for the last minute: requests
	// and summed latency, for the rate and the sparklines.
	recent [61]struct {
		sec, n, sumUs int64
	}
}

func (r *routeStats) add(row *spanRow, now time.Time) {
	r.count++
	if row.span.Error {
		r.errors++
	}
	us := max(histMin, min(histMax, row.span.Duration().Microseconds()))
	_ = r.hist.RecordValue(us) // in range by construction
	b := &r.recent[now.Unix()%int64(len(r.recent))]
	if b.sec != now.Unix() {
		b.sec, b.n, b.sumUs = now.Unix(), 0, 0
	}
	b.n++
	b.sumUs += us
}

// rate is requests per second over the last ten whole seconds.
func (r *routeStats) rate(now time.Time) float64 {
	var n int64
	for age := int64(1); age <= 10; age++ {
		n += r.second(now.Unix() - age).n
	}
	return float64(n) / 10
}

// second is the bucket of one second of the last minute (zero if empty).
func (r *routeStats) second(sec int64) (b struct{ sec, n, sumUs int64 }) {
	b = r.recent[((sec%int64(len(r.recent)))+int64(len(r.recent)))%int64(len(r.recent))]
	if b.sec != sec {
		b = struct{ sec, n, sumUs int64 }{sec: sec}
	}
	return b
}

// sparklines draws the last minute, one cell per second: requests and
// mean latency.
func (r *routeStats) sparklines(now time.Time, width int) (rate, lat string) {
	n := min(60, max(10, width-24))
	counts := make([]float64, n)
	means := make([]float64, n)
	for i := range n {
		b := r.second(now.Unix() - int64(n-i))
		counts[i] = float64(b.n)
		if b.n > 0 {
			means[i] = float64(b.sumUs) / float64(b.n)
		}
	}
	return spark(counts), spark(means)
}

var sparkBars = []rune(" ▁▂▃▄▅▆▇█")

// spark scales values to bar heights proportionally (a half-peak value
// gets a half bar); zero stays blank.
func spark(vs []float64) string {
	peak := 0.0
	for _, v := range vs {
		peak = max(peak, v)
	}
	out := make([]rune, len(vs))
	for i, v := range vs {
		out[i] = sparkBars[0]
		if v > 0 && peak > 0 {
			top := float64(len(sparkBars) - 1)
			out[i] = sparkBars[int(max(1, math.Ceil(v/peak*top-1e-9)))]
		}
	}
	return string(out)
}

func (r *routeStats) errPct() float64 { return 100 * float64(r.errors) / float64(max(1, r.count)) }

func (r *routeStats) quantile(q float64) time.Duration {
	return time.Duration(r.hist.ValueAtQuantile(q)) * time.Microsecond
}

// statsTable groups every span received into routes. Groups are keyed by
// http.route when known; otherwise by the path with its variable-looking
// segments folded (/users/42 -> /users/{n}), so the table stays small.
type statsTable struct {
	routes map[string]*routeStats
	order  []*routeStats // sorted view, rebuilt on demand
	sortBy int           // column index, see statsColumns
	desc   bool
	cursor int
	dirty  bool
}

var statsColumns = []string{"KIND", "METHOD", "ROUTE / PATH", "COUNT", "RATE/s", "ERR%", "P50", "P90", "P99", "MAX"}

func newStatsTable() *statsTable {
	return &statsTable{routes: map[string]*routeStats{}, sortBy: 3, desc: true}
}

func (t *statsTable) add(rows []spanRow, now time.Time) {
	for i := range rows {
		r := &rows[i]
		target := r.route
		switch {
		case r.kind == "CLI":
			target = r.peer // per destination
		case target == "":
			target = foldPath(r.target)
		}
		if r.service != "" { // several processes: routes per service
			target = r.service + " " + target
		}
		key := r.kind + " " + r.method + " " + target
		st := t.routes[key]
		if st == nil {
			st = &routeStats{kind: r.kind, method: r.method, target: target, hist: hdrhistogram.New(histMin, histMax, 2)}
			t.routes[key] = st
		}
		st.add(r, now)
	}
	t.dirty = true
}

// sortOn sets the sort column; choosing the same one again reverses it.
func (t *statsTable) sortOn(col int) {
	if col == t.sortBy {
		t.desc = !t.desc
	} else {
		t.sortBy, t.desc = col, col >= 3 // numbers: biggest first
	}
	t.dirty = true
}

func (t *statsTable) sorted(now time.Time) []*routeStats {
	if !t.dirty && len(t.order) == len(t.routes) {
		return t.order
	}
	t.order = t.order[:0]
	for _, r := range t.routes {
		t.order = append(t.order, r)
	}
	val := func(r *routeStats) float64 {
		switch t.sortBy {
		case 3:
			return float64(r.count)
		case 4:
			return r.rate(now)
		case 5:
			return r.errPct()
		case 6:
			return float64(r.quantile(50))
		case 7:
			return float64(r.quantile(90))
		case 8:
			return float64(r.quantile(99))
		default:
			return float64(r.hist.Max())
		}
	}
	str := func(r *routeStats) string {
		return [...]string{r.kind, r.method, r.target}[t.sortBy]
	}
	sort.SliceStable(t.order, func(i, j int) bool {
		a, b := t.order[i], t.order[j]
		var less, equal bool
		if t.sortBy < 3 {
			less, equal = str(a) < str(b), str(a) == str(b)
		} else {
			less, equal = val(a) < val(b), val(a) == val(b)
		}
		if equal {
			return a.kind+a.method+a.target < b.kind+b.method+b.target
		}
		return less != t.desc
	})
	t.dirty = false
	t.cursor = min(t.cursor, max(0, len(t.order)-1))
	return t.order
}

func (t *statsTable) move(d int) {
	t.cursor = max(0, min(len(t.routes)-1, t.cursor+d))
}

func (t *statsTable) view(st styles, width, height int, now time.Time) string {
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

func strs(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

var (
	uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	hexRe  = regexp.MustCompile(`^[0-9a-fA-F]{16,}$`)
)

// foldPath replaces path segments that look like identifiers with a
// placeholder, for grouping when the real route template is unknown.
func foldPath(p string) string {
	path, _, _ := strings.Cut(p, "?")
	segs := strings.Split(path, "/")
	for i, s := range segs {
		switch {
		case s == "":
		case isDigits(s):
			segs[i] = "{n}"
		case uuidRe.MatchString(s):
			segs[i] = "{uuid}"
		case hexRe.MatchString(s):
			segs[i] = "{hex}"
		}
	}
	return strings.Join(segs, "/")
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
