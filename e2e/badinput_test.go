package e2e

// Bad input, end to end: each one ends the built rustscope with one line on
// stderr naming what is wrong and the exit code README documents.

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// badInput is one run of rustscope that must fail at once.
type badInput struct {
	name string
	args []string
	env  []string
	code int
	msg  string // stderr is exactly one line containing it
}

func (tc badInput) check(t *testing.T, bin string, wrap ...string) {
	t.Helper()
	argv := append(append(wrap, bin), tc.args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), tc.env...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited, _ := waitExit(cmd, 20*time.Second)
	if !exited {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("%s: still running after 20 s; stderr:\n%s", tc.name, stderr.String())
	}
	out := strings.TrimSuffix(stderr.String(), "\n")
	if code := cmd.ProcessState.ExitCode(); code != tc.code || strings.Contains(out, "\n") || !strings.Contains(out, tc.msg) {
		t.Errorf("%s: exit %d, stderr %q; want exit %d and one line containing %q", tc.name, code, out, tc.code, tc.msg)
	}
}

// TestBadInputUsage: invalid flags and environment values exit 2, before
// anything needs root.
func TestBadInputUsage(t *testing.T) {
	for _, tc := range []badInput{
		{name: "unknown flag", args: []string{"--bogus"}, code: exitUsage, msg: "rustscope: flag provided but not defined: -bogus (rustscope --help lists them)"},
		{name: "flag without value", args: []string{"--pid"}, code: exitUsage, msg: "flag needs an argument: -pid"},
		{name: "bad pid flag", args: []string{"--pid", "abc"}, code: exitUsage, msg: `--pid "abc": not a process ID`},
		{name: "bad pid env", env: []string{"OTEL_TARGET_PID=abc"}, args: []string{"--headless"}, code: exitUsage, msg: `OTEL_TARGET_PID="abc": not a process ID`},
		{name: "bad protocol env", env: []string{"OTEL_EXPORTER_OTLP_PROTOCOL=bogus"}, args: []string{"--pid", "1"}, code: exitUsage,
			msg: `OTEL_EXPORTER_OTLP_PROTOCOL="bogus": unknown protocol "bogus"; want grpc or http/protobuf`},
		{name: "bad bool env", env: []string{"OTEL_STDOUT=maybe"}, args: []string{"--pid", "1"}, code: exitUsage, msg: `OTEL_STDOUT="maybe": want true or false`},
		{name: "bad show-secrets env", env: []string{"RUSTSCOPE_SHOW_SECRETS=maybe"}, args: []string{"--pid", "1"}, code: exitUsage, msg: `RUSTSCOPE_SHOW_SECRETS="maybe": want true or false`},
		{name: "bad capture bytes", args: []string{"--pid", "1", "--capture-bytes", "10"}, code: exitUsage, msg: "--capture-bytes 10: want 64 to"},
		{name: "no target", args: []string{"--headless"}, code: exitUsage, msg: "no target: set --pid"},
	} {
		tc.check(t, rustscopeBin)
	}
}

// TestBadInputTarget: targets that do not exist or are not Rust programs
// exit 3; a Rust program without an instrumented crate is traced from its
// sockets, and rustscope says so.
func TestBadInputTarget(t *testing.T) {
	needE2E(t)
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
	sleepPID := strconv.Itoa(sleep.Process.Pid)
	for _, tc := range []badInput{
		{name: "no such pid", args: []string{"--pid", "999999999", "--stdout"}, code: exitTarget, msg: "rustscope: pid 999999999: no such process"},
		{name: "not Rust", args: []string{"--pid", sleepPID, "--stdout"}, code: exitTarget,
			msg: "rustscope: pid " + sleepPID + " (sleep) is not a Rust program (/usr/bin/sleep): rustscope traces Rust services (--wire-only"},
		{name: "kernel thread", args: []string{"--pid", "2", "--stdout"}, code: exitTarget, msg: "is a kernel thread or a zombie"},
		{name: "no such executable", args: []string{"--exe", "/nonexistent/app", "--stdout"}, code: exitTarget, msg: "rustscope: --exe /nonexistent/app: no such file"},
		{name: "executable from env", env: []string{"OTEL_TARGET_EXE=/nonexistent/app"}, code: exitTarget, msg: "rustscope: OTEL_TARGET_EXE=/nonexistent/app: no such file"},
		{name: "executable not ELF", args: []string{"--exe", "/etc/hostname", "--stdout"}, code: exitTarget, msg: "--exe: /etc/hostname: not an ELF file"},
		{name: "executable not Rust", args: []string{"--exe", "/usr/bin/sleep", "--stdout"}, code: exitTarget, msg: "--exe /usr/bin/sleep is not a Rust program"},
		{name: "inspect no such pid", args: []string{"inspect", "999999999"}, code: exitTarget, msg: "inspect pid 999999999: no such process"},
	} {
		tc.check(t, rustscopeBin)
	}

	// --wire-only takes any program.
	rs := startRustscope(t, []string{"--pid", sleepPID, "--stdout", "--wire-only"})
	rs.stop(t)

	plain, _ := startPlainRust(t) // agent_test.go
	rs = startRustscope(t, []string{"--pid", strconv.Itoa(plain.Process.Pid), "--stdout"})
	rs.stop(t)
	for _, want := range []string{fmt.Sprintf("rustscope: pid %d (plain-rust) uses none of the crates rustscope instruments (", plain.Process.Pid),
		"): wire capture only, spans without http.route\n"} {
		if !strings.Contains(rs.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, rs.stderr.String())
		}
	}
}

// TestBadInputPrivileges runs rustscope as nobody (uid 65534): without
// capabilities it names every one it needs; with them, given as ambient
// capabilities as a systemd unit would, it traces a root process, and
// without CAP_SYS_PTRACE it says that is what reading it needs.
func TestBadInputPrivileges(t *testing.T) {
	needE2E(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	// nobody must reach the binary: a copy in a directory it can enter.
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "rustscope")
	if out, err := exec.Command("cp", rustscopeBin, bin).CombinedOutput(); err != nil {
		t.Fatalf("copy rustscope: %v: %s", err, out)
	}
	app := startServer(t, "release", "axum-server")
	pid := strconv.Itoa(app.pid())
	nobody := func(caps string) []string {
		w := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}
		if caps != "" {
			w = append(w, "--inh-caps="+caps, "--ambient-caps="+caps)
		}
		return w
	}
	for _, tc := range []struct {
		badInput
		caps string
	}{
		{badInput: badInput{name: "not root", args: []string{"--pid", pid, "--stdout"}, code: exitEnv,
			msg: "rustscope: missing capabilities CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE: run as root, or grant them"}},
		{badInput: badInput{name: "no perfmon", args: []string{"--pid", pid, "--stdout"}, code: exitEnv,
			msg: "rustscope: missing capabilities CAP_PERFMON: run as root"}, caps: "+bpf,+dac_read_search,+sys_ptrace"},
		{badInput: badInput{name: "no ptrace", args: []string{"--pid", pid, "--stdout"}, code: exitEnv,
			msg: "(axum-server): read /proc/" + pid + "/exe: permission denied: tracing another user's process needs CAP_SYS_PTRACE"}, caps: "+bpf,+perfmon,+dac_read_search"},
		{badInput: badInput{name: "inspect another user's process", args: []string{"inspect", pid}, code: exitEnv,
			msg: "inspect pid " + pid + ": permission denied: another user's process needs CAP_SYS_PTRACE"}},
	} {
		tc.check(t, bin, nobody(tc.caps)...)
	}

	// With the four capabilities, nobody traces root's axum app: spans, routes.
	argv := append(nobody("+bpf,+perfmon,+dac_read_search,+sys_ptrace"), bin, "--pid", pid, "--stdout")
	r := startRun(t, exec.Command(argv[0], argv[1:]...), "rustscope: attached")
	reqs := []request{{method: "GET", path: "/users/7", status: 200}, {method: "GET", path: "/health", status: 200}}
	send(t, app.base, reqs, 1)
	r.waitSpans(t, len(reqs), 10*time.Second)
	spans := r.stop(t)
	if got, want := strings.Join(spanKeys(spans), "\n"), strings.Join(requestKeys(reqs), "\n"); got != want {
		t.Errorf("spans as nobody with capabilities:\n%s\nwant\n%s", got, want)
	}
	for _, s := range spans {
		if s.attr("url.path") == "/users/7" && s.attr("http.route") != "/users/:id" {
			t.Errorf("http.route %q: the route table (/proc/PID/mem) was not read", s.attr("http.route"))
		}
	}
}

// TestSecretsE2E: credential headers and query values of real requests
// reach no exported span by default, and all of them with --show-secrets.
func TestSecretsE2E(t *testing.T) {
	needE2E(t)
	app := startServer(t, "release", "axum-server")
	hdr := http.Header{"Authorization": {"Bearer sec-auth"}, "Cookie": {"sid=sec-cookie"}, "Proxy-Authorization": {"Basic sec-proxy"}}
	for _, show := range []bool{false, true} {
		args := []string{"--pid", strconv.Itoa(app.pid()), "--stdout"}
		if show {
			args = append(args, "--show-secrets")
		}
		rs := startRustscope(t, args)
		send(t, app.base, []request{{method: "GET", path: "/users/7?token=sec-query", status: 200, header: hdr}}, 1)
		rs.waitSpans(t, 1, 10*time.Second)
		spans := rs.stop(t)
		if len(spans) != 1 {
			t.Fatalf("show=%v: %d spans, want 1", show, len(spans))
		}
		s := spans[0]
		if !show {
			if out := string(rs.stdout.Bytes()); strings.Contains(out, "sec-") {
				t.Errorf("a secret was exported by default:\n%s", out)
			}
			if q := s.attr("url.query"); q != "token=REDACTED" {
				t.Errorf("url.query %q, want token=REDACTED", q)
			}
			continue
		}
		for k, want := range map[string]string{"url.query": "token=sec-query", "http.request.header.authorization": "[Bearer sec-auth]",
			"http.request.header.cookie": "[sid=sec-cookie]", "http.request.header.proxy-authorization": "[Basic sec-proxy]"} {
			if got := s.attr(k); got != want {
				t.Errorf("--show-secrets: %s = %q, want %q", k, got, want)
			}
		}
	}
}

// TestBadInputConfigFile: a bad configuration file ends rustscope with one
// line naming the file and the line, and exit 2 (a named file that is
// missing too); a target executable in it that does not exist or is not
// Rust exits 3, as --exe does.
func TestBadInputConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	typo := file("typo.toml", "headless = true\n\n[[target]]\ncrate = \"axum\"\n\ntargts = 1\n")
	syntax := file("syntax.toml", "[export]\nendpoint = \"http://c:4317\n")
	regex := file("regex.toml", "[[target]]\ncmdline = \"--port (80\"\n")
	proto := file("proto.toml", "[export]\nprotocol = \"udp\"\n")
	for _, tc := range []badInput{
		{name: "unknown key", env: []string{"RUSTSCOPE_CONFIG=" + typo}, code: exitUsage, msg: "rustscope: config " + typo + `:6: unknown key "target.targts"`},
		{name: "syntax", args: []string{"--config", syntax}, code: exitUsage, msg: "rustscope: config " + syntax + ":2: "},
		{name: "bad regexp", args: []string{"--config", regex}, code: exitUsage,
			msg: "rustscope: config " + regex + ":2: target.cmdline \"--port (80\": not a valid regular expression: missing closing ): `--port (80`"},
		{name: "bad value", env: []string{"RUSTSCOPE_CONFIG=" + proto}, args: []string{"--pid", "1"}, code: exitUsage,
			msg: "rustscope: config " + proto + `:2: export.protocol "udp": unknown protocol "udp"; want grpc or http/protobuf`},
		{name: "missing named file", env: []string{"RUSTSCOPE_CONFIG=" + dir + "/none.toml"}, code: exitUsage,
			msg: `rustscope: RUSTSCOPE_CONFIG="` + dir + `/none.toml": no such file`},
	} {
		tc.check(t, rustscopeBin)
	}

	needE2E(t)
	noExe := file("noexe.toml", "[[target]]\nexe = \"/nonexistent/app\"\n")
	notRust := file("notrust.toml", "[export]\nstdout = true\n\n[[target]]\nexe = \"/usr/bin/sleep\"\n")
	for _, tc := range []badInput{
		{name: "no such executable", env: []string{"RUSTSCOPE_CONFIG=" + noExe}, code: exitTarget,
			msg: "rustscope: config " + noExe + ":2: target.exe /nonexistent/app: no such file"},
		{name: "executable not Rust", env: []string{"RUSTSCOPE_CONFIG=" + notRust}, code: exitTarget,
			msg: "rustscope: config " + notRust + ":5: target.exe /usr/bin/sleep is not a Rust program"},
	} {
		tc.check(t, rustscopeBin)
	}
}
