// Running rustscope under the bench: headless with its log parsed, or the
// UI in tmux.

package main

import (
	"bufio"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// tracer is a running rustscope.
type tracer struct {
	cmd     *exec.Cmd
	pid     int
	logFile string
	tmux    string       // session name when it runs the TUI
	lost    atomic.Int64 // ring records lost, as headless mode last reported on stderr
}

// startHeadless runs rustscope headless on pid, exporting to the sink, and
// returns once it says the probes are attached, with the time that took.
func (h *harness) startHeadless(pid int, extra ...string) (*tracer, time.Duration, error) {
	f, err := os.CreateTemp("", "rustscope-bench-*.log")
	if err != nil {
		return nil, 0, err
	}
	f.Close()
	args := append([]string{"--pid", fmt.Sprint(pid), "--log-file", f.Name()}, extra...)
	if h.profile != "" && !slices.Contains(extra, "--cpuprofile") {
		h.runs++
		args = append(args, "--cpuprofile", filepath.Join(h.profile, fmt.Sprintf("headless-%d.prof", h.runs)))
	}
	cmd := pinned(h.tracerCPUs, h.rustscope, args...)
	cmd.Env = append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+h.sink.addr, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_INSECURE=true", "OTEL_SERVICE_NAME=bench")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, 0, err
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("start rustscope: %w", err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "rustscope: attached pid") {
			took := time.Since(t0)
			t := &tracer{cmd: cmd, pid: cmd.Process.Pid, logFile: f.Name()}
			go t.watchLost(sc)
			return t, took, nil
		}
		log.Printf("rustscope: %s", sc.Text())
	}
	cmd.Wait()
	return nil, 0, fmt.Errorf("rustscope exited before attaching")
}

// lostReport is headless mode's periodic line about ring records lost.
var lostReport = regexp.MustCompile(`^rustscope: ring buffer full: .*\((\d+) in all`)

// watchLost reads rustscope's stderr to its end, keeping the latest count
// of ring records lost it reports.
func (t *tracer) watchLost(sc *bufio.Scanner) {
	for sc.Scan() {
		if m := lostReport.FindStringSubmatch(sc.Text()); m != nil {
			var n int64
			fmt.Sscan(m[1], &n)
			t.lost.Store(n)
		}
	}
}

// startTUI runs rustscope's terminal UI on pid inside a tmux pseudo-terminal.
func (h *harness) startTUI(pid int) (*tracer, error) {
	f, err := os.CreateTemp("", "rustscope-bench-*.log")
	if err != nil {
		return nil, err
	}
	f.Close()
	name := fmt.Sprintf("rsbench%d", os.Getpid())
	abs, err := filepath.Abs(h.rustscope)
	if err != nil {
		return nil, err
	}
	pin := ""
	if h.tracerCPUs != "" {
		pin = "taskset -c " + h.tracerCPUs + " "
	}
	cmdline := fmt.Sprintf("exec env -u CI %s%s --pid %d --log-file %s", pin, abs, pid, f.Name())
	if out, err := exec.Command("tmux", "new-session", "-d", "-s", name, "-x", "200", "-y", "50", cmdline).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("start tmux: %v: %s", err, out)
	}
	t := &tracer{logFile: f.Name(), tmux: name}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, _ := exec.Command("tmux", "display", "-p", "-t", name, "#{pane_pid}").Output()
		fmt.Sscan(string(out), &t.pid)
		screen, _ := exec.Command("tmux", "capture-pane", "-p", "-t", name).Output()
		if t.pid > 0 && strings.Contains(string(screen), "waiting for requests") {
			return t, nil
		}
	}
	t.stop()
	return nil, fmt.Errorf("the TUI did not attach within 30 s")
}

// stop ends rustscope and returns the fields of its final log line.
func (t *tracer) stop() (map[string]string, error) {
	defer os.Remove(t.logFile)
	if t.tmux != "" {
		exec.Command("tmux", "send-keys", "-t", t.tmux, "q").Run()
		for i := 0; i < 50 && syscall.Kill(t.pid, 0) == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		exec.Command("tmux", "kill-session", "-t", t.tmux).Run()
		return nil, nil
	}
	t.cmd.Process.Signal(os.Interrupt)
	if err := t.cmd.Wait(); err != nil {
		return nil, fmt.Errorf("rustscope: %w", err)
	}
	b, err := os.ReadFile(t.logFile)
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "msg=stopped") {
			return logFields(l), nil
		}
	}
	return nil, errors.New("rustscope logged no stopped line")
}

// logFields splits a slog text line into its key=value fields.
func logFields(l string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(l) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

// settle is how long a phase waits after rustscope attached: its steady
// state, once the tokio task probes of a target without client calls are
// gone (tracer.taskIdle, 10 s; rustscope checks once a second).
const settle = 11 * time.Second

// What rustscope logs about the task probes (tracer/probes.go, tasks.go).
const (
	tasksPlaced = "task types; placed while the process makes client calls"
	tasksIdle   = "task probes removed: no client calls"
)

// What a phase notes when the task probes were not as it needs them.
const (
	noteStillPlaced = "the task probes were still placed when the load began"
	noteNotKept     = "the task probes were removed for want of client calls during the phase"
)

// tasksKept reports whether the task probes were placed at attach and
// have not been removed for want of client calls since (removals for the
// link budget are the plan: the phase measures what the default costs).
func (t *tracer) tasksKept() bool { return t.logged(tasksPlaced) && !t.logged(tasksIdle) }

// logged reports whether rustscope's log so far holds s.
func (t *tracer) logged(s string) bool {
	b, _ := os.ReadFile(t.logFile)
	return strings.Contains(string(b), s)
}

// settled waits settle after attach and then, if task probes were placed,
// up to 5 s more for rustscope to say they are gone: a phase of a target
// without client calls measures it without them. It reports whether they
// are gone (or were never placed).
func (t *tracer) settled() bool {
	time.Sleep(settle)
	if !t.logged(tasksPlaced) {
		return true
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if t.logged(tasksIdle) {
			return true
		}
	}
	return false
}
