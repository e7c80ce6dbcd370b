package ui

import (
	"fmt"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/rustscope/rustscope/tracer"
)

// benchModel is a live view with a full 10,000-span buffer over 100 routes.
func benchModel(b *testing.B) *Model {
	eng := testEngine()
	m := NewModel(eng, Config{PID: 4242, Buffer: 10000})
	m = update(m, m.Init()(), tea.WindowSizeMsg{Width: 200, Height: 60})
	rows := make([]spanRow, 10000)
	for i := range rows {
		sp := testSpan(i, "GET", fmt.Sprintf("/route%d/x", i%100), 200+i%5*100, time.Duration(i%997)*time.Microsecond)
		rows[i] = newSpanRow(&sp)
	}
	m = update(m, spansMsg{session: eng.sessions[4242], spans: rows})
	if len(m.live.list.rows) != 10000 || len(m.live.stats.routes) != 100 {
		b.Fatalf("setup: %d rows, %d routes", len(m.live.list.rows), len(m.live.stats.routes))
	}
	return m
}

// BenchmarkFrameLive is one frame of the span list with the buffer full;
// the goal is well under 16 ms (60 frames a second).
func BenchmarkFrameLive(b *testing.B) {
	m := benchModel(b)
	for b.Loop() {
		_ = m.View()
	}
}

// BenchmarkFrameStats is one frame of the per-route statistics.
func BenchmarkFrameStats(b *testing.B) {
	m := benchModel(b)
	m.live.stats.shown = true
	for b.Loop() {
		m.live.stats.dirty = true // force the sort, as after new spans
		_ = m.View()
	}
}

// BenchmarkFrameFiltered is one frame with a filter over the full buffer,
// including the refilter new spans cause.
func BenchmarkFrameFiltered(b *testing.B) {
	m := benchModel(b)
	f, _ := parseFilter("status>=500 route~route4")
	m.live.list.setFilter(f)
	for b.Loop() {
		m.live.list.refilter()
		_ = m.View()
	}
}

// BenchmarkAddBatch is the cost of a 100 ms batch of 500 spans arriving
// with the buffer full.
func BenchmarkAddBatch(b *testing.B) {
	m := benchModel(b)
	batch := make([]spanRow, 500)
	for i := range batch {
		sp := testSpan(i, "POST", fmt.Sprintf("/route%d/x", i%100), 200, time.Millisecond)
		batch[i] = newSpanRow(&sp)
	}
	for b.Loop() {
		m.live.add(batch)
	}
}

// BenchmarkBatchArrival is a 100 ms batch of 500 spans from the session
// to the span list: rows made from the spans (in the room of the last
// batch's) and added with the buffer full.
func BenchmarkBatchArrival(b *testing.B) {
	m := benchModel(b)
	s := &fixedSession{ch: make(chan []tracer.Span, 1)}
	batch := make([]tracer.Span, 500)
	for i := range batch {
		batch[i] = testSpan(i, "POST", fmt.Sprintf("/route%d/x", i%100), 200, time.Millisecond)
	}
	var rows []spanRow
	b.ReportAllocs()
	for b.Loop() {
		s.ch <- batch
		msg := waitSpans(s, rows)().(spansMsg)
		m.live.add(msg.spans)
		rows = msg.spans
	}
}
