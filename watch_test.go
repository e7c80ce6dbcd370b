package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/rustscope/rustscope/symbols"
)

// matching lists the PIDs under proc that sel selects.
func matching(t *testing.T, proc string, sel selector) []int {
	t.Helper()
	ents, err := os.ReadDir(proc)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && sel.matches(filepath.Join(proc, e.Name())) {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

// TestSelectorExe: the exe link names the path, also with " (deleted)";
// another executable does not match; the link may be the path as a
// container sees it, found through /proc/PID/root. A glob matches the
// link's path.
func TestSelectorExe(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "bin", "app")
	os.MkdirAll(filepath.Dir(app), 0o755)
	os.WriteFile(app, []byte("x"), 0o755)
	other := filepath.Join(dir, "bin", "other")
	os.WriteFile(other, []byte("y"), 0o755)

	proc := filepath.Join(dir, "proc")
	mk := func(pid, link string, root string) {
		d := filepath.Join(proc, pid)
		os.MkdirAll(d, 0o755)
		if err := os.Symlink(link, filepath.Join(d, "exe")); err != nil {
			t.Fatal(err)
		}
		if root != "" {
			os.Symlink(root, filepath.Join(d, "root"))
		}
	}
	mk("10", app, "")
	mk("11", app+" (deleted)", "")
	mk("12", other, "")
	// A container: it sees the binary as /bin/app under its root (dir).
	mk("13", "/bin/app", dir)
	os.MkdirAll(filepath.Join(proc, "self-not-a-pid"), 0o755)
	os.MkdirAll(filepath.Join(proc, "14"), 0o755) // no exe link: kernel thread

	for _, tc := range []struct {
		exe  string
		want []int
	}{
		{app, []int{10, 11, 13}},
		{filepath.Join(dir, "bin", "*"), []int{10, 11, 12}},
		{filepath.Join(dir, "*", "app"), []int{10, 11}},
		{"/bin/ap?", []int{13}},
		{filepath.Join(dir, "bin", "[o]*"), []int{12}},
	} {
		if got := matching(t, proc, selector{exe: tc.exe}); !slices.Equal(got, tc.want) {
			t.Errorf("exe %s: selected %v, want %v", tc.exe, got, tc.want)
		}
	}
}

// TestSelectorRealProc finds the test binary itself in /proc, by path and
// by glob; --all does not select it (Go, not Rust).
func TestSelectorRealProc(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	self := filepath.Join("/proc", strconv.Itoa(os.Getpid()))
	for _, sel := range []selector{{exe: exe}, {exe: filepath.Join(filepath.Dir(exe), "*")}} {
		if !sel.matches(self) {
			t.Errorf("%s: own process not selected", sel)
		}
	}
	cache := symbols.NewCache(4, symbols.Options{})
	if (selector{all: true, analyze: cache.Analyze}).matches(self) {
		t.Errorf("--all selected the Go test binary")
	}
}
