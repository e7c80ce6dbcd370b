package process

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rustscope/rustscope/symbols"
)

// startApp starts a test-app server and waits for its "listening on" line.
func startApp(t *testing.T, path string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(path, append([]string{"--listen", "127.0.0.1:0"}, args...)...)
	return startWait(t, cmd, "listening on")
}

func startWait(t *testing.T, cmd *exec.Cmd, ready string) *exec.Cmd {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	got := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), ready) {
				got <- true
				io.Copy(io.Discard, out)
				return
			}
		}
		got <- false
	}()
	select {
	case ok := <-got:
		if !ok {
			t.Fatalf("%v exited before %q", cmd.Args, ready)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%v: no %q after 10s", cmd.Args, ready)
	}
	return cmd
}

func TestProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts the Rust test apps")
	}
	axum := appPath(t, "release", "axum-server")
	hyperStripped := appPath(t, "release-strip", "hyper-server")
	tonic := appPath(t, "release", "tonic-server")

	a := startApp(t, axum)
	h := startApp(t, hyperStripped)
	// A deleted executable: copy, start, remove the file.
	dir := t.TempDir()
	gone := filepath.Join(dir, "tonic-server")
	b, err := os.ReadFile(tonic)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gone, b, 0o755); err != nil {
		t.Fatal(err)
	}
	d := startApp(t, gone)
	os.Remove(gone)
	// Another mount namespace (a "container"), when unshare works here.
	var ns *exec.Cmd
	if u, err := exec.LookPath("unshare"); err == nil && os.Geteuid() == 0 {
		ns = startWait(t, exec.Command(u, "--mount", "--propagation", "private", axum, "--listen", "127.0.0.1:0"), "listening on")
	}
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })

	c := symbols.NewCache(0, symbols.Options{})
	t0 := time.Now()
	procs, err := Processes(c)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Since(t0)
	byPID := map[int]Process{}
	for _, p := range procs {
		byPID[p.PID] = p
		if !p.Analysis.Rust {
			t.Errorf("pid %d %s listed but not Rust", p.PID, p.Exe)
		}
		if p.PID == os.Getpid() {
			t.Error("rustscope itself listed")
		}
		if p.Traceable == "" || p.User == "" || p.Exe == "" {
			t.Errorf("pid %d incomplete: %+v", p.PID, p)
		}
	}
	if _, ok := byPID[sleep.Process.Pid]; ok {
		t.Error("sleep (not Rust) listed")
	}
	if _, ok := byPID[2]; ok {
		t.Error("kthreadd listed")
	}
	check := func(name string, cmd *exec.Cmd, crate, traceable string) Process {
		t.Helper()
		p, ok := byPID[cmd.Process.Pid]
		if !ok {
			t.Fatalf("%s (pid %d) not found among %d processes", name, cmd.Process.Pid, len(procs))
		}
		if _, ok := p.Analysis.Crate(crate); !ok {
			t.Errorf("%s: no %s crate in %v", name, crate, p.Analysis.Crates)
		}
		if v, _ := p.Analysis.Crate("hyper"); v != "1.5.2" {
			t.Errorf("%s: hyper %q", name, v)
		}
		if p.Traceable != traceable {
			t.Errorf("%s: traceable %s (%s), want %s", name, p.Traceable, p.Reason, traceable)
		}
		if p.User != "root" && os.Geteuid() == 0 {
			t.Errorf("%s: user %q", name, p.User)
		}
		if len(p.Cmdline) == 0 || p.Comm == "" {
			t.Errorf("%s: cmdline %q comm %q", name, p.Cmdline, p.Comm)
		}
		return p
	}
	pa := check("axum-server", a, "axum", symbols.TraceFull)
	if pa.Deleted || pa.Container {
		t.Errorf("axum-server: deleted %v container %v", pa.Deleted, pa.Container)
	}
	ph := check("stripped hyper-server", h, "hyper-util", symbols.TraceWire)
	if !strings.Contains(ph.Reason, "stripped") {
		t.Errorf("stripped: reason %q", ph.Reason)
	}
	pd := check("deleted tonic-server", d, "tonic", symbols.TraceFull)
	if !pd.Deleted || !strings.HasSuffix(pd.Exe, " (deleted)") {
		t.Errorf("deleted: %v %q", pd.Deleted, pd.Exe)
	}
	if ns != nil {
		pn := check("axum-server in a mount namespace", ns, "axum", symbols.TraceFull)
		if !pn.Container {
			t.Errorf("unshare --mount: container %v (ns %s)", pn.Container, pn.MountNS)
		}
	}

	// Second round: the executables are cached (the same analysis comes
	// back; other programs may have started meanwhile, e.g. a build).
	_, _, missesBefore := c.Stats()
	t0 = time.Now()
	again, err := Processes(c)
	if err != nil {
		t.Fatal(err)
	}
	second := time.Since(t0)
	newPIDs := 0
	for _, p := range again {
		old, ok := byPID[p.PID]
		switch {
		case !ok:
			newPIDs++
		case old.Analysis != p.Analysis:
			t.Errorf("pid %d %s analysed again", p.PID, p.Exe)
		}
	}
	_, _, misses := c.Stats()
	t.Logf("%d Rust processes; scan %v, cached rescan %v (%d new processes, %d cache misses)", len(again), first, second, newPIDs, misses-missesBefore)

	// JSON: snake_case keys.
	js, err := json.Marshal(pa)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"pid"`, `"user"`, `"cmdline"`, `"exe"`, `"deleted"`, `"container"`, `"traceable"`, `"analysis"`} {
		if !strings.Contains(string(js), k) {
			t.Errorf("process JSON lacks %s: %s", k, js[:min(len(js), 300)])
		}
	}
}
