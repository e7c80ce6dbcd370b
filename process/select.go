package process

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/rustscope/rustscope/lib"
	"github.com/rustscope/rustscope/symbols"
)

// Target selects processes: every selector it sets must match. A target
// with neither Exe nor Crate takes only Rust programs that use a crate
// rustscope instruments: --all is the empty Target.
type Target struct {
	Exe     string // an executable's path, or a glob of paths (--exe, OTEL_TARGET_EXE, exe)
	ExeSrc  string // where Exe came from, for messages ("--exe", "config FILE:LINE: target.exe")
	Cmdline string // a regular expression the command line, arguments joined by spaces, must match; "": any
	Crate   string // a crate the executable contains
	// Container selects by container; nil: anywhere.
	Container   *Container
	ServiceName string // service.name of its processes; "": the default
}

// Container selects processes by container.
type Container struct {
	ID    string // a container ID prefix (/proc/PID/cgroup); "": by mount namespace
	Other bool   // without ID: in another mount namespace than rustscope (true) or in its own (false)
}

// Selector says which processes the Watcher attaches to: those of the
// first of its targets that matches.
type Selector struct {
	targets  []Target
	cmdlines []*regexp.Regexp // targets[i].Cmdline compiled; nil: any
	// analyze reads an executable (symbols.Cache.Analyze) for crate
	// selectors and targets that require an instrumented crate.
	analyze func(path string) (*symbols.Analysis, error)
}

// NewSelector returns the Selector of targets, tried in order. analyze
// (symbols.Cache.Analyze) reads the executables of crate selectors and of
// targets without an executable.
func NewSelector(targets []Target, analyze func(path string) (*symbols.Analysis, error)) (*Selector, error) {
	s := &Selector{targets: slices.Clone(targets), cmdlines: make([]*regexp.Regexp, len(targets)), analyze: analyze}
	for i, t := range targets {
		if t.Cmdline == "" {
			continue
		}
		re, err := regexp.Compile(t.Cmdline)
		if err != nil {
			return nil, fmt.Errorf("target cmdline %q: %w", t.Cmdline, err)
		}
		s.cmdlines[i] = re
	}
	return s, nil
}

// Targets are the selector's targets, in order.
func (s *Selector) Targets() []Target { return s.targets }

func (s *Selector) String() string {
	parts := make([]string, len(s.targets))
	for i, t := range s.targets {
		parts[i] = t.String()
	}
	return strings.Join(parts, ", or ")
}

func (t Target) String() string {
	var b strings.Builder
	switch {
	case t.Exe != "":
		b.WriteString("processes running " + t.Exe)
	case t.Crate != "":
		b.WriteString("Rust processes using " + t.Crate)
	default:
		b.WriteString("Rust processes using " + strings.Join(Instrumented[:len(Instrumented)-1], ", ") + " or " + Instrumented[len(Instrumented)-1])
	}
	if t.Cmdline != "" {
		fmt.Fprintf(&b, " with a command line matching %q", t.Cmdline)
	}
	switch c := t.Container; {
	case c == nil:
	case c.ID != "":
		b.WriteString(" in container " + c.ID)
	case c.Other:
		b.WriteString(" in a container")
	default:
		b.WriteString(" outside containers")
	}
	return b.String()
}

// Instrumented are the crates --all looks for.
var Instrumented = lib.Crates()

// Match returns the first target that selects the process at dir
// (/proc/PID), or nil.
func (s *Selector) Match(dir string) *Target {
	for i := range s.targets {
		if s.matches(i, dir) {
			return &s.targets[i]
		}
	}
	return nil
}

// matches reports whether the i-th target selects the process at dir. The
// cheap selectors go first; the executable is analysed last.
func (s *Selector) matches(i int, dir string) bool {
	t := &s.targets[i]
	if t.Exe != "" && !exeMatches(dir, t.Exe) {
		return false
	}
	if re := s.cmdlines[i]; re != nil {
		b, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || !re.MatchString(strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")) {
			return false
		}
	}
	if t.Container != nil && !t.Container.matches(dir) {
		return false
	}
	if t.Exe != "" && t.Crate == "" {
		return true // CheckPID says at attach whether it can be traced
	}
	return s.crateMatches(t, filepath.Join(dir, "exe"))
}

// MatchExited returns the first target that selects a process of exe that
// exited before it could be looked at: one whose selectors the executable
// alone decides (no command line, no container), or nil.
func (s *Selector) MatchExited(exe string) *Target {
	for i := range s.targets {
		t := &s.targets[i]
		if s.cmdlines[i] != nil || t.Container != nil {
			continue
		}
		if t.Exe != "" {
			if ok, _ := filepath.Match(t.Exe, exe); !ok && t.Exe != exe {
				continue
			}
			if t.Crate == "" {
				return t
			}
		}
		if s.crateMatches(t, exe) {
			return t
		}
	}
	return nil
}

// crateMatches reports whether the executable at path has t's crate, or,
// when t names none, one that rustscope instruments.
func (s *Selector) crateMatches(t *Target, path string) bool {
	a, err := s.analyze(path)
	if err != nil || !a.Rust {
		return false
	}
	if t.Crate != "" {
		// Cargo takes - and _ in a package name as the same.
		norm := func(n string) string { return strings.ReplaceAll(n, "-", "_") }
		return slices.ContainsFunc(a.Crates, func(c symbols.Crate) bool { return norm(c.Name) == norm(t.Crate) })
	}
	for _, c := range Instrumented {
		if _, ok := a.Crate(c); ok {
			return true
		}
	}
	return false
}

// exeMatches reports whether the process at dir runs exe, a path or a glob.
func exeMatches(dir, exe string) bool {
	if IsGlob(exe) {
		link, err := os.Readlink(filepath.Join(dir, "exe"))
		ok, _ := filepath.Match(exe, strings.TrimSuffix(link, " (deleted)"))
		return err == nil && ok
	}
	target, err := os.Stat(exe)
	return runsExe(dir, exe, target, err == nil)
}

// matches reports whether the process at dir is in the selected container.
// rustscope's own mount namespace is read from the same proc tree
// (dir/../self), as Processes does.
func (c *Container) matches(dir string) bool {
	if c.ID != "" {
		id := containerID(dir)
		return id != "" && strings.HasPrefix(id, c.ID)
	}
	ns, err := os.Readlink(filepath.Join(dir, "ns", "mnt"))
	if err != nil {
		return false
	}
	self, err := os.Readlink(filepath.Join(filepath.Dir(dir), "self", "ns", "mnt"))
	if err != nil {
		return false
	}
	return (ns != self) == c.Other
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

// IsGlob reports whether the path p is a glob (it holds *, ? or [).
func IsGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

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
