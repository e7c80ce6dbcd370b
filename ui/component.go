package ui

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// component is one part of the UI, in the manner of soft-serve's: it
// answers its own messages and keys, says which keys those are (its
// help) and draws itself in the size it was given.
type component interface {
	tea.Model
	help.KeyMap
	SetSize(width, height int)
}

// common is what every component shares with the Model: its styles and
// keys (pointers, so the Model's stay the only ones), and the size the
// component draws in.
type common struct {
	styles        *styles
	keys          *keyMap
	width, height int
}

// SetSize sets the size the component draws in.
func (c *common) SetSize(width, height int) { c.width, c.height = width, height }

// takes reports whether msg is one of the keys c's full help lists. A
// component answers exactly those, so its container can offer a key to
// its parts in turn.
func takes(c help.KeyMap, msg tea.KeyMsg) bool {
	for _, group := range c.FullHelp() {
		if key.Matches(msg, group...) {
			return true
		}
	}
	return false
}

// typed returns s edited by msg, for the filters typed in place:
// printable keys append (space too when withSpace), EditFilter deletes
// the last character. ok is false when msg is no such key.
func typed(s string, msg tea.KeyMsg, keys *keyMap, withSpace bool) (_ string, ok bool) {
	switch {
	case msg.Type == tea.KeyRunes:
		return s + string(msg.Runes), true
	case withSpace && msg.Type == tea.KeySpace:
		return s + " ", true
	case key.Matches(msg, keys.EditFilter):
		if r := []rune(s); len(r) > 0 {
			return string(r[:len(r)-1]), true
		}
		return s, true
	}
	return s, false
}

// send is a command that delivers msg: how a component asks the Model
// for what only the Model can do (attach, detach, show an error).
func send(msg tea.Msg) tea.Cmd { return func() tea.Msg { return msg } }

// described is b with another description: the same key, worded for
// where it is shown.
func described(b key.Binding, desc string) key.Binding {
	b.SetHelp(b.Help().Key, desc)
	return b
}

// The parts of the UI are components.
var _ = []component{(*picker)(nil), (*live)(nil), (*spanList)(nil), (*detailPane)(nil), (*statsView)(nil), (*helpPage)(nil)}
