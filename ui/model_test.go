package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

func TestPickerFilterAndAttach(t *testing.T) {
	eng := testEngine()
	m := NewModel(eng, Config{})
	m = update(m, m.Init()())
	if got := len(m.picker.shown); got != 3 {
		t.Fatalf("picker shows %d processes, want 3", got)
	}
	m = update(m, runes("axum"))
	if got := len(m.picker.shown); got != 1 || m.picker.shown[0].PID != 4242 {
		t.Fatalf("filter axum: %+v", m.picker.shown)
	}
	m = update(m, tea.KeyMsg{Type: tea.KeyEsc})
	if m.picker.filter != "" || len(m.picker.shown) != 3 {
		t.Fatalf("esc did not clear the filter")
	}
	m = update(m, tea.KeyMsg{Type: tea.KeyDown}, tea.KeyMsg{Type: tea.KeyDown}, tea.KeyMsg{Type: tea.KeyUp})
	if p, _ := m.picker.selected(); p.PID != 4343 {
		t.Fatalf("cursor on %d, want 4343", p.PID)
	}
	// Attaching a process the engine refuses shows the error and stays in the picker.
	m = update(m, tea.KeyMsg{Type: tea.KeyEnter})
	if m.view != viewPicker || m.err == nil {
		t.Fatalf("failed attach: view %v err %v", m.view, m.err)
	}
	m = update(m, tea.KeyMsg{Type: tea.KeyUp}, tea.KeyMsg{Type: tea.KeyEnter})
	if m.view != viewLive || m.live == nil {
		t.Fatalf("attach: view %v", m.view)
	}
	m = update(m, runes("b"))
	if m.view != viewPicker || !eng.sessions[4242].closed {
		t.Fatalf("detach: view %v closed %v", m.view, eng.sessions[4242].closed)
	}
}

// TestPickerMarkSeveral: space marks processes, enter watches them in one
// session whose spans carry their service; the marks go with the attach.
func TestPickerMarkSeveral(t *testing.T) {
	eng := testEngine()
	m := NewModel(eng, Config{})
	m = update(m, m.Init()())
	m = update(m, tea.KeyMsg{Type: tea.KeySpace}) // 4242, cursor moves to 4343
	m = update(m, tea.KeyMsg{Type: tea.KeySpace}, tea.KeyMsg{Type: tea.KeyUp}, tea.KeyMsg{Type: tea.KeySpace})
	// 4343 marked then unmarked again: only the cursor moved back over it
	if got := m.picker.chosen(); len(got) != 1 || got[0] != 4242 {
		t.Fatalf("marked %v, want [4242]", got)
	}
	m = update(m, tea.KeyMsg{Type: tea.KeyDown}, tea.KeyMsg{Type: tea.KeySpace})
	if got := m.picker.chosen(); len(got) != 2 || got[0] != 4242 || got[1] != 4444 {
		t.Fatalf("marked %v, want [4242 4444]", got)
	}
	if v := m.View(); !strings.Contains(v, "*4242") || !strings.Contains(v, "*4444") || !strings.Contains(v, "marked: 2") {
		t.Fatalf("marks not shown:\n%s", v)
	}
	m = update(m, tea.KeyMsg{Type: tea.KeyEnter})
	if m.view != viewLive || eng.joint == nil || len(m.live.session.Targets()) != 2 {
		t.Fatalf("attach several: view %v joint %v", m.view, eng.joint)
	}
	if len(m.picker.marked) != 0 {
		t.Fatalf("marks kept after attach: %v", m.picker.marked)
	}
	a, c := testSpan(1, "GET", "/users/7", 200, time.Millisecond), testSpan(2, "GET", "/users/8", 200, time.Millisecond)
	c.PID = 4444
	m = update(m, spansMsg{session: eng.joint, spans: []spanRow{newSpanRow(&a), newSpanRow(&c)}})
	if len(m.live.list.rows) != 2 || m.live.list.rows[0].service != "axum-server" || m.live.list.rows[1].service != "reqwest-client" {
		t.Fatalf("rows: %+v", m.live.list.rows)
	}
	if got := len(m.live.stats.routes); got != 2 {
		t.Fatalf("stats: %d routes, want one per service", got)
	}
	f, err := parseFilter("service=reqwest-client")
	if err != nil {
		t.Fatal(err)
	}
	m.live.list.setFilter(f)
	if len(m.live.list.vis) != 1 || m.live.list.rows[m.live.list.vis[0]].span.PID != 4444 {
		t.Fatalf("service filter shows %v", m.live.list.vis)
	}
}

// TestTargetExitBackToPicker: when the watched process exits the UI says
// so and shows the process list again.
func TestTargetExitBackToPicker(t *testing.T) {
	eng := testEngine()
	m := NewModel(eng, Config{PID: 4242})
	m = update(m, m.Init()())
	if m.view != viewLive {
		t.Fatalf("view %v, want live", m.view)
	}
	s := eng.sessions[4242]
	s.err = fmt.Errorf("pid 4242 exited")
	close(s.ch)
	m = update(m, waitSpans(s, nil)())
	if m.view != viewPicker || m.live != nil || !s.closed {
		t.Fatalf("after exit: view %v live %v closed %v", m.view, m.live, s.closed)
	}
	if v := m.View(); !strings.Contains(v, "pid 4242 exited: back to the process list") || !strings.Contains(v, "Rust processes (3)") {
		t.Fatalf("screen after exit:\n%s", v)
	}
}

func TestLiveBufferPauseFollow(t *testing.T) {
	eng := testEngine()
	m := NewModel(eng, Config{PID: 4242, Buffer: 100})
	m = update(m, m.Init()())
	s := eng.sessions[4242]
	batch := func(from, n int) spansMsg {
		rows := make([]spanRow, n)
		for i := range rows {
			sp := testSpan(from+i, "GET", fmt.Sprintf("/r/%d", from+i), 200, time.Millisecond)
			rows[i] = newSpanRow(&sp)
		}
		return spansMsg{session: s, spans: rows}
	}
	m = update(m, batch(0, 150))
	if len(m.live.list.rows) != 100 || m.live.list.rows[0].target != "/r/50" || m.live.total != 150 {
		t.Fatalf("buffer: %d rows, first %s, total %d", len(m.live.list.rows), m.live.list.rows[0].target, m.live.total)
	}
	if m.live.list.cursor != 99 || !m.live.list.follow {
		t.Fatalf("not following: cursor %d", m.live.list.cursor)
	}
	m = update(m, runes("p"), batch(150, 10))
	if len(m.live.list.held) != 10 || m.live.list.rows[99].target != "/r/149" {
		t.Fatalf("pause: held %d, last %s", len(m.live.list.held), m.live.list.rows[99].target)
	}
	m = update(m, runes("p"), batch(160, 1))
	if m.live.list.rows[99].target != "/r/160" || len(m.live.list.held) != 0 {
		t.Fatalf("resume: last %s", m.live.list.rows[99].target)
	}
	m = update(m, runes("k"), runes("k"))
	if m.live.list.follow || m.live.list.cursor != 97 {
		t.Fatalf("scroll up: follow %v cursor %d", m.live.list.follow, m.live.list.cursor)
	}
	m = update(m, batch(161, 5))
	if m.live.list.rows[m.live.list.cursor].target != "/r/158" {
		t.Fatalf("cursor moved off its span: %s", m.live.list.rows[m.live.list.cursor].target)
	}
	m = update(m, tea.KeyMsg{Type: tea.KeyEnter})
	if !m.live.detail.open {
		t.Fatal("enter did not open details")
	}
	m = update(m, tea.KeyMsg{Type: tea.KeyEsc}, runes("G"))
	if m.live.detail.open || !m.live.list.follow {
		t.Fatalf("esc/G: detail %v follow %v", m.live.detail.open, m.live.list.follow)
	}
	if _, cmd := m.Update(runes("q")); cmd == nil {
		t.Fatal("q did not quit")
	}
}

// TestGlobalKeys: q quits and ? opens the help page on every screen,
// unless a filter is being typed (then they are typed); ctrl+c always
// quits, except that any key first closes the help page.
func TestGlobalKeys(t *testing.T) {
	ctrlC := keyOf(tea.KeyCtrlC)
	screens := map[string]func() *Model{
		"picker": func() *Model { m := NewModel(testEngine(), Config{}); return update(m, m.Init()()) },
		"picker filtering": func() *Model {
			m := NewModel(testEngine(), Config{})
			return update(m, m.Init()(), runes("x"))
		},
		"live": func() *Model { m := NewModel(testEngine(), Config{PID: 4242}); return update(m, m.Init()()) },
		"live filtering": func() *Model {
			m := NewModel(testEngine(), Config{PID: 4242})
			return update(m, m.Init()(), runes("/"))
		},
		"attaching": func() *Model { m := NewModel(testEngine(), Config{}); m.view = viewAttaching; return m },
		"help": func() *Model {
			m := NewModel(testEngine(), Config{})
			return update(m, m.Init()(), runes("?"))
		},
	}
	for _, tc := range []struct {
		screen string
		key    tea.KeyMsg
		quit   bool
		help   bool
		typed  string // the filter after the key, if one is typed
	}{
		{"picker", runes("q"), true, false, ""},
		{"picker", runes("?"), false, true, ""},
		{"picker", ctrlC, true, false, ""},
		{"picker filtering", runes("q"), false, false, "xq"},
		{"picker filtering", runes("?"), false, false, "x?"},
		{"picker filtering", ctrlC, true, false, "x"},
		{"live", runes("q"), true, false, ""},
		{"live", runes("?"), false, true, ""},
		{"live", ctrlC, true, false, ""},
		{"live filtering", runes("q"), false, false, "q"},
		{"live filtering", runes("?"), false, false, "?"},
		{"live filtering", ctrlC, true, false, ""},
		{"attaching", runes("q"), true, false, ""},
		{"attaching", runes("?"), false, true, ""},
		{"attaching", runes("x"), false, false, ""},
		{"help", runes("q"), false, false, ""},
		{"help", runes("?"), false, false, ""},
		{"help", ctrlC, false, false, ""},
	} {
		t.Run(tc.screen+" "+tc.key.String(), func(t *testing.T) {
			m := screens[tc.screen]()
			m.err = fmt.Errorf("shown until the next key")
			_, cmd := m.Update(tc.key)
			_, quit := msgOf(cmd).(tea.QuitMsg)
			typed := m.picker.filter
			if m.live != nil {
				typed = m.live.list.input
			}
			if quit != tc.quit || m.helpPage.shown != tc.help || typed != tc.typed || m.err != nil {
				t.Errorf("quit %v help %v typed %q err %v; want %v %v %q", quit, m.helpPage.shown, typed, m.err, tc.quit, tc.help, tc.typed)
			}
		})
	}
}

// TestTransitions: the messages that move between screens, and the
// stale ones that must not.
func TestTransitions(t *testing.T) {
	eng := testEngine()
	m := NewModel(eng, Config{})
	m = update(m, m.Init()())
	// Enter asks twice before the first attach answers: one attach.
	m.Update(attachMsg{[]int{4242}})
	if _, cmd := m.Update(attachMsg{[]int{4444}}); m.view != viewAttaching || cmd != nil {
		t.Fatalf("second attach: view %v cmd %v", m.view, cmd != nil)
	}
	m = update(m, attachedMsg{pids: []int{4242}, session: eng.sessions[4242]})
	if m.view != viewLive || m.live.session != eng.sessions[4242] {
		t.Fatalf("attached: view %v", m.view)
	}
	// A detach asked for twice, or by a session already gone, does nothing.
	m = update(m, detachMsg{eng.sessions[4444]})
	if m.view != viewLive || eng.sessions[4444].closed {
		t.Fatalf("stale detach: view %v", m.view)
	}
	m = update(m, detachMsg{eng.sessions[4242]}, detachMsg{eng.sessions[4242]})
	if m.view != viewPicker || m.live != nil || !eng.sessions[4242].closed {
		t.Fatalf("detach: view %v", m.view)
	}
	// A batch of a closed session is dropped.
	if _, cmd := m.Update(spansMsg{session: eng.sessions[4242]}); cmd != nil || m.view != viewPicker {
		t.Fatalf("stale batch: view %v", m.view)
	}
	m = update(m, errMsg{fmt.Errorf("filter: bad")})
	if v := m.View(); !strings.Contains(v, "error: filter: bad") {
		t.Fatalf("error not shown:\n%s", v)
	}
}
