package ui

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rustscope/rustscope/tracer"
)

func init() {
	lipgloss.SetColorProfile(termenv.Ascii) // goldens hold plain text
}

// fixedEngine serves a fixed process list and sessions fed by the test.
type fixedEngine struct {
	procs    []Process
	sessions map[int]*fixedSession
	joint    *fixedSession // the last session of several processes
}

func (e *fixedEngine) Processes() ([]Process, error) { return e.procs, nil }

// Attach of one process returns its session; of several, a new one
// watching all of them.
func (e *fixedEngine) Attach(pids []int) (Session, error) {
	if len(pids) == 1 {
		s, ok := e.sessions[pids[0]]
		if !ok {
			return nil, fmt.Errorf("no such process")
		}
		return s, nil
	}
	joint := &fixedSession{ch: make(chan []tracer.Span, 4)}
	for _, pid := range pids {
		s, ok := e.sessions[pid]
		if !ok {
			return nil, fmt.Errorf("pid %d: no such process", pid)
		}
		joint.targets = append(joint.targets, s.targets...)
	}
	e.joint = joint
	return joint, nil
}

type fixedSession struct {
	targets []*tracer.Target
	ch      chan []tracer.Span
	err     error // why ch was closed
	exited  []uint32
	closed  bool
}

func (s *fixedSession) Targets() []*tracer.Target   { return s.targets }
func (s *fixedSession) Spans() <-chan []tracer.Span { return s.ch }
func (s *fixedSession) Err() error                  { return s.err }
func (s *fixedSession) Stats() SessionStats         { return SessionStats{Lost: 3, Exited: s.exited} }
func (s *fixedSession) Close() error                { s.closed = true; return nil }

func (s *fixedSession) Service(pid uint32) string {
	for _, t := range s.targets {
		if t.PID == pid {
			return t.Comm
		}
	}
	return ""
}

var t0 = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)

func testSpan(i int, method, path string, status int, d time.Duration) tracer.Span {
	s := tracer.Span{
		Name: method, Kind: trace.SpanKindServer, PID: 4242,
		Start: t0.Add(time.Duration(i) * time.Millisecond), Scope: tracer.WireScope, Measures: tracer.MeasuresServer,
		Attrs: []attribute.KeyValue{
			attribute.String("http.request.method", method),
			attribute.String("url.path", path),
			attribute.Int("http.response.status_code", status),
			attribute.String("client.address", "127.0.0.1"),
		},
	}
	s.End = s.Start.Add(d)
	s.Error = status >= 500
	s.SpanContext = trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0x1d, 15: byte(i)}, SpanID: trace.SpanID{0x5e, 7: byte(i)}, TraceFlags: trace.FlagsSampled})
	return s
}

func testEngine() *fixedEngine {
	return &fixedEngine{
		procs: []Process{
			{PID: 4242, User: "root", Command: "/srv/axum-server --listen 127.0.0.1:8080", Crates: "axum 0.7.9, hyper 1.5.2", Rustc: "1.95.0", Traceable: "full"},
			{PID: 4343, User: "app", Command: "/srv/tonic-server", Crates: "tonic 0.12.3, hyper 1.5.2, h2 0.4.7", Rustc: "1.85.0", Traceable: "wire", Stripped: true, Why: "stripped: no symbols for library probes; wire capture only"},
			{PID: 4444, User: "app", Command: "/srv/reqwest-client", Crates: "reqwest 0.12.15", Rustc: "1.95.0", Traceable: "full", Container: true},
		},
		sessions: map[int]*fixedSession{
			4242: {targets: []*tracer.Target{{PID: 4242, Comm: "axum-server", Capture: []string{"wire: HTTP/1.1 over TCP"}}}, ch: make(chan []tracer.Span, 4)},
			4444: {targets: []*tracer.Target{{PID: 4444, Comm: "reqwest-client", Capture: []string{"wire: HTTP/1.1 over TCP"}}}, ch: make(chan []tracer.Span, 4)},
		},
	}
}

func waitFor(t *testing.T, tm *teatest.TestModel, s string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
		teatest.WithDuration(5*time.Second))
}

func finalView(t *testing.T, tm *teatest.TestModel) []byte {
	t.Helper()
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	m := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	return []byte(m.View())
}

func TestPickerGolden(t *testing.T) {
	tm := teatest.NewTestModel(t, NewModel(testEngine(), Config{}), teatest.WithInitialTermSize(100, 14))
	waitFor(t, tm, "tonic-server")
	tm.Type("tonic")
	waitFor(t, tm, "filter: tonic_")
	teatest.RequireEqualOutput(t, finalView(t, tm))
}

func TestLiveGolden(t *testing.T) {
	eng := testEngine()
	m := NewModel(eng, Config{PID: 4242})
	m.now = func() time.Time { return t0.Add(10 * time.Second) }
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 14))
	eng.sessions[4242].ch <- []tracer.Span{
		testSpan(1, "GET", "/users/7", 200, 1200*time.Microsecond),
		testSpan(2, "POST", "/echo", 200, 3*time.Millisecond),
		testSpan(3, "GET", "/status/500", 500, 800*time.Microsecond),
		testSpan(4, "GET", "/slow", 200, 51*time.Millisecond),
		testSpan(5, "GET", "/nope", 404, 300*time.Microsecond),
	}
	waitFor(t, tm, "/nope")
	teatest.RequireEqualOutput(t, finalView(t, tm))
}

func TestDetailGolden(t *testing.T) {
	eng := testEngine()
	m := NewModel(eng, Config{PID: 4242})
	m.now = func() time.Time { return t0 }
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 20))
	eng.sessions[4242].ch <- []tracer.Span{testSpan(1, "GET", "/status/500", 500, 2*time.Millisecond)}
	waitFor(t, tm, "/status/500")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(t, tm, "attributes")
	teatest.RequireEqualOutput(t, finalView(t, tm))
}

// TestWaterfallGolden: the detail pane of a server request shows the calls
// its handler made (client spans whose parent it is) on one time axis;
// a span of another trace is not among them.
func TestWaterfallGolden(t *testing.T) {
	eng := testEngine()
	m := NewModel(eng, Config{PID: 4242})
	m.now = func() time.Time { return t0 }
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 30))
	srv := testSpan(1, "GET", "/call/grpc/7", 200, 10*time.Millisecond)
	call := func(i int, name string, at, d time.Duration) tracer.Span {
		c := testSpan(i, "GET", "", 200, d)
		c.Name, c.Kind, c.Start, c.End = name, trace.SpanKindClient, srv.Start.Add(at), srv.Start.Add(at+d)
		c.Attrs = []attribute.KeyValue{attribute.String("rpc.system", "grpc"), attribute.Int("rpc.grpc.status_code", 0),
			attribute.String("server.address", "127.0.0.1"), attribute.Int("server.port", 50051)}
		c.SpanContext = trace.NewSpanContext(trace.SpanContextConfig{TraceID: srv.SpanContext.TraceID(), SpanID: trace.SpanID{0xca, 7: byte(i)}})
		c.Parent = srv.SpanContext
		return c
	}
	other := testSpan(9, "GET", "/health", 200, time.Millisecond)
	eng.sessions[4242].ch <- []tracer.Span{
		call(2, "demo.v1.Users/GetUser", 2*time.Millisecond, 5*time.Millisecond),
		call(3, "demo.v1.Users/Echo", 7500*time.Microsecond, 2*time.Millisecond),
		other, srv,
	}
	waitFor(t, tm, "/call/grpc/7")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(t, tm, "waterfall")
	teatest.RequireEqualOutput(t, finalView(t, tm))
}

func TestHelpGolden(t *testing.T) {
	tm := teatest.NewTestModel(t, NewModel(testEngine(), Config{}), teatest.WithInitialTermSize(80, 24))
	waitFor(t, tm, "axum-server")
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("?")})
	waitFor(t, tm, "detach")
	teatest.RequireEqualOutput(t, finalView(t, tm))
}

// update drives the model directly: keys in, state out.
func update(m *Model, msgs ...tea.Msg) *Model {
	for _, msg := range msgs {
		nm, cmd := m.Update(msg)
		m = nm.(*Model)
		// Run commands that answer at once (attach, process loads);
		// leave the ones that wait on channels or timers.
		if cmd != nil {
			if r := runNow(cmd); r != nil {
				m = update(m, r)
			}
		}
	}
	return m
}

func runNow(cmd tea.Cmd) tea.Msg {
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	select {
	case msg := <-ch:
		switch msg.(type) {
		case procsMsg, attachMsg, attachedMsg, detachMsg, errMsg:
			return msg
		}
		return nil
	case <-time.After(50 * time.Millisecond):
		return nil
	}
}

func runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

// TestLiveSeveralGolden: the span list of several processes has a service
// column, and the status bar names a process that exited while the other
// goes on.
func TestLiveSeveralGolden(t *testing.T) {
	eng := testEngine()
	m := NewModel(eng, Config{})
	m.now = func() time.Time { return t0.Add(10 * time.Second) }
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 12))
	waitFor(t, tm, "reqwest-client")
	tm.Send(tea.KeyMsg{Type: tea.KeySpace})
	tm.Send(tea.KeyMsg{Type: tea.KeyDown})
	tm.Send(tea.KeyMsg{Type: tea.KeySpace})
	waitFor(t, tm, "marked: 2")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(t, tm, "2 processes")
	a, c := testSpan(1, "GET", "/users/7", 200, 1200*time.Microsecond), testSpan(2, "POST", "/echo", 200, 3*time.Millisecond)
	c.PID = 4444
	eng.joint.exited = []uint32{4444}
	eng.joint.ch <- []tracer.Span{a, c}
	waitFor(t, tm, "/echo")
	teatest.RequireEqualOutput(t, finalView(t, tm))
}

func TestStatsGolden(t *testing.T) {
	eng := testEngine()
	m := NewModel(eng, Config{PID: 4242})
	m.now = func() time.Time { return t0.Add(5 * time.Second) }
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(110, 24))
	var batch []tracer.Span
	for i := range 60 {
		batch = append(batch, testSpan(i, "GET", fmt.Sprintf("/users/%d", i), 200, time.Duration(100+i*10)*time.Microsecond))
	}
	for i := range 20 {
		batch = append(batch, testSpan(100+i, "GET", "/status/500", 500, 2*time.Millisecond))
	}
	batch = append(batch, testSpan(200, "GET", "/slow", 200, 51*time.Millisecond))
	eng.sessions[4242].ch <- batch
	waitFor(t, tm, "/slow")
	tm.Send(runes("s"))
	waitFor(t, tm, "latency of")
	teatest.RequireEqualOutput(t, finalView(t, tm))
}

// A tracer that could not load still lets the user look at processes, and
// says why attaching is impossible.
func TestStartupErrorShown(t *testing.T) {
	eng := testEngine()
	m := NewModel(eng, Config{StartupError: fmt.Errorf("cannot trace: operation not permitted")})
	m = update(m, m.Init()(), runes("x"), tea.KeyMsg{Type: tea.KeyEsc})
	if v := m.View(); !strings.Contains(v, "cannot trace: operation not permitted") || !strings.Contains(v, "axum-server") {
		t.Fatalf("view:\n%s", v)
	}
}

// Every view fits the terminal, small or large, after resizes.
func TestViewsFitTerminal(t *testing.T) {
	eng := testEngine()
	m := NewModel(eng, Config{PID: 4242})
	m = update(m, m.Init()())
	var rows []spanRow
	for i := range 300 {
		sp := testSpan(i, "GET", fmt.Sprintf("/a/very/long/path/segment/%d/with/more/segments/than/fit", i%40), 200+i%4*100, time.Duration(i)*time.Millisecond)
		rows = append(rows, newSpanRow(&sp))
	}
	m = update(m, spansMsg{session: eng.sessions[4242], spans: rows})
	views := map[string]func(*Model){
		"live":   func(m *Model) { m.live.stats.shown, m.live.detail.open, m.helpPage.shown = false, false, false },
		"stats":  func(m *Model) { m.live.stats.shown, m.live.detail.open, m.helpPage.shown = true, false, false },
		"detail": func(m *Model) { m.live.stats.shown, m.live.detail.open, m.helpPage.shown = false, true, false },
		"help":   func(m *Model) { m.helpPage.shown = true },
		"picker": func(m *Model) { m.view, m.helpPage.shown = viewPicker, false },
	}
	for _, size := range [][2]int{{80, 24}, {200, 60}, {60, 16}, {80, 24}} {
		m = update(m, tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		for name, set := range views {
			set(m)
			lines := strings.Split(m.View(), "\n")
			if len(lines) > size[1] {
				t.Errorf("%s at %dx%d: %d lines", name, size[0], size[1], len(lines))
			}
			for i, l := range lines {
				if w := lipgloss.Width(l); w > size[0] {
					t.Errorf("%s at %dx%d: line %d is %d wide: %q", name, size[0], size[1], i, w, l)
					break
				}
			}
			m.view = viewLive
		}
	}
}

// The live view under each colour profile: 256 colours and 16 colours
// colour statuses and slow durations; the ASCII profile (NO_COLOR, dumb
// terminals) has no escape sequence at all and marks the cursor with ">".
func TestColourProfiles(t *testing.T) {
	defer lipgloss.SetColorProfile(termenv.Ascii)
	eng := testEngine()
	m := NewModel(eng, Config{PID: 4242})
	m = update(m, m.Init()())
	var rows []spanRow
	for _, sp := range []tracer.Span{
		testSpan(1, "GET", "/users/7", 200, time.Millisecond),
		testSpan(2, "GET", "/status/500", 500, time.Millisecond),
		testSpan(3, "GET", "/slow", 200, 1500*time.Millisecond),
	} {
		rows = append(rows, newSpanRow(&sp))
	}
	m = update(m, spansMsg{session: eng.sessions[4242], spans: rows}, tea.WindowSizeMsg{Width: 100, Height: 14}, runes("k"))
	for _, tc := range []struct {
		profile   termenv.Profile
		want      []string // escapes that must appear
		plainOnly bool
	}{
		{termenv.ANSI256, []string{"\x1b[38;5;196m", "\x1b[38;5;42m", "\x1b[7m"}, false},
		{termenv.ANSI, []string{"\x1b[91m", "\x1b[92m", "\x1b[7m"}, false},
		{termenv.Ascii, nil, true},
	} {
		lipgloss.SetColorProfile(tc.profile)
		m.styles = defaultStyles()
		v := m.View()
		for _, w := range tc.want {
			if !strings.Contains(v, w) {
				t.Errorf("profile %v: no %q in\n%q", tc.profile, w, v)
			}
		}
		if tc.plainOnly && strings.Contains(v, "\x1b[") {
			t.Errorf("profile %v: escape sequences in\n%q", tc.profile, v)
		}
		if !strings.Contains(v, ">16:00:00.002 SRV GET     /status/500") {
			t.Errorf("profile %v: no cursor marker in\n%s", tc.profile, v)
		}
	}
}
