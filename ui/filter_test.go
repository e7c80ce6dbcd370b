package ui

import (
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

func TestFilterMatch(t *testing.T) {
	srv := testSpan(1, "GET", "/users/42", 503, 150*time.Millisecond)
	srv.Attrs = append(srv.Attrs, attribute.String("url.query", "a=REDACTED"))
	cli := testSpan(2, "POST", "/orders", 201, 2*time.Millisecond)
	cli.Kind = trace.SpanKindClient
	rs, rc := newSpanRow(&srv), newSpanRow(&cli)
	for _, tc := range []struct {
		expr     string
		srv, cli bool
	}{
		{"", true, true},
		{"users", true, false},
		{"USERS", true, false},
		{"status>=500", true, false},
		{"status<300", false, true},
		{"status=201", false, true},
		{"status!=201", true, false},
		{"route~users", true, false},
		{"path~ord", false, true},
		{"dur>100ms", true, false},
		{"dur<=2ms", false, true},
		{"kind=client", false, true},
		{"kind=server method=get", true, false},
		{"method=get status>=500 users", true, false},
		{"method=get status<500", false, false},
		{"url.query~redacted", true, false},
		{"url.query!=x", true, true},
	} {
		f, err := parseFilter(tc.expr)
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		if got := f.match(&rs); got != tc.srv {
			t.Errorf("%q on server span: %v, want %v", tc.expr, got, tc.srv)
		}
		if got := f.match(&rc); got != tc.cli {
			t.Errorf("%q on client span: %v, want %v", tc.expr, got, tc.cli)
		}
	}
	for _, bad := range []string{"dur>fast", "status>=abc", "route>x"} {
		if _, err := parseFilter(bad); err == nil {
			t.Errorf("%q parsed without error", bad)
		}
	}
}

func TestLiveFilterKeys(t *testing.T) {
	eng := testEngine()
	m := NewModel(eng, Config{PID: 4242})
	m = update(m, m.Init()())
	var rows []spanRow
	for i, st := range []int{200, 500, 404, 503, 200} {
		sp := testSpan(i, "GET", "/r", st, time.Millisecond)
		rows = append(rows, newSpanRow(&sp))
	}
	m = update(m, spansMsg{session: eng.sessions[4242], spans: rows})
	m = update(m, runes("/"))
	for _, r := range "status>=500" {
		m = update(m, runes(string(r)))
	}
	m = update(m, tea.KeyMsg{Type: tea.KeyEnter})
	if m.live.list.typing || len(m.live.list.vis) != 2 {
		t.Fatalf("typing %v, %d visible, want 2", m.live.list.typing, len(m.live.list.vis))
	}
	if r, _ := m.live.list.selected(); r.status != 503 {
		t.Fatalf("cursor on %d, want the newest match 503", r.status)
	}
	m = update(m, runes("k"))
	if r, _ := m.live.list.selected(); r.status != 500 {
		t.Fatalf("k moved to %d, want 500", r.status)
	}
	// New spans: only matching ones become visible.
	sp := testSpan(9, "GET", "/r", 502, time.Millisecond)
	m = update(m, spansMsg{session: eng.sessions[4242], spans: []spanRow{newSpanRow(&sp)}})
	if len(m.live.list.vis) != 3 {
		t.Fatalf("%d visible after a new 502, want 3", len(m.live.list.vis))
	}
	m = update(m, runes("/"), runes("x"), runes(">"), tea.KeyMsg{Type: tea.KeyEnter})
	if m.err == nil || !m.live.list.typing {
		t.Fatalf("bad filter accepted: err %v typing %v", m.err, m.live.list.typing)
	}
	m = update(m, tea.KeyMsg{Type: tea.KeyEsc})
	if m.live.list.typing || !m.live.list.filter.empty() || len(m.live.list.vis) != 6 {
		t.Fatalf("esc: typing %v filter %q visible %d", m.live.list.typing, m.live.list.filter.src, len(m.live.list.vis))
	}
}
