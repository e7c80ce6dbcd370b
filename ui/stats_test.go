package ui

import (
	"fmt"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

func TestStatsTable(t *testing.T) {
	st := newStatsTable()
	var rows []spanRow
	for i := range 100 {
		sp := testSpan(i, "GET", fmt.Sprintf("/users/%d", i), 200, time.Duration(i+1)*time.Millisecond)
		rows = append(rows, newSpanRow(&sp))
	}
	for i := range 10 {
		sp := testSpan(i, "POST", "/orders/3f2a9c1e-aaaa-bbbb-cccc-0123456789ab", 503, time.Millisecond)
		rows = append(rows, newSpanRow(&sp))
	}
	now := t0.Add(3 * time.Second)
	st.add(rows, t0)
	got := st.sorted(now)
	if len(got) != 2 {
		t.Fatalf("%d routes, want 2 (paths folded)", len(got))
	}
	users := got[0]
	if users.target != "/users/{n}" || users.count != 100 || users.errors != 0 {
		t.Fatalf("first row %+v", users)
	}
	for q, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 90: 90 * time.Millisecond, 99: 99 * time.Millisecond} {
		if d := users.quantile(q); d < want*98/100 || d > want*102/100 {
			t.Errorf("p%v = %v, want %v ±2%%", q, d, want)
		}
	}
	if got[1].target != "/orders/{uuid}" || got[1].errPct() != 100 {
		t.Errorf("second row %s err %.0f%%", got[1].target, got[1].errPct())
	}
	if r := users.rate(now); r != 10 {
		t.Errorf("rate %.1f/s, want 100 spans over 10 s = 10", r)
	}
	st.sortOn(5) // ERR%, biggest first
	if st.sorted(now)[0].target != "/orders/{uuid}" {
		t.Error("sort by error rate")
	}
	st.sortOn(5) // again: reversed
	if st.sorted(now)[0].target != "/users/{n}" {
		t.Error("reverse sort")
	}
}

func TestSparklines(t *testing.T) {
	st := newStatsTable()
	var rows []spanRow
	for i := range 10 {
		sp := testSpan(i, "GET", "/a", 200, time.Duration(i+1)*time.Millisecond)
		rows = append(rows, newSpanRow(&sp))
	}
	st.add(rows, t0)                        // 10 requests in second t0
	st.add(rows[:5], t0.Add(2*time.Second)) // 5 in t0+2
	r := st.sorted(t0)[0]
	rate, lat := r.sparklines(t0.Add(3*time.Second), 34) // 10 cells: t0-7 .. t0+2
	if got, want := rate, "       █ ▄"; got != want {
		t.Errorf("rate sparkline %q, want %q", got, want)
	}
	if []rune(lat)[7] == ' ' || []rune(lat)[8] != ' ' || []rune(lat)[9] == ' ' {
		t.Errorf("latency sparkline %q: want bars at the two busy seconds only", lat)
	}
	if spark([]float64{0, 1, 2, 4, 8}) != " ▁▂▄█" {
		t.Errorf("spark scale: %q", spark([]float64{0, 1, 2, 4, 8}))
	}
}

// TestStatsViewUpdate: keys in, table state out. Two routes: /r/{n} (4
// spans, 2 errors) and /slow.
func TestStatsViewUpdate(t *testing.T) {
	type state struct {
		cursor, sortBy int
		desc, shown    bool
	}
	for _, tc := range []struct {
		name string
		keys []tea.KeyMsg
		want state
	}{
		{"start: by count, biggest first", nil, state{0, 3, true, true}},
		{"j moves down", []tea.KeyMsg{runes("j")}, state{1, 3, true, true}},
		{"down stops at the last route", []tea.KeyMsg{keyOf(tea.KeyDown), keyOf(tea.KeyDown)}, state{1, 3, true, true}},
		{"k moves up", []tea.KeyMsg{runes("j"), runes("k")}, state{0, 3, true, true}},
		{"4 again reverses", []tea.KeyMsg{runes("4")}, state{0, 3, false, true}},
		{"1 sorts by kind, a-z", []tea.KeyMsg{runes("1")}, state{0, 0, false, true}},
		{"0 sorts by max, biggest first", []tea.KeyMsg{runes("0")}, state{0, 9, true, true}},
		{"s closes", []tea.KeyMsg{runes("s")}, state{0, 3, true, false}},
		{"esc closes", []tea.KeyMsg{keyOf(tea.KeyEsc)}, state{0, 3, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newStatsView(testCommon(), func() time.Time { return t0 })
			var rows []spanRow
			for i, st := range []int{200, 500, 503, 200} {
				sp := testSpan(i, "GET", fmt.Sprintf("/r/%d", i), st, time.Millisecond)
				rows = append(rows, newSpanRow(&sp))
			}
			sp := testSpan(9, "GET", "/slow", 200, time.Second)
			v.add(append(rows, newSpanRow(&sp)), t0)
			v.shown = true
			v.View()
			for _, k := range tc.keys {
				if !takes(v, k) {
					t.Fatalf("%q not taken", k)
				}
				v.Update(k)
			}
			if got := (state{v.cursor, v.sortBy, v.desc, v.shown}); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	v := newStatsView(testCommon(), time.Now)
	for _, k := range []tea.KeyMsg{runes("g"), runes("G"), runes("p"), keyOf(tea.KeyEnter), runes("b")} {
		if takes(v, k) {
			t.Errorf("the statistics take %q: the list's keys work under them", k)
		}
	}
}

func TestFoldPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"/", "/"},
		{"/users", "/users"},
		{"/users/7", "/users/{n}"},
		{"/users/7/", "/users/{n}/"},
		{"/users/7?x=1", "/users/{n}"},
		{"7/x", "{n}/x"},
		{"/a/123/b/456", "/a/{n}/b/{n}"},
		{"/o/0b3e4a5c-1d2f-4a6b-8c9d-0e1f2a3b4c5d", "/o/{uuid}"},
		{"/blob/deadbeefcafebabe0123", "/blob/{hex}"},
		{"/v1/items", "/v1/items"},
	} {
		if got := foldPath(tc.in); got != tc.want {
			t.Errorf("foldPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
