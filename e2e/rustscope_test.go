package e2e

// A headless rustscope run and the stdout exporter's span JSON, with a
// multiset matcher that prints a readable diff.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rustscopeRun is a running headless rustscope.
type rustscopeRun struct {
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// startRustscope starts rustscope with args and env and waits until it
// says it is attached.
func startRustscope(t *testing.T, args []string, env ...string) *rustscopeRun {
	t.Helper()
	t0 := time.Now()
	r := startRustscopeBg(t, "rustscope: attached", args, env...)
	t.Logf("rustscope attached in %v", time.Since(t0).Round(time.Millisecond))
	return r
}

// startRustscopeBg starts rustscope and waits until stderr contains want.
func startRustscopeBg(t *testing.T, want string, args []string, env ...string) *rustscopeRun {
	t.Helper()
	cmd := exec.Command(rustscopeBin, args...)
	cmd.Env = append(os.Environ(), env...)
	return startRun(t, cmd, want)
}

// startRun starts cmd, rustscope or a command that runs it, and waits
// until stderr contains want.
func startRun(t *testing.T, cmd *exec.Cmd, want string) *rustscopeRun {
	t.Helper()
	r := &rustscopeRun{cmd: cmd}
	r.cmd.Stdout = &r.stdout
	r.cmd.Stderr = &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			r.cmd.Process.Kill()
			r.cmd.Wait()
		}
		if t.Failed() || os.Getenv("E2E_LOG") != "" {
			t.Logf("rustscope's log (its last %d lines):\n%s", logTail, lastLines(r.stderr.Bytes(), logTail))
		}
	})
	waitStderr(t, r, want, 30*time.Second)
	return r
}

// logTail is how much of rustscope's log a failed test shows.
const logTail = 150

// waitStderr waits until rustscope's stderr contains want.
func waitStderr(t *testing.T, r *rustscopeRun, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(r.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("rustscope did not say %q; stderr:\n%s", want, r.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// attach is startRustscope for the usual headless form, with extra flags.
func attach(t *testing.T, pid int, extra ...string) *rustscopeRun {
	t.Helper()
	return startRustscope(t, append([]string{"--pid", strconv.Itoa(pid), "--stdout"}, extra...))
}

// waitSpans waits until rustscope has printed at least n spans (the
// exporter batches for up to 500 ms) or timeout passed.
func (r *rustscopeRun) waitSpans(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	t0 := time.Now()
	deadline := t0.Add(timeout)
	for bytes.Count(r.stdout.Bytes(), []byte("\n")) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("waited %v for %d spans", time.Since(t0).Round(time.Millisecond), n)
}

// stop sends SIGTERM, waits for a clean exit and returns the spans printed.
// It fails the test if rustscope reported records lost in the kernel or
// sequence gaps: either means the wire layer dropped data.
func (r *rustscopeRun) stop(t *testing.T) []jsonSpan {
	t.Helper()
	t0 := time.Now()
	r.terminate(t, 30*time.Second)
	t.Logf("rustscope stopped in %v", time.Since(t0).Round(time.Millisecond))
	stderr := r.stderr.String()
	for _, k := range []string{"gaps", "lost"} {
		if m := regexp.MustCompile(`msg=stopped .*\b` + k + `=(\d+)`).FindStringSubmatch(stderr); m != nil && m[1] != "0" {
			t.Errorf("rustscope reported %s=%s; stderr:\n%s", k, m[1], stderr)
		}
	}
	return parseSpans(t, r.stdout.Bytes())
}

// terminate sends SIGTERM and waits for a clean exit.
func (r *rustscopeRun) terminate(t *testing.T, timeout time.Duration) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	switch exited, err := waitExit(r.cmd, timeout); {
	case !exited:
		t.Fatalf("rustscope did not stop on SIGTERM; stderr:\n%s", r.stderr.String())
	case err != nil:
		t.Fatalf("rustscope exited with %v; stderr:\n%s", err, r.stderr.String())
	}
}

// jsonSpan is the part of the OpenTelemetry stdout exporter's span JSON the
// tests look at.
type jsonSpan struct {
	Name       string
	SpanKind   int
	StartTime  time.Time
	EndTime    time.Time
	Attributes []struct {
		Key   string
		Value struct {
			Type  string
			Value any
		}
	}
	Status   struct{ Code, Description string }
	Resource []struct {
		Key   string
		Value struct{ Value any }
	}
	InstrumentationScope struct{ Name, Version string }
	SpanContext, Parent  jsonSpanContext
}

// jsonSpanContext is a span context as the stdout exporter prints it.
type jsonSpanContext struct {
	TraceID, SpanID, TraceFlags, TraceState string
	Remote                                  bool
}

// Span kinds as the stdout exporter prints them (trace.SpanKind).
const (
	kindServer = 2
	kindClient = 3
)

func (s jsonSpan) attr(k string) string {
	for _, a := range s.Attributes {
		if a.Key == k {
			return fmt.Sprint(a.Value.Value)
		}
	}
	return ""
}

// attrDiffs lists, one line each, the attributes of s that differ from want.
func (s jsonSpan) attrDiffs(want map[string]string) []string {
	var out []string
	for k, v := range want {
		if s.attr(k) != v {
			out = append(out, fmt.Sprintf("%s = %q, want %q", k, s.attr(k), v))
		}
	}
	return out
}

func (s jsonSpan) hasAttr(k string) bool {
	for _, a := range s.Attributes {
		if a.Key == k {
			return true
		}
	}
	return false
}

func (s jsonSpan) resource(k string) string {
	for _, a := range s.Resource {
		if a.Key == k {
			return fmt.Sprint(a.Value.Value)
		}
	}
	return ""
}

func (s jsonSpan) duration() time.Duration { return s.EndTime.Sub(s.StartTime) }

func (s jsonSpan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s kind=%d %s..%s (%v) status=%s", s.Name, s.SpanKind,
		s.StartTime.Format("15:04:05.000000"), s.EndTime.Format("15:04:05.000000"), s.duration(), s.Status.Code)
	for _, a := range s.Attributes {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Value)
	}
	return b.String()
}

func parseSpans(t *testing.T, out []byte) []jsonSpan {
	t.Helper()
	var spans []jsonSpan
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber() // sizes print as integers, not 1.048576e+06
	for dec.More() {
		var s jsonSpan
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("stdout is not JSON spans: %v\n%s", err, out)
		}
		spans = append(spans, s)
	}
	if n := bytes.Count(bytes.TrimSpace(out), []byte("\n")) + 1; len(out) > 0 && n != len(spans) {
		t.Errorf("want one span per line: %d lines, %d spans", n, len(spans))
	}
	return spans
}

// diffKeys lists the multiset difference of two key lists, sorted.
func diffKeys(want, got []string) string {
	count := map[string]int{}
	for _, k := range want {
		count[k]++
	}
	for _, k := range got {
		count[k]--
	}
	var keys []string
	for k, n := range count {
		if n != 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		if n := count[k]; n > 0 {
			fmt.Fprintf(&b, "  missing %dx %s\n", n, k)
		} else {
			fmt.Fprintf(&b, "  extra   %dx %s\n", -n, k)
		}
	}
	return b.String()
}

// matchMultiset pairs spans with expectations by key (order does not
// matter) and reports the difference in one error. It returns, per key,
// the spans with that key.
func matchMultiset(t *testing.T, what string, wantKeys []string, spans []jsonSpan, key func(jsonSpan) string) map[string][]jsonSpan {
	t.Helper()
	byKey := map[string][]jsonSpan{}
	var got []string
	for _, s := range spans {
		k := key(s)
		got = append(got, k)
		byKey[k] = append(byKey[k], s)
	}
	if d := diffKeys(wantKeys, got); d != "" {
		const max = 60
		lines := strings.SplitAfter(d, "\n")
		if len(lines) > max {
			lines = append(lines[:max], fmt.Sprintf("  ... and %d more lines\n", len(lines)-max))
		}
		t.Errorf("%s: %d spans for %d expected; spans do not match requests (key: %s):\n%s",
			what, len(spans), len(wantKeys), keyLegend, strings.Join(lines, ""))
	}
	return byKey
}
