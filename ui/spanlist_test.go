package ui

import (
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer"
)

func TestGRPCRow(t *testing.T) {
	for _, tc := range []struct {
		code   int
		err    bool
		name   string
		status int
	}{{0, false, "OK", 200}, {5, false, "NotFound", 400}, {13, true, "Internal", 500}} {
		s := tracer.Span{Name: "demo.v1.Users/GetUser", Kind: trace.SpanKindServer, Error: tc.err, Attrs: []attribute.KeyValue{
			attribute.String("rpc.system", "grpc"), attribute.Int("rpc.grpc.status_code", tc.code)}}
		r := newSpanRow(&s)
		if r.method != "gRPC" || r.target != "demo.v1.Users/GetUser" || r.code != tc.name || r.status != tc.status {
			t.Errorf("code %d: row %+v", tc.code, r)
		}
	}
}

// TestSpanListUpdate: keys in, list state out (see testLive for the
// rows; the newest, index 4, is under the cursor at start).
func TestSpanListUpdate(t *testing.T) {
	enter, esc, bs, space := keyOf(tea.KeyEnter), keyOf(tea.KeyEsc), keyOf(tea.KeyBackspace), keyOf(tea.KeySpace)
	type state struct {
		cursor         int
		follow, paused bool
		typing         bool
		input, filter  string
		visible        int
	}
	filtered := func(l *spanList) { f, _ := parseFilter("status>=500"); l.setFilter(f) }
	typing := func(l *spanList) { l.startFilter() }
	for _, tc := range []struct {
		name  string
		setup func(*spanList)
		keys  []tea.KeyMsg
		want  state
		err   bool // the last key asks for an error to be shown
	}{
		{"start: following", nil, nil, state{4, true, false, false, "", "", 5}, false},
		{"k scrolls up", nil, []tea.KeyMsg{runes("k")}, state{3, false, false, false, "", "", 5}, false},
		{"up, down back to following", nil, []tea.KeyMsg{keyOf(tea.KeyUp), keyOf(tea.KeyDown)}, state{4, true, false, false, "", "", 5}, false},
		{"j stops at the newest", nil, []tea.KeyMsg{runes("j")}, state{4, true, false, false, "", "", 5}, false},
		{"g goes to the top", nil, []tea.KeyMsg{runes("g")}, state{0, false, false, false, "", "", 5}, false},
		{"home too", nil, []tea.KeyMsg{keyOf(tea.KeyHome)}, state{0, false, false, false, "", "", 5}, false},
		{"G follows again", nil, []tea.KeyMsg{runes("g"), runes("G")}, state{4, true, false, false, "", "", 5}, false},
		{"space pauses", nil, []tea.KeyMsg{space}, state{4, true, true, false, "", "", 5}, false},
		{"p resumes", nil, []tea.KeyMsg{space, runes("p")}, state{4, true, false, false, "", "", 5}, false},
		{"k moves among the matches", filtered, []tea.KeyMsg{runes("k")}, state{1, false, false, false, "", "status>=500", 2}, false},
		{"esc clears the filter", filtered, []tea.KeyMsg{esc}, state{4, true, false, false, "", "", 5}, false},
		{"typing takes every printable key", typing, []tea.KeyMsg{runes("k"), runes("q"), runes("?"), runes("g"), space, runes("p")},
			state{4, true, false, true, "kq?g p", "", 5}, false},
		{"backspace deletes", typing, []tea.KeyMsg{runes("ab"), bs}, state{4, true, false, true, "a", "", 5}, false},
		{"enter applies", typing, []tea.KeyMsg{runes("status>=500"), enter}, state{3, true, false, false, "status>=500", "status>=500", 2}, false},
		{"a bad filter stays typed", typing, []tea.KeyMsg{runes("x>"), enter}, state{4, true, false, true, "x>", "", 5}, true},
		{"esc ends typing, clears", typing, []tea.KeyMsg{runes("status>=500"), esc}, state{4, true, false, false, "", "", 5}, false},
		{"typing starts from the filter", func(l *spanList) { filtered(l); typing(l) }, []tea.KeyMsg{runes(" kind=server")},
			state{3, true, false, true, "status>=500 kind=server", "status>=500", 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := testLive().list
			if tc.setup != nil {
				tc.setup(l)
			}
			var msg tea.Msg
			for _, k := range tc.keys {
				_, cmd := l.Update(k)
				msg = msgOf(cmd)
			}
			got := state{l.cursor, l.follow, l.paused, l.typing, l.input, l.filter.src, len(l.vis)}
			if _, isErr := msg.(errMsg); got != tc.want || isErr != tc.err {
				t.Errorf("got %+v (msg %v), want %+v (error %v)", got, msg, tc.want, tc.err)
			}
		})
	}
}

// TestDetailPaneUpdate: enter opens and closes the pane, esc closes it;
// closed, the pane does not take esc (the list clears its filter).
func TestDetailPaneUpdate(t *testing.T) {
	for _, tc := range []struct {
		open       bool
		key        tea.KeyMsg
		takes      bool
		wantOpen   bool
		wantListed bool // the pane is shown
	}{
		{false, keyOf(tea.KeyEnter), true, true, true},
		{true, keyOf(tea.KeyEnter), true, false, false},
		{true, keyOf(tea.KeyEsc), true, false, false},
		{false, keyOf(tea.KeyEsc), false, false, false},
		{true, runes("k"), false, true, true},
		{true, runes("s"), false, true, true},
	} {
		d := testLive().detail
		d.open = tc.open
		taken := takes(d, tc.key)
		if taken {
			d.Update(tc.key)
		}
		if taken != tc.takes || d.open != tc.wantOpen || d.shown() != tc.wantListed {
			t.Errorf("open %v, %q: takes %v open %v shown %v; want %v %v %v", tc.open, tc.key, taken, d.open, d.shown(), tc.takes, tc.wantOpen, tc.wantListed)
		}
	}
	// Open on nothing (the filter hides every span): the pane is not shown.
	d := testLive().detail
	d.open = true
	d.list.setFilter(filter{src: "x", terms: []term{{value: "nothing-matches"}}})
	if d.shown() || d.View() != "" {
		t.Errorf("pane shown with no span selected")
	}
}
