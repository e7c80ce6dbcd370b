// The previous report's figures, for the before/after table: from the
// marker a report of this bench writes, or, for a report from before the
// marker, from its tables.

package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// figuresBegin opens the marker: an HTML comment, one "key=value" a line,
// the keys those of goalRow.
const figuresBegin = "<!-- bench:figures"

// addedMethod is how this bench measures the added target CPU, as the
// marker says: a report without it measured it from sequential untraced
// and traced phases.
const addedMethod = "twins"

// figures are one report's key figures.
type figures struct {
	date   string
	from   string // how they were read: "marker" or "tables"
	method string // how the added target CPU was measured ("": sequential phases)
	v      map[string]float64
}

// figuresMarker is the marker for rows, measured on date.
func figuresMarker(date string, rows []goalRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s date=%s method=%s\n", figuresBegin, date, addedMethod)
	for _, g := range rows {
		if g.ran {
			fmt.Fprintf(&b, "%s=%g\n", g.key, g.value)
		}
	}
	b.WriteString("-->\n")
	return b.String()
}

// parseFigures reads doc's figures: its marker, or its tables.
func parseFigures(doc string) (figures, bool) {
	if f, ok := markerFigures(doc); ok {
		return f, true
	}
	return tableFigures(doc)
}

func markerFigures(doc string) (figures, bool) {
	i := strings.Index(doc, figuresBegin)
	if i < 0 {
		return figures{}, false
	}
	body, _, ok := strings.Cut(doc[i+len(figuresBegin):], "-->")
	if !ok {
		return figures{}, false
	}
	f := figures{from: "marker", v: map[string]float64{}}
	for _, field := range strings.Fields(body) {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			continue
		}
		switch k {
		case "date":
			f.date = v
			continue
		case "method":
			f.method = v
			continue
		}
		if x, err := strconv.ParseFloat(v, 64); err == nil {
			f.v[k] = x
		}
	}
	return f, true
}

// mdTable is one markdown table: its header cells and rows of cells.
type mdTable struct {
	header []string
	rows   [][]string
}

// mdTables are doc's tables, in order.
func mdTables(doc string) []mdTable {
	var out []mdTable
	var cur *mdTable
	for _, l := range strings.Split(doc, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "|") {
			cur = nil
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case cur == nil:
			out = append(out, mdTable{header: cells})
			cur = &out[len(out)-1]
		case strings.HasPrefix(cells[0], "---"):
		default:
			cur.rows = append(cur.rows, cells)
		}
	}
	return out
}

// cell is row's value in the column named col ("" if none).
func (t mdTable) cell(row []string, col string) string {
	for i, h := range t.header {
		if h == col && i < len(row) {
			return row[i]
		}
	}
	return ""
}

func (t mdTable) has(col string) bool {
	for _, h := range t.header {
		if h == col {
			return true
		}
	}
	return false
}

// number is the number s starts with ("25.0%", "57.2 MB", "5000/s").
func number(s string) (float64, bool) {
	end := 0
	for end < len(s) && strings.ContainsRune("+-.0123456789", rune(s[end])) {
		end++
	}
	x, err := strconv.ParseFloat(s[:end], 64)
	return x, err == nil
}

// tableFigures reads the figures of a report written before the marker
// (docs/performance.md up to 2026-11): its tables' columns as they were.
func tableFigures(doc string) (figures, bool) {
	f := figures{from: "tables", v: map[string]float64{}}
	for _, l := range strings.Split(doc, "\n") {
		if d, ok := strings.CutPrefix(l, "- Date: "); ok {
			f.date = strings.TrimSpace(d)
		}
	}
	for _, t := range mdTables(doc) {
		switch {
		case t.has("program") && t.has("us / request"):
			oldBPF(t, f.v)
		case t.has("ratio") && t.has("rustscope CPU / request"):
			oldSaturation(t, f.v)
		case t.has("rate") && t.has("target CPU / request"):
			oldFixedRate(t, f.v)
		case t.has("target") && t.has("measured"):
			oldTargets(t, f.v)
		}
	}
	return f, len(f.v) > 0
}

func oldBPF(t mdTable, v map[string]float64) {
	for _, row := range t.rows {
		if row[0] == "all" {
			if x, ok := number(t.cell(row, "us / request")); ok {
				v["bpf_users_us"] = x
			}
		}
	}
}

// oldSaturation: the ratio headless, and the TUI's CPU per request (the
// old report measured the TUI at saturation only).
func oldSaturation(t mdTable, v map[string]float64) {
	for _, row := range t.rows {
		switch {
		case strings.HasPrefix(row[0], "headless, OTLP"):
			if x, ok := number(t.cell(row, "ratio")); ok {
				v["ratio_headless"] = x
			}
		case strings.HasPrefix(row[0], "TUI"):
			if x, ok := number(t.cell(row, "rustscope CPU / request")); ok {
				v["tracer_tui_us"] = x
			}
		}
	}
}

// oldFixedRate: the fixed-rate table's headless and untraced rows, at
// 5,000/s on /users and on the client-call path.
func oldFixedRate(t mdTable, v map[string]float64) {
	cpu := map[string]float64{} // by "config rate", "/call" appended for the call path
	for _, row := range t.rows {
		rate, _ := number(t.cell(row, "rate"))
		c, _, _ := strings.Cut(row[0], ", `")
		key := fmt.Sprintf("%s %.0f", c, rate)
		if strings.Contains(row[0], "/call/") {
			key += " /call"
		}
		cpu[key], _ = number(t.cell(row, "target CPU / request"))
		if !strings.HasPrefix(row[0], "headless, OTLP") || strings.Contains(row[0], "/call/") {
			continue
		}
		if rate == usersRate {
			pct, _ := number(t.cell(row, "rustscope CPU"))
			v["tracer_headless_us"] = pct / 100 * 1e6 / rate
			v["rss_mb"], _ = number(t.cell(row, "RSS steady"))
		}
		reqs, _ := number(t.cell(row, "requests"))
		spans, _ := number(t.cell(row, "spans received"))
		lost, _ := number(t.cell(row, "ring records lost"))
		drops, _ := number(t.cell(row, "export drops"))
		if reqs > 0 && spans >= reqs && lost == 0 && drops == 0 {
			v["zero_loss_rate"] = max(v["zero_loss_rate"], rate)
		}
	}
	on, off := cpu["headless, OTLP to a local sink 5000"], cpu["untraced 5000"]
	if on > 0 && off > 0 {
		v["target_added_us"] = on - off
	}
	on, off = cpu["headless, OTLP to a local sink 2000 /call"], cpu["untraced 2000 /call"]
	if on > 0 && off > 0 {
		v["call_added_us"] = on - off
	}
}

func oldTargets(t mdTable, v map[string]float64) {
	for _, row := range t.rows {
		if !strings.HasPrefix(row[0], "attach request to probes live") {
			continue
		}
		first, _, _ := strings.Cut(t.cell(row, "measured"), " ") // "812ms (worst of 3)"
		if d, err := time.ParseDuration(first); err == nil {
			v["attach_ms"] = float64(d) / float64(time.Millisecond)
		}
	}
}
