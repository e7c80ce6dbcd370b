package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/rustscope/rustscope/config"
	"github.com/rustscope/rustscope/symbols"
)

// selector says which processes the watcher attaches to: those of the
// first of its targets that matches.
type selector struct {
	targets []target
	// analyze reads an executable (symbols.Cache.Analyze) for crate
	// selectors and targets that require an instrumented crate.
	analyze func(path string) (*symbols.Analysis, error)
}

// target selects processes: every selector it sets must match. A target
// with neither exe nor crate takes only Rust programs that use a crate
// rustscope instruments: --all is the empty target.
type target struct {
	exe       string         // an executable's path, or a glob of paths (--exe, OTEL_TARGET_EXE, exe)
	cmdline   *regexp.Regexp // matches the command line, arguments joined by spaces
	crate     string         // a crate the executable contains
	container *containerSel  // nil: anywhere
	service   string         // service.name of its processes; "": the default
	exeSrc    string         // where exe came from, for messages ("--exe", "config FILE:LINE: target.exe")
}

// containerSel selects processes by container.
type containerSel struct {
	id    string // a container ID prefix (/proc/PID/cgroup); "": by mount namespace
	other bool   // without id: in another mount namespace than rustscope (true) or in its own (false)
}

func (s selector) String() string {
	parts := make([]string, len(s.targets))
	for i, t := range s.targets {
		parts[i] = t.String()
	}
	return strings.Join(parts, ", or ")
}

func (t *target) String() string {
	var b strings.Builder
	switch {
	case t.exe != "":
		b.WriteString("processes running " + t.exe)
	case t.crate != "":
		b.WriteString("Rust processes using " + t.crate)
	default:
		b.WriteString("Rust processes using hyper, axum, tonic, reqwest or h2")
	}
	if t.cmdline != nil {
		fmt.Fprintf(&b, " with a command line matching %q", t.cmdline)
	}
	switch c := t.container; {
	case c == nil:
	case c.id != "":
		b.WriteString(" in container " + c.id)
	case c.other:
		b.WriteString(" in a container")
	default:
		b.WriteString(" outside containers")
	}
	return b.String()
}

// instrumented are the crates --all looks for.
var instrumented = []string{"hyper", "axum", "tonic", "reqwest", "h2"}

// match returns the first target that selects the process at dir
// (/proc/PID), or nil.
func (s selector) match(dir string) *target {
	for i := range s.targets {
		if s.targets[i].matches(dir, s.analyze) {
			return &s.targets[i]
		}
	}
	return nil
}

// matches reports whether t selects the process at dir. The cheap
// selectors go first; the executable is analysed last.
func (t *target) matches(dir string, analyze func(string) (*symbols.Analysis, error)) bool {
	if t.exe != "" && !exeMatches(dir, t.exe) {
		return false
	}
	if t.cmdline != nil {
		b, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || !t.cmdline.MatchString(strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")) {
			return false
		}
	}
	if t.container != nil && !t.container.matches(dir) {
		return false
	}
	if t.exe != "" && t.crate == "" {
		return true // checkPID says at attach whether it can be traced
	}
	a, err := analyze(filepath.Join(dir, "exe"))
	if err != nil || !a.Rust {
		return false
	}
	if t.crate != "" {
		// Cargo takes - and _ in a package name as the same.
		norm := func(n string) string { return strings.ReplaceAll(n, "-", "_") }
		return slices.ContainsFunc(a.Crates, func(c symbols.Crate) bool { return norm(c.Name) == norm(t.crate) })
	}
	for _, c := range instrumented {
		if _, ok := a.Crate(c); ok {
			return true
		}
	}
	return false
}

// exeMatches reports whether the process at dir runs exe, a path or a glob.
func exeMatches(dir, exe string) bool {
	if isGlob(exe) {
		link, err := os.Readlink(filepath.Join(dir, "exe"))
		ok, _ := filepath.Match(exe, strings.TrimSuffix(link, " (deleted)"))
		return err == nil && ok
	}
	target, err := os.Stat(exe)
	return runsExe(dir, exe, target, err == nil)
}

// matches reports whether the process at dir is in the selected container.
// rustscope's own mount namespace is read from the same proc tree
// (dir/../self), as symbols.Processes does.
func (c *containerSel) matches(dir string) bool {
	if c.id != "" {
		id := containerID(dir)
		return id != "" && strings.HasPrefix(id, c.id)
	}
	ns, err := os.Readlink(filepath.Join(dir, "ns", "mnt"))
	if err != nil {
		return false
	}
	self, err := os.Readlink(filepath.Join(filepath.Dir(dir), "self", "ns", "mnt"))
	if err != nil {
		return false
	}
	return (ns != self) == c.other
}

// A container runtime names a container's cgroup after its 64-hex-digit
// ID (docker: /system.slice/docker-ID.scope or /docker/ID; containerd and
// CRI-O under /kubepods/...; podman: libpod-ID.scope), and bind-mounts the
// container's hostname and resolv.conf from a directory named after it
// (/var/lib/docker/containers/ID/, .../overlay-containers/ID/userdata/).
var (
	cgroupID    = regexp.MustCompile(`[0-9a-f]{64}`)
	mountinfoID = regexp.MustCompile(`/containers/(?:[^ /]+/)*?([0-9a-f]{64})/`)
)

// containerID is the ID of the container the process at dir runs in, or
// "": the last ID in its cgroup paths (the innermost), else the first in
// its mounts (a private cgroup namespace hides the paths).
func containerID(dir string) string {
	if b, err := os.ReadFile(filepath.Join(dir, "cgroup")); err == nil {
		if ids := cgroupID.FindAll(b, -1); len(ids) > 0 {
			return string(ids[len(ids)-1])
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "mountinfo")); err == nil {
		if m := mountinfoID.FindSubmatch(b); m != nil {
			return string(m[1])
		}
	}
	return ""
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
	attach func(pid int, t *target) error
	detach func(pid int)
	execs  chan int

	mu       sync.Mutex
	attached map[int]bool
	failed   map[int]bool // attach failed: not retried until the PID execs again
	missed   bool         // an exec did not fit in execs: scan /proc once
}

func newWatcher(sel selector, log *slog.Logger, stderr io.Writer, attach func(int, *target) error, detach func(int)) *watcher {
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
	if skip {
		return
	}
	t := w.sel.match(filepath.Join(w.proc, strconv.Itoa(pid)))
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

// newSelector is what the watcher attaches to: the --exe executable, or
// the configuration file's targets, then with --all (or all = true) every
// Rust process using an instrumented crate (the empty target).
func newSelector(c config.Config, analyze func(string) (*symbols.Analysis, error)) selector {
	var ts []target
	if c.Exe != "" {
		ts = append(ts, target{exe: c.Exe, exeSrc: c.ExeSrc})
	}
	for _, t := range c.Targets {
		ts = append(ts, fromConfig(t))
	}
	if c.All {
		ts = append(ts, target{})
	}
	return selector{targets: ts, analyze: analyze}
}

// fromConfig is the target a configuration file's [[target]] describes;
// config checked its regular expression.
func fromConfig(t config.Target) target {
	tg := target{exe: t.Exe, exeSrc: t.ExeSrc, crate: t.Crate, service: t.ServiceName}
	if t.Cmdline != "" {
		tg.cmdline = regexp.MustCompile(t.Cmdline)
	}
	if t.Container != nil {
		tg.container = &containerSel{id: t.Container.ID, other: t.Container.Other}
	}
	return tg
}
