// Package ui is rustscope's terminal UI: pick a Rust process, watch its
// requests live. Only Run and NewModel are exported; everything the UI
// needs from the tracer comes through the Engine interface.
package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// Config configures the UI.
type Config struct {
	// Buffer is how many spans the live view keeps (oldest dropped).
	Buffer int
	// PID, if set, attaches at start instead of showing the picker.
	PID int
	// Refresh is the picker's refresh interval.
	Refresh time.Duration
	// StartupError is shown at start (for example: no permission to load
	// BPF programs); the picker still works.
	StartupError error
}

type view int

const (
	viewPicker view = iota
	viewAttaching
	viewLive
)

// Model is the top-level bubbletea model.
type Model struct {
	cfg    Config
	engine Engine
	keys   keyMap
	styles styles
	help   help.Model
	width  int
	height int
	now    func() time.Time // the clock, replaceable in tests

	view     view
	showHelp bool
	err      error // shown in the footer until the next key
	picker   picker
	live     *live
}

// Messages.
type (
	procsMsg struct {
		procs []Process
		err   error
	}
	refreshMsg  struct{}
	attachedMsg struct {
		pids    []int
		session Session
		err     error
	}
	spansMsg struct {
		session Session
		spans   []spanRow
		closed  bool
	}
)

// NewModel returns the UI model for engine.
func NewModel(engine Engine, cfg Config) *Model {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 10000
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 2 * time.Second
	}
	m := &Model{cfg: cfg, engine: engine, keys: defaultKeys(), styles: defaultStyles(), help: help.New(), width: 80, height: 24, now: time.Now}
	return m
}

// Run runs the UI on the terminal until the user quits.
func Run(engine Engine, cfg Config) error {
	m := NewModel(engine, cfg)
	_, err := tea.NewProgram(m, tea.WithAltScreen()).Run()
	if m.live != nil {
		m.live.session.Close()
	}
	if err != nil {
		return fmt.Errorf("run terminal UI: %w", err)
	}
	return nil
}

func (m *Model) Init() tea.Cmd {
	if m.cfg.PID > 0 && m.cfg.StartupError == nil {
		m.view = viewAttaching
		return m.attach([]int{m.cfg.PID})
	}
	return m.loadProcs()
}

func (m *Model) loadProcs() tea.Cmd {
	return func() tea.Msg {
		procs, err := m.engine.Processes()
		return procsMsg{procs, err}
	}
}

func (m *Model) attach(pids []int) tea.Cmd {
	return func() tea.Msg {
		s, err := m.engine.Attach(pids)
		return attachedMsg{pids, s, err}
	}
}

// waitSpans is re-armed after every batch: the one goroutine that touches
// the model is bubbletea's.
func waitSpans(s Session) tea.Cmd {
	return func() tea.Msg {
		batch, ok := <-s.Spans()
		if !ok {
			return spansMsg{session: s, closed: true}
		}
		rows := make([]spanRow, len(batch))
		for i := range batch {
			rows[i] = newSpanRow(&batch[i])
		}
		return spansMsg{session: s, spans: rows}
	}
}

func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
		return m, nil
	case procsMsg:
		m.picker.set(msg.procs)
		if msg.err != nil {
			m.err = msg.err
		}
		return m, tea.Tick(m.cfg.Refresh, func(time.Time) tea.Msg { return refreshMsg{} })
	case refreshMsg:
		if m.view == viewPicker {
			return m, m.loadProcs()
		}
		return m, nil
	case attachedMsg:
		if msg.err != nil {
			m.err = fmt.Errorf("attach %s: %w", pidList(msg.pids), msg.err)
			m.view = viewPicker
			return m, m.loadProcs()
		}
		m.picker.clearMarks()
		m.live = newLive(msg.session, m.cfg.Buffer, m.now)
		m.view = viewLive
		return m, waitSpans(msg.session)
	case spansMsg:
		if m.live == nil || msg.session != m.live.session {
			return m, nil // a batch from a session already closed
		}
		if msg.closed {
			// The watched processes are gone (Close sends no batch): say
			// so and offer the others.
			m.err = fmt.Errorf("session ended")
			if err := msg.session.Err(); err != nil {
				m.err = fmt.Errorf("%w: back to the process list", err)
			}
			msg.session.Close()
			m.live = nil
			m.view = viewPicker
			return m, m.loadProcs()
		}
		m.live.add(msg.spans)
		return m, waitSpans(msg.session)
	case tea.KeyMsg:
		return m.key(msg)
	}
	return m, nil
}

func (m *Model) key(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	m.err = nil
	if m.showHelp {
		m.showHelp = false // any key closes help
		return m, nil
	}
	switch {
	case msg.Type == tea.KeyCtrlC:
		return m, tea.Quit
	case key.Matches(msg, m.keys.Help) && !m.typingFilter():
		m.showHelp = true
		return m, nil
	}
	switch m.view {
	case viewPicker:
		return m.pickerKey(msg)
	case viewLive:
		return m.liveKey(msg)
	}
	if key.Matches(msg, m.keys.Quit) {
		return m, tea.Quit
	}
	return m, nil
}

// typingFilter is true while the picker's filter takes printable keys.
func (m *Model) typingFilter() bool { return m.view == viewPicker && m.picker.filter != "" }

func (m *Model) pickerKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	// Printable keys type into the filter, so only arrows move here; q
	// quits while the filter is empty.
	if msg.Type == tea.KeyRunes {
		if m.picker.filter == "" && key.Matches(msg, m.keys.Quit) {
			return m, tea.Quit
		}
		m.picker.setFilter(m.picker.filter + string(msg.Runes))
		return m, nil
	}
	switch msg.Type {
	case tea.KeyUp:
		m.picker.move(-1)
	case tea.KeyDown:
		m.picker.move(1)
	case tea.KeySpace:
		m.picker.toggleMark()
	case tea.KeyEnter:
		if pids := m.picker.chosen(); len(pids) > 0 {
			m.view = viewAttaching
			return m, m.attach(pids)
		}
	case tea.KeyEsc:
		m.picker.setFilter("")
	case tea.KeyBackspace:
		if f := []rune(m.picker.filter); len(f) > 0 {
			m.picker.setFilter(string(f[:len(f)-1]))
		}
	}
	return m, nil
}

func (m *Model) liveKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	l := m.live
	if l.typing {
		switch msg.Type {
		case tea.KeyEnter:
			f, err := parseFilter(l.input)
			if err != nil {
				m.err = fmt.Errorf("filter: %w", err)
				return m, nil
			}
			l.typing = false
			l.setFilter(f)
		case tea.KeyEsc:
			l.typing, l.input = false, ""
			l.setFilter(filter{})
		case tea.KeyBackspace:
			if r := []rune(l.input); len(r) > 0 {
				l.input = string(r[:len(r)-1])
			}
		case tea.KeySpace:
			l.input += " "
		case tea.KeyRunes:
			l.input += string(msg.Runes)
		}
		return m, nil
	}
	if key.Matches(msg, m.keys.Filter) {
		l.typing, l.input, l.showStats = true, l.filter.src, false
		return m, nil
	}
	if l.showStats {
		switch {
		case key.Matches(msg, m.keys.Up):
			l.stats.move(-1)
			return m, nil
		case key.Matches(msg, m.keys.Down):
			l.stats.move(1)
			return m, nil
		case key.Matches(msg, m.keys.Sort):
			col := int(msg.Runes[0] - '1')
			if msg.Runes[0] == '0' {
				col = 9
			}
			l.stats.sortOn(col)
			return m, nil
		case key.Matches(msg, m.keys.Stats), key.Matches(msg, m.keys.Back):
			l.showStats = false
			return m, nil
		}
	}
	switch {
	case key.Matches(msg, m.keys.Quit):
		return m, tea.Quit
	case key.Matches(msg, m.keys.Stats):
		l.showStats, l.detail = true, false
	case key.Matches(msg, m.keys.Up):
		l.move(-1)
	case key.Matches(msg, m.keys.Down):
		l.move(1)
	case key.Matches(msg, m.keys.Top):
		l.move(-len(l.vis))
	case key.Matches(msg, m.keys.Bottom):
		l.follow = true
		l.refilter()
	case key.Matches(msg, m.keys.Pause):
		l.paused = !l.paused
	case key.Matches(msg, m.keys.Enter):
		l.detail = !l.detail
	case key.Matches(msg, m.keys.Back):
		if l.detail {
			l.detail = false
		} else {
			l.setFilter(filter{})
		}
	case key.Matches(msg, m.keys.Detach):
		if err := l.session.Close(); err != nil {
			m.err = err
		}
		m.live = nil
		m.view = viewPicker
		return m, m.loadProcs()
	}
	return m, nil
}

func (m *Model) View() string {
	var body string
	title := m.styles.Title.Render("rustscope")
	switch m.view {
	case viewPicker:
		body = m.picker.view(m.styles, m.width, m.height-3)
	case viewAttaching:
		body = "\n  attaching... (loading probes)"
	case viewLive:
		title += " " + m.live.title()
		body = m.live.view(m.styles, m.width, m.height-3)
	}
	if m.showHelp {
		body = m.helpView()
	}
	footer := m.help.ShortHelpView(m.keys.ShortHelp())
	if m.view == viewPicker {
		footer = m.help.ShortHelpView(m.keys.PickerHelp())
	}
	if m.err != nil {
		footer = m.styles.Error.Render(clip("error: "+m.err.Error(), m.width))
	}
	if e := m.cfg.StartupError; e != nil { // stays until the user quits
		footer = m.styles.Error.Render(clip(e.Error(), m.width)) + "\n" + footer
	}
	status := ""
	if m.view == viewLive {
		status = m.live.status(m.styles, m.width)
	}
	out := []string{title, body}
	if status != "" {
		out = append(out, status)
	}
	out = append(out, footer)
	return fitScreen(strings.Join(out, "\n"), m.width, m.height)
}

// helpView lists every key on its own line, so it fits at 80x24.
func (m *Model) helpView() string {
	var b strings.Builder
	b.WriteString(m.styles.Header.Render("keys") + "  " + m.styles.Dim.Render("(any key closes this)") + "\n")
	for _, group := range m.keys.FullHelp() {
		for _, k := range group {
			h := k.Help()
			fmt.Fprintf(&b, "  %-9s %s\n", h.Key, h.Desc)
		}
	}
	b.WriteString(m.styles.Dim.Render("  picker: type to filter, space marks (watch several), enter attaches, esc clears") + "\n")
	return b.String()
}

// fitScreen cuts s to at most h lines of at most w cells, so the alt screen
// never scrolls or wraps whatever a view renders.
func fitScreen(s string, w, h int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if h > 0 && len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		if w > 0 && ansi.StringWidth(l) > w {
			lines[i] = ansi.Truncate(l, w, "…")
		}
	}
	return strings.Join(lines, "\n")
}

// pidList is "pid 1" or "pids 1, 2".
func pidList(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = fmt.Sprint(p)
	}
	if len(s) == 1 {
		return "pid " + s[0]
	}
	return "pids " + strings.Join(s, ", ")
}
