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

	"github.com/rustscope/rustscope/symbols"
)

// selector says which processes the watcher attaches to.
type selector struct {
	exe string // an executable's path, or a glob of paths (OTEL_TARGET_EXE, --exe)
	all bool   // every Rust process that uses a crate rustscope instruments (--all)
	// analyze reads an executable (symbols.Cache.Analyze) for all.
	analyze func(path string) (*symbols.Analysis, error)
}

func (s selector) String() string {
	if s.all {
		return "Rust processes using hyper, axum, tonic, reqwest or h2"
	}
	return "processes running " + s.exe
}

// instrumented are the crates --all looks for.
var instrumented = []string{"hyper", "axum", "tonic", "reqwest", "h2"}

// matches reports whether the process at dir (/proc/PID) is selected.
func (s selector) matches(dir string) bool {
	if s.all {
		a, err := s.analyze(filepath.Join(dir, "exe"))
		if err != nil || !a.Rust {
			return false
		}
		for _, c := range instrumented {
			if _, ok := a.Crate(c); ok {
				return true
			}
		}
		return false
	}
	if isGlob(s.exe) {
		link, err := os.Readlink(filepath.Join(dir, "exe"))
		ok, _ := filepath.Match(s.exe, strings.TrimSuffix(link, " (deleted)"))
		return err == nil && ok
	}
	target, err := os.Stat(s.exe)
	return runsExe(dir, s.exe, target, err == nil)
}

func isGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

// watcher attaches to the selected processes that run now, and to those
// that start later as their exec is reported (Tracer's OnExec: a
// sched_process_exec tracepoint, no /proc polling).
type watcher struct {
	sel    selector
	proc   string // "/proc", or a fake tree in tests
	self   int
	log    *slog.Logger
	stderr io.Writer
	attach func(pid int) error
	detach func(pid int)
	execs  chan int

	mu       sync.Mutex
	attached map[int]bool
	failed   map[int]bool // attach failed: not retried until the PID execs again
	missed   bool         // an exec did not fit in execs: scan /proc once
}

func newWatcher(sel selector, log *slog.Logger, stderr io.Writer, attach func(int) error, detach func(int)) *watcher {
	return &watcher{sel: sel, proc: "/proc", self: os.Getpid(), log: log, stderr: stderr, attach: attach, detach: detach,
		execs: make(chan int, 1024), attached: map[int]bool{}, failed: map[int]bool{}}
}

// execed is called, without blocking, when pid starts running a new
// executable.
func (w *watcher) execed(pid uint32) {
	select {
	case w.execs <- int(pid):
	default:
		w.mu.Lock()
		w.missed = true
		w.mu.Unlock()
	}
}

// run attaches to the selected processes running now, then to those that
// exec, until ctx ends.
func (w *watcher) run(ctx context.Context) {
	w.scan()
	for {
		select {
		case <-ctx.Done():
			return
		case pid := <-w.execs:
			w.mu.Lock()
			was := w.attached[pid]
			delete(w.attached, pid)
			delete(w.failed, pid) // a new program, or a reused PID
			missed := w.missed
			w.missed = false
			w.mu.Unlock()
			if was {
				// It replaced its program: the probes were placed in the old one.
				w.detach(pid)
			}
			w.consider(pid)
			if missed {
				w.scan()
			}
		}
	}
}

// scan considers every process in /proc.
func (w *watcher) scan() {
	ents, err := os.ReadDir(w.proc)
	if err != nil {
		w.log.Warn("list processes", "err", err)
		return
	}
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			w.consider(pid)
		}
	}
}

// consider attaches to pid if it is selected and not attached yet.
func (w *watcher) consider(pid int) {
	if pid == w.self {
		return
	}
	w.mu.Lock()
	skip := w.attached[pid] || w.failed[pid]
	w.mu.Unlock()
	if skip || !w.sel.matches(filepath.Join(w.proc, strconv.Itoa(pid))) {
		return
	}
	if err := w.attach(pid); err != nil {
		w.mu.Lock()
		w.failed[pid] = true
		w.mu.Unlock()
		fmt.Fprintf(w.stderr, "rustscope: pid %d is one of the %s, but attaching failed: %v\n", pid, w.sel, err)
		return
	}
	w.mu.Lock()
	w.attached[pid] = true
	w.mu.Unlock()
}

// exited is called when an attached process has exited.
func (w *watcher) exited(pid uint32) {
	w.mu.Lock()
	was := w.attached[int(pid)]
	delete(w.attached, int(pid))
	delete(w.failed, int(pid))
	w.mu.Unlock()
	if was {
		fmt.Fprintf(w.stderr, "rustscope: pid %d exited; waiting for %s\n", pid, w.sel)
	}
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
