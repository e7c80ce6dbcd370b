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
	"time"
)

// Watcher attaches to the selected processes that run now, and to those
// that start later as their exec is reported (Tracer's OnExec: a
// sched_process_exec tracepoint, no /proc polling). A process whose
// executable was watched is a target from its exec already (Exec): the
// Watcher attaches it, even when it exited meanwhile, or releases it.
type Watcher struct {
	sel    *Selector
	proc   string // "/proc", or a fake tree in tests
	self   int
	log    *slog.Logger
	stderr io.Writer
	hooks  WatchHooks
	execs  chan Exec

	mu       sync.Mutex
	attached map[int]bool
	failed   map[int]bool // attach failed: not retried until the PID execs again
	missed   bool         // an exec did not fit in execs: scan /proc once
}

// WatchHooks is what a Watcher does to the tracer.
type WatchHooks struct {
	// Attach is called with the target that selected a process, and exe
	// when the process was a target from its exec (Exec.Exe): then it may
	// have exited already.
	Attach func(pid int, t *Target, exe string) error
	// Detach is called when an attached process runs a new executable.
	Detach func(pid int)
	// Release is called for a process that was a target from its exec and
	// is not selected, or failed to attach.
	Release func(pid int)
	// Watch is called every second: the executables whose processes are
	// to be targets from their exec are watched (new files a glob matches,
	// a file replaced).
	Watch func()
}

// Exec is a process that started running a new executable. Targeted: it
// is a target from its exec already, to attach or release; Exe is then
// its executable's path, if known.
type Exec struct {
	PID      int
	Targeted bool
	Exe      string
}

// NewWatcher returns a Watcher of the processes sel selects. Failures are
// reported on stderr.
func NewWatcher(sel *Selector, log *slog.Logger, stderr io.Writer, hooks WatchHooks) *Watcher {
	return &Watcher{sel: sel, proc: procRoot, self: os.Getpid(), log: log, stderr: stderr, hooks: hooks,
		execs: make(chan Exec, 1024), attached: map[int]bool{}, failed: map[int]bool{}}
}

// Execed is called, without blocking, when a process starts running a new
// executable.
func (w *Watcher) Execed(e Exec) {
	select {
	case w.execs <- e:
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
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if w.hooks.Watch != nil {
				w.hooks.Watch()
			}
		case e := <-w.execs:
			pid := e.PID
			w.mu.Lock()
			was := w.attached[pid]
			delete(w.attached, pid)
			delete(w.failed, pid) // a new program, or a reused PID
			missed := w.missed
			w.missed = false
			w.mu.Unlock()
			if was {
				// It replaced its program: the probes were placed in the old one.
				w.hooks.Detach(pid)
			}
			w.consider(e)
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
			w.consider(Exec{PID: pid})
		}
	}
}

// consider attaches to e's process if it is selected and not attached
// yet. One that is a target from its exec (e.Targeted) is attached or
// released; one that exited already is selected by its executable alone.
func (w *Watcher) consider(e Exec) {
	pid, exe := e.PID, e.Exe
	release := func() {
		if e.Targeted && w.hooks.Release != nil {
			w.hooks.Release(pid)
		}
	}
	if pid == w.self {
		release()
		return
	}
	w.mu.Lock()
	skip := w.attached[pid] || w.failed[pid]
	w.mu.Unlock()
	if skip {
		release()
		return
	}
	dir := filepath.Join(w.proc, strconv.Itoa(pid))
	t := w.sel.Match(dir)
	if t == nil && exe != "" {
		// It may have exited while it was looked at: its executable alone
		// decides (a live one that Match refused, it refuses too).
		t = w.sel.MatchExited(exe)
	}
	if t == nil {
		release()
		return
	}
	if err := w.hooks.Attach(pid, t, exe); err != nil {
		w.mu.Lock()
		w.failed[pid] = true
		w.mu.Unlock()
		release()
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
