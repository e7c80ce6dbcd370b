// Package ui is rustscope's terminal UI: pick a Rust process, watch its
// requests live. Only Run and NewModel are exported; everything the UI
// needs from the tracer comes through the Engine interface.
//
// The Model routes messages to the screen shown (the picker or the live
// views) and answers only the global keys (help, quit); each component
// owns its Update, its keys (all from one keyMap) and its help.
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
	help   help.Model // draws the footer
	width  int
	height int
	now    func() time.Time // the clock, replaceable in tests

	view     view
	err      error // shown in the footer until the next key
	picker   *picker
	helpPage *helpPage
	live     *live // nil unless attached
}

// Messages.
type (
	procsMsg struct {
		procs []Process
		err   error
	}
	refreshMsg struct{}
	// attachMsg asks for the processes to be attached (the picker's enter).
	attachMsg   struct{ pids []int }
	attachedMsg struct {
		pids    []int
		session Session
		err     error
	}
	// detachMsg asks for the session to be closed (the live views' b).
	detachMsg struct{ session Session }
	spansMsg  struct {
		session Session
		spans   []spanRow
		closed  bool
	}
	// errMsg shows an error in the footer until the next key.
	errMsg struct{ err error }
)

// NewModel returns the UI model for engine.
func NewModel(engine Engine, cfg Config) *Model {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 10000
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 2 * time.Second
	}
	m := &Model{cfg: cfg, engine: engine, keys: defaultKeyMap(), styles: defaultStyles(), help: help.New(), now: time.Now}
	m.picker = newPicker(m.common())
	m.helpPage = newHelpPage(m.common(), liveKeys{&m.keys}, m.picker)
	m.resize(80, 24)
	return m
}

// common is what the Model shares with a component it makes.
func (m *Model) common() common { return common{styles: &m.styles, keys: &m.keys} }

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

// resize gives the components the screen less the title, status and
// footer lines.
func (m *Model) resize(width, height int) {
	m.width, m.height = width, height
	m.help.Width = width
	m.picker.SetSize(width, height-3)
	if m.live != nil {
		m.live.SetSize(width, height-3)
	}
}

func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
	case tea.KeyMsg:
		return m, m.key(msg)
	case errMsg:
		m.err = msg.err
	case procsMsg:
		m.picker.Update(msg)
		if msg.err != nil {
			m.err = msg.err
		}
		return m, tea.Tick(m.cfg.Refresh, func(time.Time) tea.Msg { return refreshMsg{} })
	case refreshMsg:
		if m.view == viewPicker {
			return m, m.loadProcs()
		}
	case attachMsg:
		if m.view != viewPicker {
			return m, nil // asked twice: the first attach goes on
		}
		m.view = viewAttaching
		return m, m.attach(msg.pids)
	case attachedMsg:
		if msg.err != nil {
			m.err = fmt.Errorf("attach %s: %w", pidList(msg.pids), msg.err)
			m.view = viewPicker
			return m, m.loadProcs()
		}
		m.picker.clearMarks()
		m.live = newLive(m.common(), msg.session, m.cfg.Buffer, m.now)
		m.live.SetSize(m.width, m.height-3)
		m.view = viewLive
		return m, m.live.Init()
	case detachMsg:
		if m.live == nil || msg.session != m.live.session {
			return m, nil // already detached
		}
		if err := msg.session.Close(); err != nil {
			m.err = err
		}
		return m, m.toPicker()
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
			return m, m.toPicker()
		}
		_, cmd := m.live.Update(msg)
		return m, cmd
	}
	return m, nil
}

// toPicker leaves the live views for a fresh process list.
func (m *Model) toPicker() tea.Cmd {
	m.live = nil
	m.view = viewPicker
	return m.loadProcs()
}

// key answers the global keys and passes the others to the screen shown.
func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	m.err = nil
	if m.helpPage.shown {
		_, cmd := m.helpPage.Update(msg)
		return cmd
	}
	if key.Matches(msg, m.keys.ForceQuit) {
		return tea.Quit
	}
	if !m.typing() { // else q and ? are typed into a filter
		switch {
		case key.Matches(msg, m.keys.Help):
			m.helpPage.shown = true
			return nil
		case key.Matches(msg, m.keys.Quit):
			return tea.Quit
		}
	}
	if c := m.active(); c != nil {
		_, cmd := c.Update(msg)
		return cmd
	}
	return nil
}

// active is the component that has the keyboard, nil while attaching.
func (m *Model) active() component {
	switch m.view {
	case viewPicker:
		return m.picker
	case viewLive:
		return m.live
	}
	return nil
}

// typing is true while a filter being typed takes printable keys.
func (m *Model) typing() bool {
	switch m.view {
	case viewPicker:
		return m.picker.typing()
	case viewLive:
		return m.live.typing()
	}
	return false
}

func (m *Model) View() string {
	var body, status string
	title := m.styles.Title.Render("rustscope")
	var keys help.KeyMap = liveKeys{&m.keys} // attaching: what comes next
	switch m.view {
	case viewPicker:
		body, keys = m.picker.View(), m.picker
	case viewAttaching:
		body = "\n  attaching... (loading probes)"
	case viewLive:
		title += " " + m.live.title()
		body, keys, status = m.live.View(), m.live, m.live.status()
	}
	if m.helpPage.shown {
		body = m.helpPage.View()
	}
	footer := m.help.ShortHelpView(keys.ShortHelp())
	if m.err != nil {
		footer = m.styles.Error.Render(clip("error: "+m.err.Error(), m.width))
	}
	if e := m.cfg.StartupError; e != nil { // stays until the user quits
		footer = m.styles.Error.Render(clip(e.Error(), m.width)) + "\n" + footer
	}
	out := []string{title, body}
	if status != "" {
		out = append(out, status)
	}
	out = append(out, footer)
	return fitScreen(strings.Join(out, "\n"), m.width, m.height)
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
