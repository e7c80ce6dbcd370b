package tracer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rustscope/rustscope/bpf"
)

// Processes that start while rustscope runs (--exe, --all, a configuration
// file's targets). A process whose executable is watched (WatchExe) is a
// target from its exec: the kernel's exec tracepoint (bpf/wire.c, on_exec)
// marks it before it runs an instruction of its own, so its first syscalls
// are captured while user space looks at it, analyses its binary and
// places its probes (an HTTP/2 connection it opens at once has its whole
// HPACK table seen). Its spans wait here until it is attached (Attach, or
// AttachExited for one that was gone by then) and admitted (Admit: what
// takes its spans is ready for them), and are then emitted in order;
// Release drops them when it is not a target after all.

// Exec is a process that ran a new executable (Options.OnExec).
type Exec struct {
	PID uint32
	// Targeted: its executable is watched, and it is a target already;
	// Exe is then the watched executable's path.
	Targeted bool
	Exe      string
}

// exeID is an executable file's identity as the kernel's exec sees it:
// its device in the kernel's encoding (major<<20 | minor) and its inode.
type exeID struct{ dev, ino uint64 }

const (
	maxWatched  = 4096             // executables watched at once (exec_watch holds 16,384 verdicts)
	earlySpans  = 4096             // spans a target from exec keeps until attached
	earlyMaxAge = 30 * time.Second // then, neither attached nor released, it is let go
)

// early is what a target from exec keeps until it is attached or released
// (guarded by Tracer.mu; Run's goroutine emits or drops it).
type early struct {
	spans    []Span
	exe      exeID
	since    uint64 // its exec, mono
	done     bool   // attached or released
	attached bool
	dropped  int // spans beyond earlySpans
}

// WatchExe makes every process that starts running the file at statPath a
// target from its exec; exe is the name to give it (the path a process of
// it shows). A file replaced later is another file: watch it again.
func (t *Tracer) WatchExe(statPath, exe string) error {
	var st unix.Stat_t
	if err := unix.Stat(statPath, &st); err != nil {
		return fmt.Errorf("watch executable %s: %w", exe, err)
	}
	id := exeID{dev: uint64(unix.Major(st.Dev))<<20 | uint64(unix.Minor(st.Dev)), ino: st.Ino}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.watched[id]; ok {
		return nil
	}
	if len(t.watched) >= maxWatched {
		return fmt.Errorf("watch executable %s: %d watched already", exe, maxWatched)
	}
	if err := t.w.judgeExe(bpf.WireExeId{Dev: id.dev, Ino: id.ino}, true); err != nil {
		return fmt.Errorf("watch executable %s: %w", exe, err)
	}
	t.watched[id] = exe
	return nil
}

// execed handles a process's exec (Run's goroutine).
func (t *Tracer) execed(pid uint32, ev *bpf.WireExecEvent) {
	e := Exec{PID: pid}
	if ev.Targeted != 0 {
		t.mu.Lock()
		e.Targeted, e.Exe = true, t.watched[exeID{dev: ev.Dev, ino: ev.Ino}]
		if e.Exe == "" {
			e.Exe = execPath(pid, ev.Path[:])
		}
		if old := t.early[pid]; old == nil || old.done {
			t.early[pid] = &early{since: ev.Head.Ts, exe: exeID{dev: ev.Dev, ino: ev.Ino}}
		}
		t.nEarly.Store(int32(len(t.early)))
		t.mu.Unlock()
	}
	if t.onExec != nil {
		t.onExec(e)
	}
}

// holdEarly is emit, keeping the spans of targets from exec not attached
// yet.
func (t *Tracer) holdEarly(emit func(Span)) func(Span) {
	return func(s Span) {
		if t.nEarly.Load() > 0 {
			t.mu.Lock()
			if e := t.early[s.PID]; e != nil && (!e.done || e.attached) { // admitted: after those kept
				if len(e.spans) < earlySpans {
					e.spans = append(e.spans, s)
				} else {
					e.dropped++
				}
				t.mu.Unlock()
				return
			}
			t.mu.Unlock()
		}
		emit(s)
	}
}

// settleEarly emits the kept spans of targets from exec now attached,
// drops those of the ones released, and lets go of the ones neither came
// to in earlyMaxAge (Run's goroutine).
func (t *Tracer) settleEarly(emit func(Span), now uint64) {
	if t.nEarly.Load() == 0 {
		return
	}
	var out [][]Span
	t.mu.Lock()
	for pid, e := range t.early {
		switch {
		case e.done && e.attached:
			out = append(out, e.spans)
			if e.dropped > 0 {
				t.log.Warn("spans lost before the process was attached", "pid", pid, "dropped", e.dropped)
			}
		case e.done:
		case now > e.since+uint64(earlyMaxAge):
			t.log.Warn("target from exec neither attached nor released: its spans dropped", "pid", pid, "spans", len(e.spans))
			if t.targets[pid] == nil {
				if err := t.w.removeTarget(pid); err != nil {
					t.log.Warn("remove target", "pid", pid, "err", err)
				}
			}
		default:
			continue
		}
		delete(t.early, pid)
	}
	t.nEarly.Store(int32(len(t.early)))
	t.mu.Unlock()
	for _, ss := range out {
		for _, s := range ss {
			emit(s)
		}
	}
}

// Admit lets the spans pid kept since its exec go, in order before any
// later one: pid is attached, and what takes its spans is ready for them.
func (t *Tracer) Admit(pid int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.early[uint32(pid)]; e != nil {
		e.done, e.attached = true, true
	}
}

// Release stops capturing pid, a target from its exec (Exec.Targeted)
// that is not one after all (not selected, or attaching failed): its kept
// spans are dropped, and an executable not watched is judged no target's
// (Options.ExecUnknown: its next processes are not captured from exec).
func (t *Tracer) Release(pid int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.early[uint32(pid)]; e != nil {
		e.done = true
		if _, watched := t.watched[e.exe]; !watched {
			if err := t.w.judgeExe(bpf.WireExeId{Dev: e.exe.dev, Ino: e.exe.ino}, false); err != nil {
				t.log.Warn("judge executable", "pid", pid, "err", err)
			}
		}
	}
	if t.targets[uint32(pid)] != nil {
		return nil // attached meanwhile: Detach is for that
	}
	return t.w.removeTarget(uint32(pid))
}

// AttachExited is Attach for pid, a target from its exec of exe that exited
// before it could be looked at: it is described from its executable file,
// no probe is placed, and its spans go under it.
func (t *Tracer) AttachExited(pid int, exe string) (*Target, error) {
	tg := &Target{PID: uint32(pid), Exe: exe, Comm: comm(exe)}
	if a, err := t.symbols.Analyze(exe); err == nil {
		tg.Analysis = a
	}
	tg.Capture = []string{wireCapture, "library probes: none (the process exited before they could be placed)"}
	t.mu.Lock()
	t.targets[uint32(pid)] = tg
	t.mu.Unlock()
	t.log.Info("attached", "pid", pid, "exe", exe, "capture", tg.Capture)
	return tg, nil
}

// execPath is the executable of pid, which has just exec'd path (as given
// to execve): where /proc says it is, or path if it is gone already and
// path is absolute; "" if neither.
func execPath(pid uint32, path []int8) string {
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		return strings.TrimSuffix(exe, " (deleted)")
	}
	var b []byte
	for _, c := range path {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	if p := string(b); filepath.IsAbs(p) {
		return p
	}
	return ""
}

// comm is the kernel's name for a process of exe: its file name, 15 bytes.
func comm(exe string) string {
	c := filepath.Base(exe)
	return c[:min(len(c), 15)]
}
