package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// live is the screen of one attached session: the span list, the detail
// pane over it and the per-route statistics, under a title and over a
// status bar. It routes keys to its parts and answers the ones that move
// between them.
type live struct {
	common
	liveKeys
	session Session
	list    *spanList
	detail  *detailPane
	stats   *statsView
	total   uint64 // spans received
	rate    rateMeter
	now     func() time.Time
}

func newLive(c common, s Session, capacity int, now func() time.Time) *live {
	list := newSpanList(c, s, capacity)
	return &live{
		common: c, liveKeys: liveKeys{c.keys}, session: s, now: now,
		list: list, detail: newDetailPane(c, list), stats: newStatsView(c, now),
	}
}

// Init waits for the first batch of spans.
func (l *live) Init() tea.Cmd { return waitSpans(l.session, nil) }

// waitSpans is re-armed after every batch: the one goroutine that touches
// the model is bubbletea's. rows is the last batch, which the model has
// copied (live.add keeps none of it): its room is reused for the next one
// rather than left to the garbage collector.
func waitSpans(s Session, rows []spanRow) tea.Cmd {
	return func() tea.Msg {
		batch, ok := <-s.Spans()
		if !ok {
			return spansMsg{session: s, closed: true}
		}
		if cap(rows) < len(batch) {
			rows = make([]spanRow, len(batch))
		}
		rows = rows[:len(batch)]
		for i := range batch {
			rows[i] = newSpanRow(&batch[i])
		}
		return spansMsg{session: s, spans: rows}
	}
}

func (l *live) SetSize(width, height int) {
	l.common.SetSize(width, height)
	for _, c := range []component{l.list, l.detail, l.stats} {
		c.SetSize(width, height)
	}
}

// Update takes the session's batches and the keys of the live views.
func (l *live) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case spansMsg:
		l.add(msg.spans)
		return l, waitSpans(l.session, msg.spans)
	case tea.KeyMsg:
		return l, l.key(msg)
	}
	return l, nil
}

// key offers a key to the view in front, then to those under it (the
// detail pane, then the list, whose keys work under the statistics
// too), then answers the keys that move between views.
func (l *live) key(msg tea.KeyMsg) tea.Cmd {
	var cmd tea.Cmd
	switch {
	case l.list.typing:
		_, cmd = l.list.Update(msg)
	case key.Matches(msg, l.keys.Filter):
		l.stats.shown = false
		l.list.startFilter()
	case l.stats.shown && takes(l.stats, msg):
		_, cmd = l.stats.Update(msg)
	case takes(l.detail, msg):
		_, cmd = l.detail.Update(msg)
	case takes(l.list, msg):
		_, cmd = l.list.Update(msg)
	case key.Matches(msg, l.keys.Stats):
		l.stats.shown, l.detail.open = true, false
	case key.Matches(msg, l.keys.Detach):
		cmd = send(detachMsg{l.session})
	}
	return cmd
}

// typing is true while the filter line takes printable keys.
func (l *live) typing() bool { return l.list.typing }

// add takes a batch of spans: the statistics count every one, paused or
// not. It copies what it keeps of rows, which waitSpans reuses.
func (l *live) add(rows []spanRow) {
	if l.list.multi() { // one process: the title names it
		for i := range rows {
			rows[i].service = l.session.Service(rows[i].span.PID)
		}
	}
	l.total += uint64(len(rows))
	l.rate.add(l.now(), len(rows))
	l.stats.add(rows, l.now())
	l.list.add(rows)
}

func (l *live) View() string {
	switch {
	case l.stats.shown:
		return l.stats.View()
	case l.detail.shown():
		return l.detail.View()
	}
	return l.list.View()
}

func (l *live) title() string {
	ts := l.session.Targets()
	if len(ts) == 1 {
		return fmt.Sprintf("pid %d %s", ts[0].PID, ts[0].Comm)
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = fmt.Sprintf("%d %s", t.PID, t.Comm)
	}
	return fmt.Sprintf("%d processes: %s", len(ts), strings.Join(names, ", "))
}

// status is the status bar: state, counters, exits, export.
func (l *live) status() string {
	stats := l.session.Stats()
	state := "live"
	switch {
	case l.list.paused:
		state = fmt.Sprintf("paused (%d held)", len(l.list.held))
	case !l.list.follow:
		state = "scrolled (G follows)"
	}
	s := fmt.Sprintf(" %s | spans %d | %.1f/s | lost events %d", state, l.total, l.rate.perSecond(l.now()), stats.Lost)
	if stats.Dropped > 0 {
		s += fmt.Sprintf(" | ui dropped %d", stats.Dropped)
	}
	for _, pid := range stats.Exited {
		s += fmt.Sprintf(" | pid %d exited", pid)
	}
	if stats.Export != "" {
		s += " | export " + stats.Export
	}
	return l.styles.Status.Render(pad(clip(s, l.width), l.width))
}

// liveKeys is the help of the live views: the footer, and their part of
// the help page. It needs no session, so the help page shows it before
// any attach.
type liveKeys struct{ k *keyMap }

func (h liveKeys) ShortHelp() []key.Binding {
	return []key.Binding{h.k.Enter, h.k.Stats, h.k.Pause, h.k.Help, h.k.Quit}
}

func (h liveKeys) FullHelp() [][]key.Binding {
	k := h.k
	return [][]key.Binding{
		{k.Up, k.Down, k.Top, k.Bottom},
		{k.Enter, k.Back, k.Pause},
		{k.Filter, k.Stats, k.Sort},
		{k.Detach, k.Help, k.Quit},
	}
}
