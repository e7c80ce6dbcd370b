package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestMatchingPIDs: the exe link names the path, also with " (deleted)";
// another executable does not match; the link may be the path as a
// container sees it, found through /proc/PID/root.
func TestMatchingPIDs(t *testing.T) {
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

	got := matchingPIDs(proc, app)
	slices.Sort(got)
	if want := []int{10, 11, 13}; !slices.Equal(got, want) {
		t.Errorf("matchingPIDs = %v, want %v", got, want)
	}
}

// TestMatchingPIDsRealProc finds the test binary itself in /proc.
func TestMatchingPIDsRealProc(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	if !slices.Contains(matchingPIDs("/proc", exe), os.Getpid()) {
		t.Errorf("own pid %d not found running %s", os.Getpid(), exe)
	}
}
