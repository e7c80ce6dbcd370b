package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// tmuxSession drives the real UI in a detached tmux pane of a fixed size.
type tmuxSession struct {
	t    *testing.T
	name string
}

func startTmux(t *testing.T, cmd string, w, h int) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatalf("tmux is needed for the UI end-to-end test: %v", err)
	}
	s := &tmuxSession{t: t, name: fmt.Sprintf("rustscope-e2e-%d", time.Now().UnixNano())}
	out, err := exec.Command("tmux", "new-session", "-d", "-s", s.name, "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", s.name).Run() })
	return s
}

func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	for _, k := range keys {
		// One key per call: tmux would otherwise deliver "kk" as one paste.
		if out, err := exec.Command("tmux", "send-keys", "-t", s.name, k).CombinedOutput(); err != nil {
			s.t.Fatalf("tmux send-keys %q: %v: %s", k, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *tmuxSession) screen() string {
	return s.capture()
}

// capture returns the pane's text; with "-e" also its colours and
// attributes as escape sequences.
func (s *tmuxSession) capture(flags ...string) string {
	out, err := exec.Command("tmux", append([]string{"capture-pane", "-p", "-t", s.name}, flags...)...).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// waitScreen waits until ok(screen) holds and returns that screen.
func (s *tmuxSession) waitScreen(what string, ok func(string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		scr := s.screen()
		if ok(scr) {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s; screen:\n%s", what, scr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func contains1(sub string) func(string) bool {
	return func(s string) bool { return strings.Contains(s, sub) }
}

// TestUIEndToEnd drives the real terminal UI against real apps: filter
// the picker, attach to the axum app, watch its requests, open the stats
// and detail views, and quit cleanly.
func TestUIEndToEnd(t *testing.T) {
	needE2E(t, "release/tonic-server")
	tonic := startServer(t, "release", "tonic-server")
	axum := startServer(t, "release", "axum-server", fmt.Sprintf("GRPC_ADDR=http://127.0.0.1:%d", tonic.port))
	logFile := t.TempDir() + "/ui.log"
	// env -u CI: termenv takes a CI environment for a non-terminal and
	// draws no colour; a user's terminal has none.
	tm := startTmux(t, fmt.Sprintf("env -u CI %s --log-file %s; echo rustscope-exited-$?; sleep 30", rustscopeBin, logFile), 120, 30)

	tm.waitScreen("the picker to list both apps", func(s string) bool {
		return strings.Contains(s, fmt.Sprint(axum.pid())) && strings.Contains(s, fmt.Sprint(tonic.pid()))
	})
	for _, r := range fmt.Sprint(axum.pid()) {
		tm.keys(string(r))
	}
	scr := tm.waitScreen("the filter to leave the axum app", func(s string) bool {
		return strings.Contains(s, "Rust processes (1)") && strings.Contains(s, fmt.Sprint(axum.pid()))
	})
	if !strings.Contains(scr, "axum 0.7.9") || strings.Contains(scr, fmt.Sprintf("%d ", tonic.pid())) {
		t.Fatalf("filtered picker:\n%s", scr)
	}
	tm.keys("Enter")
	tm.waitScreen("the live view", contains1("waiting for requests"))

	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 31 {
		path := fmt.Sprintf("/users/%d", i+1)
		switch {
		case i == 30:
			path = "/call/grpc/7" // a server span and its tonic call's span
		case i%10 == 9:
			path = "/status/500"
		}
		resp, err := client.Get(axum.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	scr = tm.waitScreen("32 spans", contains1("spans 32 "))
	for _, want := range []string{"/users/27", "/status/500", "SRV GET"} {
		if !strings.Contains(scr, want) {
			t.Errorf("live view lacks %q:\n%s", want, scr)
		}
	}

	// tmux's default terminal is tmux-256color: statuses use 256 colours.
	if line := lineWith(tm.capture("-e"), "/status/500"); !strings.Contains(line, "38;5;196m") {
		t.Errorf("the 500 row is not red in a 256-colour terminal: %q", line)
	}

	tm.keys("s")
	scr = tm.waitScreen("the stats view", contains1("latency of"))
	for _, row := range []struct {
		route string
		count int
	}{{"/users/:id", 27}, {"/status/:code", 3}} {
		line := lineWith(scr, row.route)
		if !strings.Contains(line, fmt.Sprintf(" %d ", row.count)) || !strings.Contains(line, "µs") && !strings.Contains(line, "ms") {
			t.Errorf("stats row for %s should show count %d and latencies: %q", row.route, row.count, line)
		}
	}
	if line := lineWith(scr, "/status/:code"); !strings.Contains(line, "100.0") {
		t.Errorf("stats row for /status/:code should show 100%% errors: %q", line)
	}

	// The request that made a gRPC call: its detail pane draws the call.
	tm.keys("s", "/")
	for _, r := range "route~grpc" {
		tm.keys(string(r))
	}
	tm.keys("Enter", "Enter")
	scr = tm.waitScreen("the detail pane", contains1("attributes"))
	for _, want := range []string{"http.response.status_code", "url.path", "http.route", "measures", "client.address", "axum 0.7.9",
		"waterfall", "SRV GET /call/grpc/7", "CLI gRPC demo.v1.Users/GetUser"} {
		if !strings.Contains(scr, want) {
			t.Errorf("detail pane lacks %q:\n%s", want, scr)
		}
	}

	tm.keys("q")
	tm.waitScreen("rustscope to exit", contains1("rustscope-exited-0"))
	// Nothing stays attached: no BPF program of ours is loaded any more.
	out, err := exec.Command("bpftool", "prog", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("bpftool prog show: %v: %s", err, out)
	}
	if strings.Contains(string(out), "enter_read") && !otherRustscopeRunning() {
		t.Errorf("BPF programs left loaded after quitting:\n%s", out)
	}
}

// TestUINoColor: with NO_COLOR the UI draws no colour at all, and the
// cursor stays visible as a ">" in the picker.
func TestUINoColor(t *testing.T) {
	needE2E(t)
	axum := startServer(t, "release", "axum-server")
	tm := startTmux(t, fmt.Sprintf("env -u CI NO_COLOR=1 %s --log-file %s; echo rustscope-exited-$?; sleep 30", rustscopeBin, t.TempDir()+"/ui.log"), 120, 30)
	for _, r := range fmt.Sprint(axum.pid()) {
		tm.keys(string(r))
	}
	tm.waitScreen("the filtered picker", contains1(fmt.Sprintf("> %d ", axum.pid())))
	if scr := tm.capture("-e"); strings.Contains(scr, "\x1b[3") || strings.Contains(scr, "\x1b[4") || strings.Contains(scr, "\x1b[9") {
		t.Errorf("colour escapes under NO_COLOR:\n%q", scr)
	}
	tm.keys("Escape", "q") // esc ends the filter; q typed into it would filter

	tm.waitScreen("rustscope to exit", contains1("rustscope-exited-0"))
}

// TestUISeveralAndExit: two processes marked in the picker are watched
// together, each span under its service; when one exits the status bar
// says so, and when the last exits the UI says so and shows the process
// list again.
func TestUISeveralAndExit(t *testing.T) {
	needE2E(t, "release/hyper-server")
	axum := startServer(t, "release", "axum-server")
	hyper := startServer(t, "release", "hyper-server")
	tm := startTmux(t, fmt.Sprintf("env -u CI %s --log-file %s; echo rustscope-exited-$?; sleep 30", rustscopeBin, t.TempDir()+"/ui.log"), 120, 30)

	// Filter down to each app and mark it: marks outlive the filter.
	for _, app := range []*server{axum, hyper} {
		for _, r := range fmt.Sprint(app.pid()) {
			tm.keys(string(r))
		}
		tm.waitScreen("the filtered picker", contains1(fmt.Sprintf("> %d ", app.pid())))
		tm.keys("Space")
		tm.waitScreen("the mark", contains1(fmt.Sprintf("*%d ", app.pid())))
		tm.keys("Escape")
	}
	scr := tm.waitScreen("both marked", contains1("marked: 2"))
	tm.keys("Enter")
	scr = tm.waitScreen("the live view of both", contains1("2 processes"))

	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 5 {
		for _, app := range []*server{axum, hyper} {
			resp, err := client.Get(fmt.Sprintf("%s/users/%d", app.base, i))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	scr = tm.waitScreen("10 spans", contains1("spans 10 "))
	if !strings.Contains(scr, "SERVICE") {
		t.Errorf("no service column:\n%s", scr)
	}
	for _, svc := range []string{"axum-server", "hyper-server"} {
		if n := strings.Count(scr, svc+" "); n < 5 { // the title names each once more
			t.Errorf("%d rows of %s, want 5:\n%s", n, svc, scr)
		}
	}

	hyper.cmd.Process.Kill()
	tm.waitScreen("the exit of one", contains1(fmt.Sprintf("pid %d exited", hyper.pid())))
	if _, err := client.Get(axum.base + "/users/99"); err != nil {
		t.Fatal(err)
	}
	tm.waitScreen("the other still traced", contains1("spans 11 "))

	axum.cmd.Process.Kill()
	scr = tm.waitScreen("the picker again", contains1(fmt.Sprintf("pid %d exited: back to the process list", axum.pid())))
	if !strings.Contains(scr, "Rust processes (") {
		t.Errorf("not the picker:\n%s", scr)
	}
	tm.keys("q")
	tm.waitScreen("rustscope to exit", contains1("rustscope-exited-0"))
}

func lineWith(screen, sub string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

func otherRustscopeRunning() bool {
	out, _ := exec.Command("pgrep", "-f", rustscopeBin).Output()
	return len(strings.TrimSpace(string(out))) > 0
}
