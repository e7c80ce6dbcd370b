package e2e

// End-to-end test of the container image: rustscope in one container
// traces the release axum app in another and exports to an OTLP receiver
// on the host. No registry is needed: both images are FROM scratch, the
// rustscope one from `make docker-build`.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// TestDockerE2E: the image, run as docs/kubernetes.md runs it (the
// target's PID namespace, the capabilities rustscope needs, configured by
// OTEL_* variables only), attaches to the axum app by the executable's
// path as the app sees it, and every request sent to the app arrives at
// the host's OTLP receiver as a span with the route, status, peer and the
// configured service.name. The app runs in its own container, seen
// through the host's PID namespace (a DaemonSet with hostPID; rustscope
// starts first and waits for it) or through the app container's own (a
// sidecar in a pod with shareProcessNamespace, where PIDs differ from the
// host's), or on the host.
func TestDockerE2E(t *testing.T) {
	needE2E(t)
	needDocker(t)
	t0 := time.Now()
	id := fmt.Sprintf("rustscope-e2e-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	rsImg, appImg := id+":rustscope", id+":axum"
	if out, err := exec.Command("make", "-C", repoRoot, "docker-build", "IMG="+rsImg).CombinedOutput(); err != nil {
		t.Fatalf("make docker-build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", rsImg).Run() })
	buildAppImage(t, appImg, appPath("release", "axum-server"))
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", appImg).Run() })
	t.Logf("images built in %v; %s is %s", time.Since(t0).Round(time.Millisecond), rsImg, dockerOut(t, "image", "inspect", "-f", "{{.Size}}", rsImg))

	for _, tc := range []struct {
		name    string
		pid     string // rustscope's PID namespace: "host", or "container": the app's
		hostApp bool   // the app runs on the host, not in a container
	}{
		{name: "host-pid", pid: "host"},
		{name: "shared-pid", pid: "container"},
		{name: "host-app", pid: "host", hostApp: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := startReceiver(t, "grpc", nil)
			svc := "orders-" + tc.name
			rsName := id + "-rs-" + tc.name
			app := id + "-app-" + tc.name
			exe := "/app/axum-server" // exists only in the app's container
			if tc.hostApp {
				// A copy of its own: other processes running the test
				// apps' binary are no targets of this test.
				b, err := os.ReadFile(appPath("release", "axum-server"))
				if err == nil {
					exe, err = filepath.EvalSymlinks(t.TempDir()) // as /proc/PID/exe names it
				}
				if err == nil {
					exe = filepath.Join(exe, "axum-server")
					err = os.WriteFile(exe, b, 0o755)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			pidMode := "--pid=host"
			if tc.pid == "container" {
				pidMode = "--pid=container:" + app
			}
			// SYS_ADMIN stands in for BPF and PERFMON, which Docker before
			// 23 does not know, and mounts tracefs in the container.
			// The host network reaches the receiver on 127.0.0.1.
			run := exec.Command("docker", "run", "--rm", "--name", rsName, pidMode, "--network=host",
				"--cap-add=SYS_ADMIN", "--cap-add=SYS_PTRACE", "--cap-add=DAC_READ_SEARCH",
				"-e", "OTEL_TARGET_EXE="+exe, "-e", "OTEL_SERVICE_NAME="+svc,
				"-e", "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+rcv.addr, rsImg)
			var rs *rustscopeRun
			t1 := time.Now()
			if tc.pid == "host" && !tc.hostApp {
				// Started before the app: the path is nowhere yet, and
				// rustscope waits for a process running it.
				rs = startRun(t, run, "waiting for processes running "+exe)
				t.Cleanup(func() { exec.Command("docker", "rm", "-f", rsName).Run() })
				if !strings.Contains(rs.stderr.String(), "no such file in this container or on the host") {
					t.Errorf("rustscope did not say why it waits; stderr:\n%s", rs.stderr.String())
				}
			}

			var base, wantPID, peer string
			if tc.hostApp {
				cmd := exec.Command(exe, "--listen", "127.0.0.1:0")
				cmd.Stderr = os.Stderr
				base = "http://" + startListener(t, "axum-server", cmd)
				wantPID, peer = strconv.Itoa(cmd.Process.Pid), "127.0.0.1"
			} else {
				// The app listens on its container's own network; the test
				// reaches it at the container's address on Docker's bridge,
				// so its peer is the bridge's gateway.
				listen := exec.Command("docker", "run", "--rm", "--name", app, appImg, "--listen", "0.0.0.0:8080")
				listen.Stderr = os.Stderr
				startListener(t, "axum-server container", listen)
				t.Cleanup(func() { exec.Command("docker", "rm", "-f", app).Run() })
				base = "http://" + dockerOut(t, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", app) + ":8080"
				wantPID = dockerOut(t, "inspect", "-f", "{{.State.Pid}}", app)
				peer = dockerOut(t, "inspect", "-f", "{{.NetworkSettings.Gateway}}", app)
				if tc.pid == "container" {
					wantPID = "1" // the app is its container's first process
				}
			}
			if rs == nil {
				rs = startRun(t, run, "rustscope: attached")
				t.Cleanup(func() { exec.Command("docker", "rm", "-f", rsName).Run() })
			} else {
				waitStderr(t, rs, "rustscope: attached", 30*time.Second)
			}
			t.Logf("rustscope container attached in %v", time.Since(t1).Round(time.Millisecond))
			if line := firstLine(rs.stderr.String(), "rustscope: attached"); !strings.Contains(line, "pid "+wantPID+" axum-server") ||
				!strings.Contains(line, "axum.path_router.node_at") {
				t.Errorf("readiness line %q does not name pid %s, axum-server and the axum probe", line, wantPID)
			}

			reqs := axumMix(200)
			spans := sendOverOTLP(t, base, reqs, 4, rcv, rs)
			wantRes := map[string]string{
				"service.name":            svc,
				"process.pid":             wantPID,
				"process.executable.name": "axum-server",
				"process.executable.path": exe,
			}
			bad := 0
			for _, s := range spans {
				var errs []string
				for k, v := range wantRes {
					if s.resource[k] != v {
						errs = append(errs, fmt.Sprintf("resource %s = %q, want %q", k, s.resource[k], v))
					}
				}
				path := s.attr("url.path")
				route := axumRoute(path)
				if want := strings.TrimSpace(s.attr("http.request.method") + " " + route); s.span.Name != want || s.attr("http.route") != route {
					errs = append(errs, fmt.Sprintf("name %q, http.route %q; want %q, %q", s.span.Name, s.attr("http.route"), want, route))
				}
				if s.span.Kind != tracepb.Span_SPAN_KIND_SERVER || s.scope != "axum" {
					errs = append(errs, fmt.Sprintf("kind %v, scope %q; want server, axum", s.span.Kind, s.scope))
				}
				// Read from the socket, in the app's network namespace.
				if got := s.attr("client.address"); got != peer {
					errs = append(errs, fmt.Sprintf("client.address %q, want %s", got, peer))
				}
				if code, _ := strconv.Atoi(s.attr("http.response.status_code")); (code >= 500) != (s.span.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR) {
					errs = append(errs, fmt.Sprintf("status code %d, span status %v", code, s.span.GetStatus().GetCode()))
				}
				if len(errs) > 0 {
					if bad++; bad <= 5 {
						t.Errorf("span %s %s: %s", s.attr("http.request.method"), path, strings.Join(errs, "; "))
					}
				}
			}
			if bad > 5 {
				t.Errorf("... %d spans wrong in all", bad)
			}
		})
	}
	t.Logf("docker test took %v", time.Since(t0).Round(time.Millisecond))
}

// needDocker makes sure a Docker daemon answers: the one running, or a
// dockerd started for the test (no systemd needed) and stopped after it.
// Without Docker the test is skipped, and fails in CI.
func needDocker(t *testing.T) {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("Docker end-to-end prerequisite missing in CI: %s", why)
		}
		t.Skip(why)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		missing("docker not installed (apt-get install docker.io)")
	}
	if exec.Command("docker", "info").Run() == nil {
		return
	}
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		missing("no Docker daemon answers and dockerd is not installed (apt-get install docker.io)")
	}
	logPath := filepath.Join(t.TempDir(), "dockerd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(dockerd)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		missing(fmt.Sprintf("start dockerd: %v", err))
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		if exited, _ := waitExit(cmd, 30*time.Second); !exited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	t0 := time.Now()
	for exec.Command("docker", "info").Run() != nil {
		if cmd.ProcessState != nil || time.Since(t0) > 30*time.Second {
			b, _ := os.ReadFile(logPath)
			missing(fmt.Sprintf("dockerd did not start; its log:\n%s", lastLines(b, 20)))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("started dockerd in %v", time.Since(t0).Round(time.Millisecond))
}

// buildAppImage builds a FROM-scratch image holding a test app at
// /app/<name> (a path that exists in no other container nor on the host)
// and the shared libraries ldd lists for it.
func buildAppImage(t *testing.T, tag, bin string) {
	t.Helper()
	ctx := t.TempDir()
	copyFile := func(src, dst string) {
		t.Helper()
		b, err := os.ReadFile(src) // follows symlinks: ld-linux is one
		if err == nil {
			err = os.MkdirAll(filepath.Dir(dst), 0o755)
		}
		if err == nil {
			err = os.WriteFile(dst, b, 0o755)
		}
		if err != nil {
			t.Fatalf("copy %s into the image: %v", src, err)
		}
	}
	name := filepath.Base(bin)
	copyFile(bin, filepath.Join(ctx, "app", name))
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil && !bytes.Contains(out, []byte("not a dynamic executable")) {
		t.Fatalf("ldd %s: %v\n%s", bin, err, out)
	}
	for _, lib := range regexp.MustCompile(`(?m)(/\S+) \(0x`).FindAllSubmatch(out, -1) {
		copyFile(string(lib[1]), filepath.Join(ctx, string(lib[1])))
	}
	build := exec.Command("docker", "build", "-q", "-t", tag, "-f", "-", ctx)
	build.Stdin = strings.NewReader("FROM scratch\nCOPY . /\nENTRYPOINT [\"/app/" + name + "\"]\n")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", tag, err, out)
	}
}

// dockerOut runs docker with args and returns its trimmed output.
func dockerOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
