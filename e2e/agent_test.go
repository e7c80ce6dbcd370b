package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rustscope/rustscope/tracer"
)

// plainRust is a Rust HTTP server with no crate rustscope instruments
// (std only): --all must leave it alone.
const plainRust = `use std::io::{Read, Write};
fn main() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    println!("listening on {}", l.local_addr().unwrap());
    for s in l.incoming() {
        let mut s = match s { Ok(s) => s, Err(_) => continue };
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    }
}
`

// startPlainRust builds and starts plainRust; it returns its base URL.
func startPlainRust(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	rustc, err := exec.LookPath("rustc")
	if err != nil {
		if rustc = filepath.Join(os.Getenv("HOME"), ".cargo", "bin", "rustc"); !fileExists(rustc) {
			t.Skip("no rustc to build a Rust program without instrumented crates")
		}
	}
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "plain.rs"), filepath.Join(dir, "plain-rust")
	if err := os.WriteFile(src, []byte(plainRust), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(rustc, "-O", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("rustc: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	addr := startListener(t, "plain-rust", cmd)
	return cmd, "http://" + addr
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestE2EAllTargets: `rustscope --headless --all` traces the axum and
// hyper apps started before it and the tonic server (and its tonic
// client) started after it, each under its own service.name and
// process.pid, and leaves alone a Rust program without instrumented
// crates.
func TestE2EAllTargets(t *testing.T) {
	runAllTargets(t, func(t *testing.T) *rustscopeRun {
		return startRustscopeBg(t, "rustscope: waiting for Rust processes", []string{"--headless", "--all", "--stdout"})
	}, serviceNames{axum: "axum-server", hyper: "hyper-server", tonicServer: "tonic-server", tonicClient: "tonic-client"})
}

// TestE2EConfigFile is TestE2EAllTargets configured only by a file
// (RUSTSCOPE_CONFIG; no flag, no OTEL_* variable): targets by crate and
// command line, by path and by glob, then all = true; service names from
// the file where a target sets one, else the executable's; stdout export
// and a resource attribute from the file.
func TestE2EConfigFile(t *testing.T) {
	bin := repoPath("testapps", "bin", "release")
	path := filepath.Join(t.TempDir(), "config.toml")
	conf := fmt.Sprintf(`headless = true
all = true   # the axum app: no target below selects it

# The tonic client (the axum app and the tonic server link tonic too, but
# they are started with --listen).
[[target]]
crate = "tonic"
cmdline = '\s--addr\s'
service_name = "checkout-client"

[[target]]
exe = %q
service_name = "edge-hyper"

[[target]]
exe = %q   # the tonic server, named after its executable

[export]
stdout = true

[export.resource_attributes]
"deployment.environment.name" = "e2e"
`, filepath.Join(bin, "hyper-server"), filepath.Join(bin, "tonic-*"))
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var rs *rustscopeRun
	spans := runAllTargets(t, func(t *testing.T) *rustscopeRun {
		rs = startRustscopeBg(t, "rustscope: waiting for Rust processes using tonic with a command line matching", nil, "RUSTSCOPE_CONFIG="+path)
		return rs
	}, serviceNames{axum: "axum-server", hyper: "edge-hyper", tonicServer: "tonic-server", tonicClient: "checkout-client"})
	for _, s := range spans {
		if v := s.resource("deployment.environment.name"); v != "e2e" {
			t.Fatalf("span %s: deployment.environment.name %q, want e2e (from the file)", s, v)
		}
	}
	for _, want := range []string{" as service edge-hyper: ", " as service checkout-client: "} {
		if !strings.Contains(rs.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, rs.stderr.String())
		}
	}
}

// serviceNames are the service.name each app's spans must carry.
type serviceNames struct{ axum, hyper, tonicServer, tonicClient string }

// runAllTargets starts the axum and hyper apps and a plain Rust program,
// then rustscope with start (it returns once rustscope waits for
// processes), then the tonic server and a tonic client; it drives traffic
// and checks that rustscope attached to each app as it started, that every
// span is under its process with the service name in names, and that the
// plain program was left alone. It returns the spans.
func runAllTargets(t *testing.T, start func(*testing.T) *rustscopeRun, names serviceNames) []jsonSpan {
	t.Helper()
	needE2E(t, "release/axum-server", "release/hyper-server", "release/tonic-server", "release/tonic-client")
	plain, plainBase := startPlainRust(t)
	axum := startServer(t, "release", "axum-server")
	hyper := startServer(t, "release", "hyper-server")
	rs := start(t)
	for _, pid := range []int{axum.pid(), hyper.pid()} {
		waitStderr(t, rs, fmt.Sprintf("rustscope: attached pid %d ", pid), 30*time.Second)
	}
	t0 := time.Now()
	tonic := startServer(t, "release", "tonic-server")
	waitStderr(t, rs, fmt.Sprintf("rustscope: attached pid %d ", tonic.pid()), 10*time.Second)
	t.Logf("tonic-server attached %v after its start", time.Since(t0).Round(time.Millisecond))

	send(t, axum.base, []request{{method: "GET", path: "/users/1", status: 200}, {method: "GET", path: "/users/2", status: 200}}, 1)
	send(t, hyper.base, []request{{method: "GET", path: "/health", status: 200}}, 1)
	send(t, plainBase, []request{{method: "GET", path: "/plain", status: 200}}, 1)
	const n = 20
	cl := startWaitClient(t, "release", "tonic-client", "--addr", tonic.base, "--count", strconv.Itoa(n), "--concurrency", "4", "--mix")
	waitStderr(t, rs, fmt.Sprintf("rustscope: attached pid %d ", cl.cmd.Process.Pid), 10*time.Second)
	if summary := cl.run(t); !strings.Contains(summary, "unexpected=0") {
		t.Fatalf("client: %s", summary)
	}
	cl.finish(t)
	rs.waitSpans(t, 2+1+2*n, spanWait)
	spans := rs.stop(t)

	byPID := map[string][]jsonSpan{}
	for _, s := range spans {
		pid := s.resource("process.pid")
		byPID[pid] = append(byPID[pid], s)
		if want := map[string]string{
			fmt.Sprint(axum.pid()): names.axum, fmt.Sprint(hyper.pid()): names.hyper,
			fmt.Sprint(tonic.pid()): names.tonicServer, fmt.Sprint(cl.cmd.Process.Pid): names.tonicClient,
		}[pid]; want != "" && s.resource("service.name") != want {
			t.Errorf("pid %s span %s: service.name %q, want %q", pid, s, s.resource("service.name"), want)
		}
	}
	for _, c := range []struct {
		name string
		pid  int
		want int
	}{{"axum-server", axum.pid(), 2}, {"hyper-server", hyper.pid(), 1}, {"tonic-server", tonic.pid(), n}, {"tonic-client", cl.cmd.Process.Pid, n}, {"plain Rust", plain.Process.Pid, 0}} {
		if got := len(byPID[fmt.Sprint(c.pid)]); got != c.want {
			t.Errorf("%s (pid %d): %d spans, want %d", c.name, c.pid, got, c.want)
		}
	}
	if strings.Contains(rs.stderr.String(), fmt.Sprintf("attached pid %d ", plain.Process.Pid)) {
		t.Errorf("attached to the Rust program without instrumented crates")
	}
	matchMultiset(t, "gRPC server spans", grpcMixKeys(n), byPID[fmt.Sprint(tonic.pid())], grpcSpanKey)
	for _, s := range byPID[fmt.Sprint(axum.pid())] {
		if s.attr("http.route") != "/users/:id" {
			t.Errorf("axum span %s: route %q", s, s.attr("http.route"))
		}
	}
	return spans
}

// TestE2EConfigRingBytes: buffers.ring_bytes sizes the kernel ring buffer
// rustscope maps (the kernel maps its data pages twice, after the
// producer's page).
func TestE2EConfigRingBytes(t *testing.T) {
	needE2E(t)
	for _, tc := range []struct {
		buffers string
		ring    int
	}{{"", tracer.DefaultRingBytes}, {"[buffers]\nring_bytes = 33554432\n", 32 << 20}} {
		path := filepath.Join(t.TempDir(), "config.toml")
		conf := tc.buffers + "[[target]]\nexe = \"/nonexistent/*\"\n[export]\nstdout = true\n"
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		rs := startRustscopeBg(t, "rustscope: waiting for processes running /nonexistent/*", nil, "RUSTSCOPE_CONFIG="+path)
		maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", rs.cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		largest := uint64(0)
		for _, l := range strings.Split(string(maps), "\n") {
			var lo, hi uint64
			if strings.HasSuffix(l, "anon_inode:bpf-map") {
				if _, err := fmt.Sscanf(l, "%x-%x", &lo, &hi); err == nil {
					largest = max(largest, hi-lo)
				}
			}
		}
		rs.stop(t)
		// The producer position page, then the data pages twice.
		if want := uint64(os.Getpagesize() + 2*tc.ring); largest != want {
			t.Errorf("config %q: largest BPF map mapping %d bytes, want %d (a page and twice the ring)", tc.buffers, largest, want)
		}
	}
}
