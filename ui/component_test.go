package ui

import (
	"reflect"
	"testing"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// testCommon is what a component shares with a Model, for a component
// tested on its own.
func testCommon() common {
	st, k := defaultStyles(), defaultKeyMap()
	return common{styles: &st, keys: &k, width: 100, height: 20}
}

func keyOf(t tea.KeyType) tea.KeyMsg { return tea.KeyMsg{Type: t} }

// msgOf is what cmd delivers, nil for no command.
func msgOf(cmd tea.Cmd) tea.Msg {
	if cmd == nil {
		return nil
	}
	return cmd()
}

// testLive is the live views of the one-process session of pid 4242 with
// five spans, statuses 200, 500, 404, 503, 200 (paths /r/a .. /r/e, five routes).
func testLive() *live {
	l := newLive(testCommon(), testEngine().sessions[4242], 100, func() time.Time { return t0 })
	var rows []spanRow
	for i, st := range []int{200, 500, 404, 503, 200} {
		sp := testSpan(i, "GET", "/r/"+string(rune('a'+i)), st, time.Millisecond)
		rows = append(rows, newSpanRow(&sp))
	}
	l.add(rows)
	return l
}

// Every binding has keys and help text: the help views render from them.
func TestKeyMapComplete(t *testing.T) {
	k := reflect.ValueOf(defaultKeyMap())
	for i := range k.NumField() {
		b := k.Field(i).Interface().(key.Binding)
		if len(b.Keys()) == 0 || b.Help().Key == "" || b.Help().Desc == "" {
			t.Errorf("%s: keys %q help %+v", k.Type().Field(i).Name, b.Keys(), b.Help())
		}
	}
}

func TestTyped(t *testing.T) {
	keys := defaultKeyMap()
	for _, tc := range []struct {
		in        string
		msg       tea.KeyMsg
		withSpace bool
		want      string
		ok        bool
	}{
		{"ab", runes("c"), false, "abc", true},
		{"ab", runes("q?"), false, "abq?", true},
		{"ab", keyOf(tea.KeyBackspace), false, "a", true},
		{"", keyOf(tea.KeyBackspace), false, "", true},
		{"dur>1µ", keyOf(tea.KeyBackspace), false, "dur>1", true},
		{"ab", keyOf(tea.KeySpace), true, "ab ", true},
		{"ab", keyOf(tea.KeySpace), false, "ab", false},
		{"ab", keyOf(tea.KeyEnter), true, "ab", false},
		{"ab", keyOf(tea.KeyUp), true, "ab", false},
	} {
		got, ok := typed(tc.in, tc.msg, &keys, tc.withSpace)
		if got != tc.want || ok != tc.ok {
			t.Errorf("typed(%q, %q, space %v) = %q, %v; want %q, %v", tc.in, tc.msg, tc.withSpace, got, ok, tc.want, tc.ok)
		}
	}
}
