package ui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// helpPage is the ? page, written from the help of the screens: the live
// views' keys one a line (so it fits at 80x24), the picker's as a
// sentence. Any key closes it.
type helpPage struct {
	common
	live, picker help.KeyMap
	shown        bool
}

func newHelpPage(c common, live, picker help.KeyMap) *helpPage {
	return &helpPage{common: c, live: live, picker: picker}
}

func (h *helpPage) Init() tea.Cmd { return nil }

// Update closes the page on any key.
func (h *helpPage) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if _, ok := msg.(tea.KeyMsg); ok {
		h.shown = false
	}
	return h, nil
}

// ShortHelp and FullHelp are empty: the page answers any key alike.
func (h *helpPage) ShortHelp() []key.Binding  { return nil }
func (h *helpPage) FullHelp() [][]key.Binding { return nil }

func (h *helpPage) View() string {
	st := h.styles
	var b strings.Builder
	b.WriteString(st.Header.Render("keys") + "  " + st.Dim.Render("(any key closes this)") + "\n")
	for _, group := range h.live.FullHelp() {
		for _, k := range group {
			fmt.Fprintf(&b, "  %-9s %s\n", k.Help().Key, k.Help().Desc)
		}
	}
	var picker []string
	for _, group := range h.picker.FullHelp() {
		for _, k := range group {
			picker = append(picker, k.Help().Key+" "+k.Help().Desc)
		}
	}
	b.WriteString(st.Dim.Render("  picker: "+strings.Join(picker, ", ")) + "\n")
	return b.String()
}
