package ui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// picker lists the Rust processes; typing filters them, space marks
// several to watch together, enter attaches.
type picker struct {
	common
	all    []Process
	shown  []Process
	filter string
	cursor int
	selPID int          // PID under the cursor, kept across refreshes
	marked map[int]bool // PIDs marked to be watched together
	loaded bool
}

func newPicker(c common) *picker { return &picker{common: c} }

func (p *picker) Init() tea.Cmd { return nil }

// Update takes the process lists and the keys of the picker. Printable
// keys type into the filter, so only the non-printable ones are bound.
func (p *picker) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case procsMsg:
		p.set(msg.procs)
	case tea.KeyMsg:
		return p, p.key(msg)
	}
	return p, nil
}

func (p *picker) key(msg tea.KeyMsg) tea.Cmd {
	if f, ok := typed(p.filter, msg, p.keys, false); ok {
		if f != p.filter {
			p.setFilter(f)
		}
		return nil
	}
	switch {
	case key.Matches(msg, p.keys.PickUp):
		p.move(-1)
	case key.Matches(msg, p.keys.PickDown):
		p.move(1)
	case key.Matches(msg, p.keys.Mark):
		p.toggleMark()
	case key.Matches(msg, p.keys.Attach):
		if pids := p.chosen(); len(pids) > 0 {
			return send(attachMsg{pids})
		}
	case key.Matches(msg, p.keys.ClearFilter):
		p.setFilter("")
	}
	return nil
}

// typing is true while the filter takes printable keys (q and ? too).
func (p *picker) typing() bool { return p.filter != "" }

// ShortHelp is the picker's footer.
func (p *picker) ShortHelp() []key.Binding {
	k := p.keys
	return []key.Binding{k.Attach, k.Mark, k.EditFilter, k.Help, k.Quit}
}

// FullHelp is the picker's line on the help page, worded as a sentence.
func (p *picker) FullHelp() [][]key.Binding {
	k := p.keys
	return [][]key.Binding{{
		described(k.EditFilter, "to filter"), described(k.Mark, "marks (watch several)"),
		described(k.Attach, "attaches"), described(k.ClearFilter, "clears"),
	}}
}

func (p *picker) set(procs []Process) {
	p.all, p.loaded = procs, true
	// A marked process that is gone cannot be attached.
	running := map[int]bool{}
	for _, pr := range procs {
		running[pr.PID] = true
	}
	for pid := range p.marked {
		if !running[pid] {
			delete(p.marked, pid)
		}
	}
	p.apply()
}

// toggleMark marks or unmarks the process under the cursor and moves on.
func (p *picker) toggleMark() {
	pr, ok := p.selected()
	if !ok {
		return
	}
	if p.marked == nil {
		p.marked = map[int]bool{}
	}
	if p.marked[pr.PID] {
		delete(p.marked, pr.PID)
	} else {
		p.marked[pr.PID] = true
	}
	p.move(1)
}

func (p *picker) clearMarks() { p.marked = nil }

// chosen is what enter attaches: the marked processes in list order (a
// filter does not unmark), else the one under the cursor.
func (p *picker) chosen() []int {
	var pids []int
	for _, pr := range p.all {
		if p.marked[pr.PID] {
			pids = append(pids, pr.PID)
		}
	}
	if len(pids) == 0 {
		if pr, ok := p.selected(); ok {
			pids = append(pids, pr.PID)
		}
	}
	return pids
}

func (p *picker) setFilter(f string) {
	p.filter = f
	p.apply()
}

// apply recomputes the shown rows and keeps the cursor on the same PID.
func (p *picker) apply() {
	pid := p.selPID
	p.shown = p.shown[:0]
	f := strings.ToLower(p.filter)
	for _, pr := range p.all {
		if f == "" || strings.Contains(strings.ToLower(fmt.Sprintf("%d %s %s %s", pr.PID, pr.Command, pr.Crates, pr.User)), f) {
			p.shown = append(p.shown, pr)
		}
	}
	p.cursor = 0
	for i, pr := range p.shown {
		if pr.PID == pid {
			p.cursor = i
		}
	}
	p.remember()
}

func (p *picker) move(d int) {
	p.cursor = max(0, min(len(p.shown)-1, p.cursor+d))
	p.remember()
}

func (p *picker) remember() {
	if pr, ok := p.selected(); ok {
		p.selPID = pr.PID
	}
}

func (p *picker) selected() (Process, bool) {
	if p.cursor < 0 || p.cursor >= len(p.shown) {
		return Process{}, false
	}
	return p.shown[p.cursor], true
}

func (p *picker) View() string {
	st, width, height := p.styles, p.width, p.height
	var b strings.Builder
	marks := ""
	if n := len(p.marked); n > 0 {
		marks = fmt.Sprintf("  marked: %d (enter watches them together)", n)
	}
	b.WriteString(fmt.Sprintf("Rust processes (%d)  filter: %s%s\n", len(p.shown), p.filter+"_", marks))
	if !p.loaded {
		return b.String() + "\n  looking for Rust processes..."
	}
	if len(p.shown) == 0 {
		if len(p.all) == 0 {
			return b.String() + "\n  no Rust processes running"
		}
		return b.String() + "\n  no process matches the filter (esc clears it)"
	}
	header := fmt.Sprintf("  %-7s %-9s %-34s %-8s %-5s %s", "PID", "USER", "COMMAND", "RUSTC", "TRACE", "CRATES")
	b.WriteString(st.Header.Render(clip(header, width)) + "\n")
	rows := max(1, height-3)
	if pr, ok := p.selected(); ok {
		rows = max(1, rows-len(pr.TLSWhy)) // said under the list
	}
	start := max(0, p.cursor-rows+1)
	for i := start; i < len(p.shown) && i < start+rows; i++ {
		pr := p.shown[i]
		cmd := pr.Command
		if pr.Container {
			cmd = "[ctr] " + cmd
		}
		trace := pr.Traceable
		crates := pr.Crates
		if pr.Stripped {
			crates += " (stripped)"
		}
		if pr.TLS != "" && pr.TLS != "-" {
			crates += " · TLS " + pr.TLS
		}
		mark := " "
		if p.marked[pr.PID] {
			mark = "*"
		}
		line := clip(fmt.Sprintf("%s%-7d %-9s %-34s %-8s %-5s %s", mark, pr.PID, clip(pr.User, 9), clip(cmd, 34), clip(pr.Rustc, 8), trace, crates), width-1)
		if i == p.cursor {
			line = pad(line, width-1)
		}
		b.WriteString(st.row(line, i == p.cursor) + "\n")
	}
	if pr, ok := p.selected(); ok {
		if pr.Why != "" {
			b.WriteString(st.Dim.Render(clip("  "+pr.Why, width)) + "\n")
		}
		for _, w := range pr.TLSWhy {
			b.WriteString(st.Dim.Render(clip("  "+w, width)) + "\n")
		}
	}
	return b.String()
}
