package e2e

// The end-to-end tests: the built rustscope binary, run as a user runs it,
// against the Rust test apps. This file holds one rustscope build for the
// whole package (TestMain), made from the repository root (the parent of
// e2e/), and the test apps' servers and clients; rustscope_test.go holds
// the headless rustscope runs and their spans, load_test.go the HTTP load
// driver.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The exit codes README documents.
const (
	exitUsage  = 2
	exitTarget = 3
	exitEnv    = 4 // privileges or kernel
)

var (
	rustscopeBin string
	repoRoot     string // the repository's root: the parent of this package's folder
)

// repoPath is a path inside the repository (testapps/bin, docs, ...).
func repoPath(elem ...string) string {
	return filepath.Join(append([]string{repoRoot}, elem...)...)
}

func TestMain(m *testing.M) {
	if os.Getenv(wireHelperEnv) != "" {
		wireServerMain() // this process is a target of TestE2EWireEdges
		return
	}
	code := func() int {
		// go test runs a package's tests in its folder, e2e/.
		root, err := filepath.Abs("..")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		repoRoot = root
		dir, err := os.MkdirTemp("", "rustscope-e2e")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		rustscopeBin = filepath.Join(dir, "rustscope")
		build := exec.Command("go", "build", "-o", rustscopeBin, ".")
		build.Dir = repoRoot
		out, err := build.CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build rustscope: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// needE2E skips (or, in CI, fails) when the end-to-end prerequisites are
// missing. apps are extra "variant/app" binaries the test needs.
func needE2E(t *testing.T, apps ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	missing := func(why string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("end-to-end prerequisite missing in CI: %s", why)
		}
		t.Skip(why)
	}
	if os.Geteuid() != 0 {
		missing("needs root for BPF")
	}
	for _, a := range append([]string{"release/axum-server"}, apps...) {
		variant, app, _ := strings.Cut(a, "/")
		if _, err := os.Stat(appPath(variant, app)); err != nil {
			missing("Rust test apps not built (run `make testapps`): " + err.Error())
		}
	}
}

func appPath(variant, app string) string {
	return repoPath("testapps", "bin", variant, app)
}

// server is a running test-app server.
type server struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT
	port int
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// startServer runs a test app and returns it once it listens.
func startServer(t *testing.T, variant, app string, env ...string) *server {
	t.Helper()
	cmd := exec.Command(appPath(variant, app), "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	addr := startListener(t, variant+"/"+app, cmd)
	renice(t, cmd.Process.Pid, -10)
	ap, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatalf("%s/%s: bad address %q: %v", variant, app, addr, err)
	}
	return &server{cmd: cmd, base: "http://" + addr, port: ap.Port}
}

// startListener starts cmd, a server whose first line on stdout is
// "listening on ADDR", and returns ADDR. The process is killed when the
// test ends.
func startListener(t *testing.T, what string, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := readLineTimeout(bufio.NewReader(out), 10*time.Second)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("%s did not report its address: first line %q, %v", what, line, err)
	}
	go io.Copy(io.Discard, out)
	return addr
}

// renice sets every thread of pid (threads it starts later inherit it) to
// nice n. Servers get -10, priority over the test's own load generator
// and rustscope: they share two cores in CI, and a server thread waiting
// behind them would make its spans, which measure real latency, longer
// than the handler's own time.
func renice(t *testing.T, pid, n int) {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, n); err != nil {
			t.Fatalf("renice thread %d of %d: %v", tid, pid, err)
		}
	}
}

// waitClient is a test-app client started with --wait: it has printed
// "ready" and sends nothing until go is called.
type waitClient struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr syncBuffer
}

func startWaitClient(t *testing.T, variant, app string, args ...string) *waitClient {
	t.Helper()
	c := &waitClient{cmd: exec.Command(appPath(variant, app), append(args, "--wait")...)}
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.stdout = bufio.NewReader(out)
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s/%s: %v", variant, app, err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	if line, err := readLineTimeout(c.stdout, 10*time.Second); err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("%s/%s: want \"ready\", got %q, %v; stderr:\n%s", variant, app, line, err, c.stderr.String())
	}
	return c
}

// run lets the client send its traffic and returns its summary line once
// it says "done"; the process stays alive (and traced) until finish.
func (c *waitClient) run(t *testing.T) string {
	t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	var summary string
	for {
		line, err := readLineTimeout(c.stdout, 60*time.Second)
		if err != nil {
			t.Fatalf("client did not finish: %v; stderr:\n%s", err, c.stderr.String())
		}
		line = strings.TrimSpace(line)
		if line == "done" {
			return summary
		}
		summary = line
	}
}

// finish lets the client exit and checks that it succeeded.
func (c *waitClient) finish(t *testing.T) {
	t.Helper()
	c.stdin.Close()
	switch exited, err := waitExit(c.cmd, 10*time.Second); {
	case !exited:
		t.Errorf("client did not exit")
	case err != nil:
		t.Errorf("client exited with %v; stderr:\n%s", err, c.stderr.String())
	}
}

// waitExit waits up to timeout for cmd to exit and returns how it ended.
func waitExit(cmd *exec.Cmd, timeout time.Duration) (exited bool, err error) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return true, err
	case <-time.After(timeout):
		return false, nil
	}
}

func readLineTimeout(r *bufio.Reader, d time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() { s, err := r.ReadString('\n'); ch <- res{s, err} }()
	select {
	case x := <-ch:
		return x.s, x.err
	case <-time.After(d):
		return "", fmt.Errorf("timed out after %v", d)
	}
}
