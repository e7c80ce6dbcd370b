package ui

import "github.com/charmbracelet/bubbles/key"

// keyMap is every key the UI answers to; help renders from it.
type keyMap struct {
	Up, Down, Top, Bottom key.Binding
	Enter, Back, Pause    key.Binding
	Stats, Sort, Filter   key.Binding
	Detach, Help, Quit    key.Binding
	Mark                  key.Binding // picker only
}

func defaultKeys() keyMap {
	return keyMap{
		Up:     key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:   key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Top:    key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g", "top")),
		Bottom: key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G", "follow newest")),
		Enter:  key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "select / details")),
		Back:   key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back / clear filter")),
		Pause:  key.NewBinding(key.WithKeys(" ", "p"), key.WithHelp("space/p", "pause / resume")),
		Filter: key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter: text, status>=500, route~users, dur>100ms, kind=client")),
		Stats:  key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "spans / per-route stats")),
		Sort:   key.NewBinding(key.WithKeys("1", "2", "3", "4", "5", "6", "7", "8", "9", "0"), key.WithHelp("1-9,0", "sort stats by column")),
		Detach: key.NewBinding(key.WithKeys("b"), key.WithHelp("b", "detach, back to processes")),
		Help:   key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:   key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Mark:   key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "mark (watch several)")),
	}
}

// ShortHelp and FullHelp make keyMap a help.KeyMap.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Enter, k.Stats, k.Pause, k.Help, k.Quit}
}

// PickerHelp is the short help of the process list.
func (k keyMap) PickerHelp() []key.Binding {
	return []key.Binding{
		key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "attach")),
		k.Mark,
		key.NewBinding(key.WithKeys("esc"), key.WithHelp("type", "filter")),
		k.Help, k.Quit,
	}
}

func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Top, k.Bottom},
		{k.Enter, k.Back, k.Pause},
		{k.Filter, k.Stats, k.Sort},
		{k.Detach, k.Help, k.Quit},
	}
}
