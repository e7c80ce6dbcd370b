package process

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Watcher attaches to the selected processes that run now, and to those
// that start later as their exec is reported (Tracer's OnExec: a
// sched_process_exec tracepoint, no /proc polling).
type Watcher struct {
	sel    *Selector
	proc   string // "/proc", or a fake tree in tests
	self   int
	log    *slog.Logger
	stderr io.Writer
	attach func(pid int, t *Target) error
	detach func(pid int)
	execs  chan int

	mu       sync.Mutex
	attached map[int]bool
	failed   map[int]bool // attach failed: not retried until the PID execs again
	missed   bool         // an exec did not fit in execs: scan /proc once
}

// NewWatcher returns a Watcher of the processes sel selects: attach is
// called with the target that selected a process, detach when an attached
// process runs a new executable. Failures are reported on stderr.
func NewWatcher(sel *Selector, log *slog.Logger, stderr io.Writer, attach func(pid int, t *Target) error, detach func(pid int)) *Watcher {
	return &Watcher{sel: sel, proc: procRoot, self: os.Getpid(), log: log, stderr: stderr, attach: attach, detach: detach,
		execs: make(chan int, 1024), attached: map[int]bool{}, failed: map[int]bool{}}
}

// Execed is called, without blocking, when pid starts running a new
// executable.
func (w *Watcher) Execed(pid uint32) {
	select {
	case w.execs <- int(pid):
	default:
		w.mu.Lock()
		w.missed = true
		w.mu.Unlock()
	}
}

// Run attaches to the selected processes running now, then to those that
// exec, until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
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
func (w *Watcher) scan() {
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
func (w *Watcher) consider(pid int) {
	if pid == w.self {
		return
	}
	w.mu.Lock()
	skip := w.attached[pid] || w.failed[pid]
	w.mu.Unlock()
	if skip {
		return
	}
	t := w.sel.Match(filepath.Join(w.proc, strconv.Itoa(pid)))
	if t == nil {
		return
	}
	if err := w.attach(pid, t); err != nil {
		w.mu.Lock()
		w.failed[pid] = true
		w.mu.Unlock()
		fmt.Fprintf(w.stderr, "rustscope: pid %d is one of the %s, but attaching failed: %v\n", pid, t, err)
		return
	}
	w.mu.Lock()
	w.attached[pid] = true
	w.mu.Unlock()
}

// Exited is called when an attached process has exited.
func (w *Watcher) Exited(pid uint32) {
	w.mu.Lock()
	was := w.attached[int(pid)]
	delete(w.attached, int(pid))
	delete(w.failed, int(pid))
	w.mu.Unlock()
	if was {
		fmt.Fprintf(w.stderr, "rustscope: pid %d exited; waiting for %s\n", pid, w.sel)
	}
}
