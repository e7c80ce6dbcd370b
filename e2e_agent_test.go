package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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
	needE2E(t, "release/axum-server", "release/hyper-server", "release/tonic-server", "release/tonic-client")
	plain, plainBase := startPlainRust(t)
	axum := startServer(t, "release", "axum-server")
	hyper := startServer(t, "release", "hyper-server")
	rs := startRustscopeBg(t, "rustscope: waiting for Rust processes", []string{"--headless", "--all", "--stdout"})
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
			fmt.Sprint(axum.pid()): "axum-server", fmt.Sprint(hyper.pid()): "hyper-server",
			fmt.Sprint(tonic.pid()): "tonic-server", fmt.Sprint(cl.cmd.Process.Pid): "tonic-client",
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
}
