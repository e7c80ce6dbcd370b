package ui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

// TestHelpPageUpdate: any key closes the page.
func TestHelpPageUpdate(t *testing.T) {
	c := testCommon()
	for _, k := range []tea.KeyMsg{runes("x"), runes("?"), runes("q"), keyOf(tea.KeyEnter), keyOf(tea.KeyEsc), keyOf(tea.KeyCtrlC), keyOf(tea.KeyUp)} {
		h := newHelpPage(c, liveKeys{c.keys}, newPicker(c))
		h.shown = true
		if _, cmd := h.Update(k); h.shown || cmd != nil {
			t.Errorf("%q: shown %v, cmd %v", k, h.shown, cmd != nil)
		}
	}
}

// The page is written from the help of the screens: every key of the
// live views on its line, the picker's in its sentence.
func TestHelpPageFromKeys(t *testing.T) {
	c := testCommon()
	c.keys.Detach.SetHelp("b", "leave")
	v := newHelpPage(c, liveKeys{c.keys}, newPicker(c)).View()
	if !strings.Contains(v, "  b         leave\n") || !strings.Contains(v, "picker: type to filter, space marks (watch several), enter attaches, esc clears") {
		t.Errorf("page:\n%s", v)
	}
}
