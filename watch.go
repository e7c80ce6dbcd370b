package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// watchInterval is how often /proc is scanned for new processes running
// the watched executable.
const watchInterval = 300 * time.Millisecond

// watcher attaches to every process that runs one executable, as they
// start (OTEL_TARGET_EXE).
type watcher struct {
	exe    string
	proc   string // "/proc", or a fake tree in tests
	self   int
	log    *slog.Logger
	stderr io.Writer
	attach func(pid int) error

	mu       sync.Mutex
	attached map[int]bool
	failed   map[int]bool // attach failed: not retried for this PID
}

func newWatcher(exe string, log *slog.Logger, stderr io.Writer, attach func(int) error) *watcher {
	return &watcher{exe: exe, proc: "/proc", self: os.Getpid(), log: log, stderr: stderr, attach: attach,
		attached: map[int]bool{}, failed: map[int]bool{}}
}

// run scans until ctx ends.
func (w *watcher) run(ctx context.Context) {
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	for {
		w.scan()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// scan attaches to matching processes not attached yet.
func (w *watcher) scan() {
	for _, pid := range matchingPIDs(w.proc, w.exe) {
		if pid == w.self {
			continue
		}
		w.mu.Lock()
		skip := w.attached[pid] || w.failed[pid]
		w.mu.Unlock()
		if skip {
			continue
		}
		if err := w.attach(pid); err != nil {
			w.mu.Lock()
			w.failed[pid] = true
			w.mu.Unlock()
			fmt.Fprintf(w.stderr, "rustscope: pid %d runs %s but attaching failed: %v\n", pid, w.exe, err)
			continue
		}
		w.mu.Lock()
		w.attached[pid] = true
		w.mu.Unlock()
	}
	// Forget failed PIDs that are gone, so a reused PID is tried again.
	w.mu.Lock()
	for pid := range w.failed {
		if _, err := os.Stat(filepath.Join(w.proc, strconv.Itoa(pid))); err != nil {
			delete(w.failed, pid)
		}
	}
	w.mu.Unlock()
}

// exited is called when an attached process has exited.
func (w *watcher) exited(pid uint32) {
	w.mu.Lock()
	was := w.attached[int(pid)]
	delete(w.attached, int(pid))
	w.mu.Unlock()
	if was {
		fmt.Fprintf(w.stderr, "rustscope: pid %d exited; waiting for processes running %s\n", pid, w.exe)
	}
}

// matchingPIDs lists the processes under procRoot whose executable is exe.
func matchingPIDs(procRoot, exe string) []int {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil
	}
	target, terr := os.Stat(exe)
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if runsExe(filepath.Join(procRoot, e.Name()), exe, target, terr == nil) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// runsExe reports whether the process at dir (/proc/PID) runs exe: its exe
// link names exe (also after the file was deleted or replaced: " (deleted)"),
// or the link, resolved inside the process's root (containers), is the
// same file as exe.
func runsExe(dir, exe string, target os.FileInfo, haveTarget bool) bool {
	link, err := os.Readlink(filepath.Join(dir, "exe"))
	if err != nil {
		return false // kernel thread, gone, or not ours to read
	}
	if strings.TrimSuffix(link, " (deleted)") == exe {
		return true
	}
	if !haveTarget {
		return false
	}
	if fi, err := os.Stat(filepath.Join(dir, "exe")); err == nil && os.SameFile(fi, target) {
		return true
	}
	// The path as the process's mount namespace sees it.
	if fi, err := os.Stat(filepath.Join(dir, "root", link)); err == nil && os.SameFile(fi, target) {
		return true
	}
	return false
}
