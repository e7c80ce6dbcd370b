package ui

import (
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
	routes map[routeKey]*routeStats
	order  []*routeStats // sorted view, rebuilt on demand
	sortBy int           // column index, see statsColumns
	desc   bool
	cursor int
	dirty  bool
}

var statsColumns = []string{"KIND", "METHOD", "ROUTE / PATH", "COUNT", "RATE/s", "ERR%", "P50", "P90", "P99", "MAX"}

func newStatsTable() *statsTable {
	return &statsTable{routes: map[routeKey]*routeStats{}, sortBy: 3, desc: true}
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
		key := routeKey{r.kind, r.method, target}
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

var (
	uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	hexRe  = regexp.MustCompile(`^[0-9a-fA-F]{16,}$`)
)

// routeKey is what a row of the table groups by.
type routeKey struct{ kind, method, target string }

// foldPath replaces path segments that look like identifiers with a
// placeholder, for grouping when the real route template is unknown.
func foldPath(p string) string {
	path, _, _ := strings.Cut(p, "?")
	var b strings.Builder // untouched (no allocation) while nothing folds
	last := 0             // path[:last] is in b once b is used
	for start := 0; start <= len(path); {
		end := strings.IndexByte(path[start:], '/')
		if end < 0 {
			end = len(path)
		} else {
			end += start
		}
		var ph string
		switch s := path[start:end]; {
		case s == "":
		case isDigits(s):
			ph = "{n}"
		case uuidRe.MatchString(s):
			ph = "{uuid}"
		case hexRe.MatchString(s):
			ph = "{hex}"
		}
		if ph != "" {
			b.WriteString(path[last:start])
			b.WriteString(ph)
			last = end
		}
		start = end + 1
	}
	if last == 0 {
		return path
	}
	b.WriteString(path[last:])
	return b.String()
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
