package e2e

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestE2EExecFromFirstSyscall: rustscope runs first, waiting for an
// executable (--exe, a glob) or for any Rust process using the
// instrumented crates (--all); then short-lived clients start, each making
// its calls at once and exiting: a tonic client (HTTP/2, gRPC) and a
// reqwest client (HTTP/1.1), 20 runs each. Every call of every run has its
// exact span (method, path or RPC, status, gRPC status), under its own
// process: each is a target from its exec (tracer/exec.go), captured from
// its first syscall, and attached, or, gone already, described from its
// executable. --all has never seen these executables: each is a target from
// its exec until judged; the tonic server it attached at start keeps every
// span too.
func TestE2EExecFromFirstSyscall(t *testing.T) {
	needE2E(t, "release/tonic-client", "release/reqwest-client", "release/tonic-server")
	grpcSrv := startServer(t, "release", "tonic-server")
	httpSrv := startRecordingServer(t)
	tonicClient, err := filepath.EvalSymlinks(appPath("release", "tonic-client"))
	if err != nil {
		t.Fatal(err)
	}
	reqwestClient, err := filepath.EvalSymlinks(appPath("release", "reqwest-client"))
	if err != nil {
		t.Fatal(err)
	}
	const runs, calls = 20, 10
	paths := []string{"/users/7", "/status/500", "/chunked", "/health", "/status/204"}
	for _, mode := range []struct {
		name, waiting string
		args          []string
	}{
		{"exe", "rustscope: waiting for", []string{"--exe", filepath.Join(filepath.Dir(tonicClient), "*-client")}},
		{"all", "rustscope: waiting for Rust processes", []string{"--all"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			rs := startRustscopeBg(t, mode.waiting, append(mode.args, "--headless", "--stdout"))
			if mode.name == "all" {
				// The server runs already: it is attached as the first scan
				// finds it, and its spans are checked too.
				waitStderr(t, rs, "attached pid "+strconv.Itoa(grpcSrv.pid())+" ", 30*time.Second)
			}
			httpSrv.take()
			pids := map[string]string{} // pid -> "grpc" or "http"
			for i := range runs {
				g := exec.Command(tonicClient, "--addr", grpcSrv.base, "--count", strconv.Itoa(calls), "--concurrency", "4", "--mix")
				args := []string{"--count", strconv.Itoa(calls), "--concurrency", "4"}
				for _, p := range paths {
					args = append(args, "--url", httpSrv.base+p)
				}
				h := exec.Command(reqwestClient, args...)
				for _, c := range []*exec.Cmd{g, h} {
					out, err := c.CombinedOutput()
					if err != nil {
						t.Fatalf("run %d: %s: %v\n%s", i, c.Path, err, out)
					}
					if c == g && !strings.Contains(string(out), "unexpected=0") {
						t.Fatalf("run %d: tonic client: %s", i, out)
					}
					kind := "grpc"
					if c == h {
						kind = "http"
					}
					pids[strconv.Itoa(c.Process.Pid)] = kind
				}
			}
			want := 2 * runs * calls
			if mode.name == "all" {
				want += runs * calls // the tonic server's spans of the gRPC calls
			}
			rs.waitSpans(t, want, spanWait)
			spans := rs.stop(t)

			byKind := map[string][]jsonSpan{}
			perPID := map[string]int{}
			server := 0
			for _, s := range spans {
				pid := s.resource("process.pid")
				kind, ok := pids[pid]
				if pid == strconv.Itoa(grpcSrv.pid()) {
					server++
				}
				if !ok || s.SpanKind != kindClient {
					continue // --all: the servers' spans
				}
				byKind[kind] = append(byKind[kind], s)
				perPID[pid]++
				if want := filepath.Base(map[string]string{"grpc": tonicClient, "http": reqwestClient}[kind]); s.resource("service.name") != want {
					t.Errorf("span %s: service.name %q, want %q", s, s.resource("service.name"), want)
				}
			}
			if mode.name == "all" && server != runs*calls {
				var ss []jsonSpan
				for _, s := range spans {
					if s.resource("process.pid") == strconv.Itoa(grpcSrv.pid()) {
						ss = append(ss, s)
					}
				}
				var keys []string
				for range runs {
					keys = append(keys, grpcMixKeys(calls)...)
				}
				matchMultiset(t, "tonic server spans", keys, ss, grpcSpanKey)
			}
			var grpcKeys []string
			for range runs {
				grpcKeys = append(grpcKeys, grpcMixKeys(calls)...)
			}
			matchMultiset(t, "gRPC client spans", grpcKeys, byKind["grpc"], grpcSpanKey)
			checkGRPCSpans(t, byKind["grpc"], kindClient, grpcSrv.port)
			matchMultiset(t, "HTTP/1.1 client spans", httpSrv.take(), byKind["http"], clientSpanKey)
			for pid, kind := range pids {
				if perPID[pid] != calls {
					var said []string
					for _, l := range strings.Split(rs.stderr.String(), "\n") {
						if strings.Contains(l, "pid="+pid+" ") || strings.Contains(l, "pid "+pid+" ") {
							said = append(said, l)
						}
					}
					t.Errorf("%s client pid %s: %d spans, want %d; rustscope said of it:\n%s", kind, pid, perPID[pid], calls, strings.Join(said, "\n"))
				}
			}
		})
	}
}
