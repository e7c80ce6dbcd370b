package main

import (
	"maps"
	"strings"
	"testing"
)

// oldReport is docs/performance.md as the bench wrote it before the
// figures marker (2026-11-21), its tables cut to the rows read.
const oldReport = `# Performance

- Date: 2026-11-21
- Machine: 2 x Intel(R) Xeon(R) Processor, 24 GiB, Linux 6.18.44-fc-v445

## Targets

| target | goal | measured | |
| --- | --- | --- | --- |
| throughput traced / untraced at saturation (headless) | >= 0.95 | 0.530 | **missed** |
| attach request to probes live, 60 MB debug binary | <= 1 s | 812ms (worst of 3) | met |

## Throughput and latency at saturation

| config | requests/s | ratio | p50 | p99 | target CPU / request | rustscope CPU / request |
| --- | --- | --- | --- | --- | --- | --- |
| untraced | 29969 | 1.000 | 846 us | 5745 us | 21.0 us | 0.0 us |
| headless, OTLP to a local sink | 15888 | 0.530 | 1692 us | 7541 us | 23.9 us | 43.6 us |
| TUI in a pseudo-terminal | 18269 | 0.610 | 1380 us | 7583 us | 28.7 us | 25.6 us |

### BPF programs per request

| program | runs / request | ns / run | us / request |
| --- | --- | --- | --- |
| exit_writev | 1.00 | 2369 | 2.37 |
| all | | | 6.85 |

## rustscope's own cost at a fixed rate

| config | rate | seconds | requests | p50 | p99 | target CPU / request | rustscope CPU | RSS steady | RSS peak | spans received | ring records lost | export drops |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
| untraced | 5000/s | 20 | 100001 | 257 us | 2769 us | 36.5 us | | | | | | |
| headless, --wire-only (no uprobes) | 5000/s | 20 | 100001 | 367 us | 9103 us | 45.8 us | 25.4% | 56.9 MB | 61.4 MB | 100001 | 0 | 0 |
| headless, OTLP to a local sink | 1000/s | 20 | 20001 | 231 us | 890 us | 92.5 us | 5.7% | 53.2 MB | 57.0 MB | 20001 | 0 | 0 |
| headless, OTLP to a local sink | 5000/s | 60 | 300001 | 294 us | 4515 us | 42.6 us | 25.0% | 57.2 MB | 61.0 MB | 300001 | 0 | 0 |
| untraced, ` + "`/call/http/N`" + ` (a client call per request) | 2000/s | 20 | 40001 | 396 us | 757 us | 119.0 us | | | | | | |
| headless, OTLP to a local sink, ` + "`/call/http/N`" + ` (a client call per request) | 2000/s | 20 | 40001 | 553 us | 5011 us | 180.2 us | 20.3% | 56.7 MB | 60.9 MB | 80002 | 0 | 0 |
`

func TestParseFigures(t *testing.T) {
	old := map[string]float64{"bpf_users_us": 6.85, "ratio_headless": 0.53, "tracer_tui_us": 25.6, "target_added_us": 6.1,
		"call_added_us": 61.2, "tracer_headless_us": 50, "rss_mb": 57.2, "zero_loss_rate": 5000, "attach_ms": 812}
	marked := figuresMarker("2026-12-02", []goalRow{
		{key: "bpf_users_us", value: 1.25, ran: true},
		{key: "target_added_us", value: -0.5, ran: true},
		{key: "zero_loss_rate", value: 20000, ran: true},
		{key: "ratio_headless", ran: true}, // measured as 0: kept
		{key: "rss_mb"},                    // not measured: left out
	})
	newer := map[string]float64{"bpf_users_us": 1.25, "target_added_us": -0.5, "zero_loss_rate": 20000, "ratio_headless": 0}
	sequential := strings.Replace(marked, " method="+addedMethod, "", 1) // a marker from before the twins
	for _, tc := range []struct {
		name, doc          string
		ok                 bool
		date, from, method string
		want               map[string]float64
	}{
		{name: "the old report's tables", doc: oldReport, ok: true, date: "2026-11-21", from: "tables", want: old},
		{name: "a marker", doc: "# Performance\n\n" + marked, ok: true, date: "2026-12-02", from: "marker", method: "twins", want: newer},
		{name: "a marker wins over tables", doc: oldReport + "\n" + marked, ok: true, date: "2026-12-02", from: "marker", method: "twins", want: newer},
		{name: "a marker without the method", doc: sequential, ok: true, date: "2026-12-02", from: "marker", want: newer},
		{name: "no report", doc: ""},
		{name: "no figures", doc: "# Performance\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n"},
		{name: "an unclosed marker", doc: figuresBegin + " date=x\nrss_mb=3\n"},
	} {
		f, ok := parseFigures(tc.doc)
		if ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if f.date != tc.date || f.from != tc.from || f.method != tc.method {
			t.Errorf("%s: date %q from %q method %q, want %q from %q method %q", tc.name, f.date, f.from, f.method, tc.date, tc.from, tc.method)
		}
		if !maps.EqualFunc(f.v, tc.want, near) {
			t.Errorf("%s: figures\n%v\nwant\n%v", tc.name, f.v, tc.want)
		}
	}
}

func TestMDTables(t *testing.T) {
	tables := mdTables("text\n| a | b |\n| --- | --- |\n| 1 | 2 |\n|  3|4 |\n\n| c |\n| --- |\n")
	if len(tables) != 2 {
		t.Fatalf("%d tables, want 2: %v", len(tables), tables)
	}
	a := tables[0]
	if got := strings.Join(a.header, ","); got != "a,b" || len(a.rows) != 2 || a.cell(a.rows[1], "b") != "4" || a.cell(a.rows[0], "z") != "" {
		t.Errorf("first table: %+v", a)
	}
	if len(tables[1].rows) != 0 {
		t.Errorf("second table has rows: %+v", tables[1])
	}
}

func TestNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"25.0%", 25, true}, {"57.2 MB", 57.2, true}, {"5000/s", 5000, true}, {"-3.2 us", -3.2, true}, {"", 0, false}, {"n/a", 0, false},
	} {
		got, ok := number(tc.in)
		if ok != tc.ok || !near(got, tc.want) {
			t.Errorf("number(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
