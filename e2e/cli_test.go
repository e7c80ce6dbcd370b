package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/rustscope/rustscope/process"
	"github.com/rustscope/rustscope/symbols"
)

// TestListShowsRunningApps runs `rustscope list --json` while test apps of
// several builds run, and a non-Rust process beside them.
func TestListShowsRunningApps(t *testing.T) {
	needE2E(t, "release-strip/tonic-server", "legacy-release/hyper014-server", "release-rustc185/hyper-server")
	apps := map[int]struct {
		variant, app string
		crates       map[string]string
		rustc        string
		stripped     bool
	}{}
	for _, a := range []struct {
		variant, app string
		crates       map[string]string
		rustc        string
		stripped     bool
	}{
		{"release", "axum-server", map[string]string{"axum": "0.7.9", "hyper": "1.5.2", "tokio": "1.43.1"}, "1.95.0", false},
		{"release-strip", "tonic-server", map[string]string{"tonic": "0.12.3", "hyper": "1.5.2"}, "1.95.0", true},
		{"legacy-release", "hyper014-server", map[string]string{"hyper": "0.14.19"}, "1.95.0", false},
		{"release-rustc185", "hyper-server", map[string]string{"hyper": "1.5.2"}, "1.85.0", false},
	} {
		s := startServer(t, a.variant, a.app)
		apps[s.pid()] = a
	}
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })

	out, err := exec.Command(rustscopeBin, "list", "--json").Output()
	if err != nil {
		t.Fatalf("rustscope list: %v", err)
	}
	var procs []process.Process
	if err := json.Unmarshal(out, &procs); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	seen := map[int]bool{}
	for _, p := range procs {
		if p.PID == sleep.Process.Pid {
			t.Errorf("non-Rust process %d (sleep) listed", p.PID)
		}
		if p.Analysis == nil || !p.Analysis.Rust {
			t.Errorf("pid %d (%s) listed but not Rust", p.PID, p.Exe)
		}
		want, ok := apps[p.PID]
		if !ok {
			continue
		}
		seen[p.PID] = true
		for name, v := range want.crates {
			if got := p.Analysis.Versions(name); !contains(got, v) {
				t.Errorf("%s/%s: crate %s versions %v, want %s", want.variant, want.app, name, got, v)
			}
		}
		if p.Analysis.RustcVersion != want.rustc {
			t.Errorf("%s/%s: rustc %q, want %q", want.variant, want.app, p.Analysis.RustcVersion, want.rustc)
		}
		if p.Analysis.Stripped != want.stripped {
			t.Errorf("%s/%s: stripped %v, want %v", want.variant, want.app, p.Analysis.Stripped, want.stripped)
		}
		if p.Traceable == "none" {
			t.Errorf("%s/%s: traceable none (%s)", want.variant, want.app, p.Reason)
		}
	}
	for pid, a := range apps {
		if !seen[pid] {
			t.Errorf("%s/%s (pid %d) not listed", a.variant, a.app, pid)
		}
	}

	// The table form names the same processes.
	table, err := exec.Command(rustscopeBin, "list").Output()
	if err != nil {
		t.Fatalf("rustscope list: %v", err)
	}
	for pid := range apps {
		if !strings.Contains(string(table), fmt.Sprintf("\n%d ", pid)) {
			t.Errorf("pid %d missing from the table:\n%s", pid, table)
		}
	}
}

// TestInspect checks the human and JSON forms of `rustscope inspect` on a
// running process and on a path, and its errors.
func TestInspect(t *testing.T) {
	needE2E(t)
	s := startServer(t, "release", "axum-server")
	out, err := exec.Command(rustscopeBin, "inspect", fmt.Sprint(s.pid())).Output()
	if err != nil {
		t.Fatalf("inspect pid: %v", err)
	}
	for _, want := range []string{"rustc         1.95.0", "axum 0.7.9", "symbols       symtab", "hyper.h1.server.parse", "push %rbp", "emulated"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	js, err := exec.Command(rustscopeBin, "inspect", "--json", appPath("release-strip", "axum-server")).Output()
	if err != nil {
		t.Fatalf("inspect --json: %v", err)
	}
	var a symbols.Analysis
	if err := json.Unmarshal(js, &a); err != nil {
		t.Fatal(err)
	}
	if !a.Rust || !a.Stripped || a.SymbolSource != "eh_frame" || a.Functions == 0 {
		t.Errorf("stripped analysis: rust %v stripped %v source %q functions %d", a.Rust, a.Stripped, a.SymbolSource, a.Functions)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"inspect", "/nonexistent/binary"}, exitTarget, "no such file"},
		{[]string{"inspect", "/etc/hostname"}, exitTarget, "not an ELF"},
		{[]string{"inspect", "999999999"}, exitTarget, "no such process"},
		{[]string{"inspect"}, exitUsage, "Usage"},
	} {
		cmd := exec.Command(rustscopeBin, tc.args...)
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != tc.code || !strings.Contains(string(out), tc.msg) {
			t.Errorf("%v: exit %d, output %q; want exit %d with %q", tc.args, cmd.ProcessState.ExitCode(), out, tc.code, tc.msg)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
