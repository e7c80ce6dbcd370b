package ui

import (
	"reflect"
	"slices"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

// TestPickerUpdate: keys in, picker state and request out. Printable
// keys (k, j, q, ? too) type into the filter; arrows move.
func TestPickerUpdate(t *testing.T) {
	up, down, space, enter := keyOf(tea.KeyUp), keyOf(tea.KeyDown), keyOf(tea.KeySpace), keyOf(tea.KeyEnter)
	esc, bs := keyOf(tea.KeyEsc), keyOf(tea.KeyBackspace)
	for _, tc := range []struct {
		name   string
		keys   []tea.KeyMsg
		filter string
		cursor int // PID under the cursor, 0 for none
		marked []int
		msg    tea.Msg // what the last key asks the Model for
	}{
		{"start", nil, "", 4242, nil, nil},
		{"down", []tea.KeyMsg{down}, "", 4343, nil, nil},
		{"down stops at the end", []tea.KeyMsg{down, down, down}, "", 4444, nil, nil},
		{"up stops at the top", []tea.KeyMsg{up}, "", 4242, nil, nil},
		{"printable keys type", []tea.KeyMsg{runes("tonic")}, "tonic", 4343, nil, nil},
		{"k and j type, not move", []tea.KeyMsg{runes("k"), runes("j")}, "kj", 0, nil, nil},
		{"q types into a filter", []tea.KeyMsg{runes("srv/"), runes("q")}, "srv/q", 0, nil, nil},
		{"backspace deletes", []tea.KeyMsg{runes("tonicx"), bs}, "tonic", 4343, nil, nil},
		{"backspace on nothing", []tea.KeyMsg{bs}, "", 4242, nil, nil},
		{"esc clears, the cursor stays", []tea.KeyMsg{runes("tonic"), esc}, "", 4343, nil, nil},
		{"space marks and moves on", []tea.KeyMsg{space}, "", 4343, []int{4242}, nil},
		{"space again unmarks", []tea.KeyMsg{space, up, space}, "", 4343, nil, nil},
		{"marks outlive the filter", []tea.KeyMsg{runes("reqwest"), space, esc}, "", 4444, []int{4444}, nil},
		{"enter attaches the one under the cursor", []tea.KeyMsg{down, enter}, "", 4343, nil, attachMsg{[]int{4343}}},
		{"enter attaches the marked", []tea.KeyMsg{space, down, space, enter}, "", 4444, []int{4242, 4444}, attachMsg{[]int{4242, 4444}}},
		{"enter on no process", []tea.KeyMsg{runes("zzz"), enter}, "zzz", 0, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPicker(testCommon())
			p.Update(procsMsg{procs: testEngine().procs})
			var msg tea.Msg
			for _, k := range tc.keys {
				_, cmd := p.Update(k)
				msg = msgOf(cmd)
			}
			pid := 0
			if pr, ok := p.selected(); ok {
				pid = pr.PID
			}
			var marked []int
			for m := range p.marked {
				marked = append(marked, m)
			}
			slices.Sort(marked)
			if p.filter != tc.filter || pid != tc.cursor || !slices.Equal(marked, tc.marked) || !reflect.DeepEqual(msg, tc.msg) {
				t.Errorf("filter %q cursor %d marked %v msg %#v; want %q %d %v %#v", p.filter, pid, marked, msg, tc.filter, tc.cursor, tc.marked, tc.msg)
			}
		})
	}
}

// A refresh keeps the cursor on its process and drops marks of processes
// that are gone.
func TestPickerRefresh(t *testing.T) {
	p := newPicker(testCommon())
	procs := testEngine().procs
	p.Update(procsMsg{procs: procs})
	p.Update(keyOf(tea.KeySpace)) // marks 4242
	p.Update(keyOf(tea.KeySpace)) // marks 4343, cursor on 4444
	p.Update(procsMsg{procs: []Process{procs[1], procs[2]}})
	if pr, _ := p.selected(); pr.PID != 4444 || p.marked[4242] || !p.marked[4343] {
		t.Fatalf("cursor %d marked %v", pr.PID, p.marked)
	}
}
