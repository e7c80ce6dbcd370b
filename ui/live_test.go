package ui

import (
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

// TestLiveUpdate: a key goes to the view in front, then to those under
// it; the live views answer the keys that move between them.
func TestLiveUpdate(t *testing.T) {
	enter, esc := keyOf(tea.KeyEnter), keyOf(tea.KeyEsc)
	type state struct {
		view       string // what is drawn: list, detail or stats
		detailOpen bool   // under the statistics too
		typing     bool
		cursor     int // the list's
		statsRow   int
		sortBy     int
		paused     bool
		filter     string
	}
	list := state{view: "list", cursor: 4, sortBy: 3}
	with := func(f func(*state)) state { s := list; f(&s); return s }
	for _, tc := range []struct {
		name   string
		keys   []tea.KeyMsg
		want   state
		detach bool
	}{
		{"start", nil, list, false},
		{"s: statistics", []tea.KeyMsg{runes("s")}, with(func(s *state) { s.view = "stats" }), false},
		{"s again: back", []tea.KeyMsg{runes("s"), runes("s")}, list, false},
		{"esc: back from statistics", []tea.KeyMsg{runes("s"), esc}, list, false},
		{"j moves the statistics", []tea.KeyMsg{runes("s"), runes("j")}, with(func(s *state) { s.view, s.statsRow = "stats", 1 }), false},
		{"digits sort only the statistics", []tea.KeyMsg{runes("1")}, list, false},
		{"digits sort the statistics", []tea.KeyMsg{runes("s"), runes("1")}, with(func(s *state) { s.view, s.sortBy = "stats", 0 }), false},
		{"g moves the list under the statistics", []tea.KeyMsg{runes("s"), runes("g")}, with(func(s *state) { s.view, s.cursor = "stats", 0 }), false},
		{"p pauses under the statistics", []tea.KeyMsg{runes("s"), runes("p")}, with(func(s *state) { s.view, s.paused = "stats", true }), false},
		{"enter: details", []tea.KeyMsg{enter}, with(func(s *state) { s.view, s.detailOpen = "detail", true }), false},
		{"enter again: back", []tea.KeyMsg{enter, enter}, list, false},
		{"k moves the span shown", []tea.KeyMsg{enter, runes("k")}, with(func(s *state) { s.view, s.detailOpen, s.cursor = "detail", true, 3 }), false},
		{"s closes the details", []tea.KeyMsg{enter, runes("s")}, with(func(s *state) { s.view = "stats" }), false},
		{"enter under the statistics opens the details behind",
			[]tea.KeyMsg{runes("s"), enter}, with(func(s *state) { s.view, s.detailOpen = "stats", true }), false},
		{"and leaving the statistics shows them",
			[]tea.KeyMsg{runes("s"), enter, runes("s")}, with(func(s *state) { s.view, s.detailOpen = "detail", true }), false},
		{"/: filter line, statistics closed", []tea.KeyMsg{runes("s"), runes("/")}, with(func(s *state) { s.typing = true }), false},
		{"typed keys do not switch views", []tea.KeyMsg{runes("/"), runes("s"), runes("b"), enter},
			with(func(s *state) { s.filter, s.cursor = "sb", 0 }), false},
		{"esc closes the details, keeps the filter",
			[]tea.KeyMsg{runes("/"), runes("r"), enter, enter, esc}, with(func(s *state) { s.filter = "r" }), false},
		{"esc clears the filter", []tea.KeyMsg{runes("/"), runes("r"), enter, esc}, list, false},
		{"b detaches", []tea.KeyMsg{runes("b")}, list, true},
		{"b detaches from the statistics", []tea.KeyMsg{runes("s"), runes("b")}, with(func(s *state) { s.view = "stats" }), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := testLive()
			var msg tea.Msg
			for _, k := range tc.keys {
				_, cmd := l.Update(k)
				msg = msgOf(cmd)
			}
			view := "list"
			switch {
			case l.stats.shown:
				view = "stats"
			case l.detail.shown():
				view = "detail"
			}
			got := state{view, l.detail.open, l.typing(), l.list.cursor, l.stats.cursor, l.stats.sortBy, l.list.paused, l.list.filter.src}
			_, detach := msg.(detachMsg)
			if got != tc.want || detach != tc.detach {
				t.Errorf("got %+v detach %v, want %+v detach %v", got, detach, tc.want, tc.detach)
			}
		})
	}
}
