package ui

import "github.com/charmbracelet/bubbles/key"

// keyMap is every key the UI answers to. Each component matches keys
// through these bindings only, and its help (footer and the ? page)
// renders from their help text.
type keyMap struct {
	// Everywhere, unless a filter is being typed (ForceQuit even then).
	Help, Quit, ForceQuit key.Binding

	// The process picker. Printable keys type into its filter, so only
	// non-printable keys are bound there; q and ? act while the filter
	// is empty.
	PickUp, PickDown, Mark, Attach, ClearFilter key.Binding
	// EditFilter deletes a typed character (picker and span filter). It
	// stands for typing in the picker's footer: typing itself has no
	// binding, every printable key types.
	EditFilter key.Binding

	// The live views: span list, detail pane, statistics.
	Up, Down, Top, Bottom  key.Binding
	Enter, Back, Pause     key.Binding
	Filter, Stats, Sort    key.Binding
	Detach                 key.Binding
	ApplyFilter, EndFilter key.Binding // while the span filter is typed
}

// defaultKeyMap returns the key bindings of the UI.
func defaultKeyMap() keyMap {
	return keyMap{
		Help:      key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:      key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		ForceQuit: key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),

		PickUp:      key.NewBinding(key.WithKeys("up"), key.WithHelp("↑", "up")),
		PickDown:    key.NewBinding(key.WithKeys("down"), key.WithHelp("↓", "down")),
		Mark:        key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "mark (watch several)")),
		Attach:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "attach")),
		ClearFilter: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
		EditFilter:  key.NewBinding(key.WithKeys("backspace"), key.WithHelp("type", "filter")),

		Up:          key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:        key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Top:         key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g", "top")),
		Bottom:      key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G", "follow newest")),
		Enter:       key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "select / details")),
		Back:        key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back / clear filter")),
		Pause:       key.NewBinding(key.WithKeys(" ", "p"), key.WithHelp("space/p", "pause / resume")),
		Filter:      key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter: text, status>=500, route~users, dur>100ms, kind=client")),
		Stats:       key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "spans / per-route stats")),
		Sort:        key.NewBinding(key.WithKeys("1", "2", "3", "4", "5", "6", "7", "8", "9", "0"), key.WithHelp("1-9,0", "sort stats by column")),
		Detach:      key.NewBinding(key.WithKeys("b"), key.WithHelp("b", "detach, back to processes")),
		ApplyFilter: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply filter")),
		EndFilter:   key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
	}
}
