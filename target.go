package main

// Bad input found before tracing starts: each check ends rustscope with
// one line naming what is wrong and what to do, and an exit code scripts
// can tell apart (README, "Exit codes").

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rustscope/rustscope/config"
	"github.com/rustscope/rustscope/preflight"
	"github.com/rustscope/rustscope/symbols"
)

// codedError ends rustscope with its own exit code.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &codedError{code, err} }

// exitCode is err's own exit code, or def.
func exitCode(err error, def int) int {
	if ce, ok := errors.AsType[*codedError](err); ok {
		return ce.code
	}
	return def
}

// checkStart runs in headless mode before anything is loaded: the host
// can trace (capabilities, kernel features) and an executable named by
// path, not glob, is there and is a Rust program. In a container of its
// own rustscope may not see the path yet (the target's container has not
// started): it says so on stderr and waits.
func checkStart(cfg config.Config, cache *symbols.Cache, stderr io.Writer) error {
	if err := preflight.Check(); err != nil {
		return withCode(exitEnv, err)
	}
	for _, t := range cfg.Targets { // the configuration file's, checked as --exe is
		c := cfg
		c.Exe, c.ExeSrc = t.Exe, t.ExeSrc
		if err := checkExe(c, cache, stderr); err != nil {
			return err
		}
	}
	return checkExe(cfg, cache, stderr)
}

// checkExe is checkStart's check of cfg.Exe.
func checkExe(cfg config.Config, cache *symbols.Cache, stderr io.Writer) error {
	if cfg.Exe == "" || isGlob(cfg.Exe) {
		return nil
	}
	name := cfg.ExeSrc + " " + cfg.Exe
	if !strings.HasPrefix(cfg.ExeSrc, "--") && !strings.HasPrefix(cfg.ExeSrc, "config ") {
		name = cfg.ExeSrc + "=" + cfg.Exe
	}
	f, where, err := openExe(cfg.Exe)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !hostMountNS():
		fmt.Fprintf(stderr, "rustscope: %s: no such file in this container or on the host, and no process runs it yet: waiting for one\n", name)
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return withCode(exitTarget, fmt.Errorf("%s: no such file: give the path of the service's executable (or a glob)", name))
	case err != nil:
		return withCode(exitTarget, fmt.Errorf("%s: %w", name, err))
	}
	defer f.Close()
	if cfg.WireOnly {
		return nil
	}
	path := cfg.Exe
	if where != "" {
		path = fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	}
	a, err := cache.Analyze(path)
	if err != nil { // it names the file
		return withCode(exitTarget, fmt.Errorf("%s%s: %w", cfg.ExeSrc, where, err))
	}
	if !a.Rust {
		return withCode(exitTarget, fmt.Errorf("%s%s is not a Rust program: rustscope traces Rust services (--wire-only captures any program's HTTP from its sockets)", name, where))
	}
	return nil
}

// openExe opens the executable an --exe path names. In a container of its
// own (with the host's PID namespace, or a pod's shared one) rustscope
// often does not have that path: the target runs in another container, or
// on the host. Then the executable of a process started from the path
// (/proc/PID/exe) stands in for it, else the host's file: the path
// resolved inside PID 1's root (symlinks too) when PID 1 has another mount
// namespace. where is "" for the path itself, else says which it is.
func openExe(exe string) (f *os.File, where string, err error) {
	f, err = os.Open(exe)
	if !errors.Is(err, fs.ErrNotExist) {
		return f, "", err
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, perr := strconv.Atoi(e.Name())
		if perr != nil || pid == os.Getpid() || !runsExe("/proc/"+e.Name(), exe, nil, false) {
			continue
		}
		if pf, perr := os.Open("/proc/" + e.Name() + "/exe"); perr == nil {
			return pf, fmt.Sprintf(" (run by pid %d)", pid), nil
		}
	}
	if !otherMountNS("/proc/1") {
		return nil, "", err
	}
	root, rerr := os.Open("/proc/1/root")
	if rerr != nil {
		return nil, "", err
	}
	defer root.Close()
	fd, oerr := unix.Openat2(int(root.Fd()), exe, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if oerr != nil {
		if errors.Is(oerr, fs.ErrNotExist) {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("open %s on the host: %w", exe, oerr)
	}
	return os.NewFile(uintptr(fd), "/proc/1/root"+exe), " (on the host)", nil
}

// otherMountNS reports whether the process at dir (/proc/PID) has another
// mount namespace than rustscope: rustscope runs in a container and PID 1
// is the host's init (or a pod's first process).
func otherMountNS(dir string) bool {
	self, err1 := os.Readlink("/proc/self/ns/mnt")
	other, err2 := os.Readlink(dir + "/ns/mnt")
	return err1 == nil && err2 == nil && self != other
}

// hostMountNS reports whether rustscope runs in the host's mount
// namespace: PID 1's, or where PID 1 cannot be read (a sandboxed init),
// that of the kernel threads, which never leave it (kthreadd is PID 2 in
// the host's PID namespace). Where it cannot tell (a pod's PID namespace
// without PID 1's), it is not.
func hostMountNS() bool {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return true
	}
	if ns, err := os.Readlink("/proc/1/ns/mnt"); err == nil {
		return ns == self
	}
	comm, _ := os.ReadFile("/proc/2/comm")
	ns, err := os.Readlink("/proc/2/ns/mnt")
	return string(comm) == "kthreadd\n" && err == nil && ns == self
}

// checkPID says whether pid can be traced: it exists, its executable can
// be read, and it is a Rust program (any program with wireOnly). note,
// when not empty, tells a Rust program without any crate rustscope
// instruments that it gets wire capture only.
func checkPID(pid int, wireOnly bool, cache *symbols.Cache) (note string, err error) {
	proc := "/proc/" + strconv.Itoa(pid)
	if _, err := os.Stat(proc); err != nil {
		return "", withCode(exitTarget, fmt.Errorf("pid %d: no such process (`rustscope list` shows the Rust processes)", pid))
	}
	who := "pid " + strconv.Itoa(pid)
	if b, err := os.ReadFile(proc + "/comm"); err == nil {
		who += " (" + strings.TrimSpace(string(b)) + ")"
	}
	exe, err := os.Readlink(proc + "/exe")
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "", withCode(exitEnv, fmt.Errorf("%s: read %s/exe: permission denied: tracing another user's process needs CAP_SYS_PTRACE (or root)", who, proc))
	case errors.Is(err, fs.ErrNotExist):
		return "", withCode(exitTarget, fmt.Errorf("%s is a kernel thread or a zombie: it has no executable to trace", who))
	case err != nil:
		return "", withCode(exitTarget, fmt.Errorf("%s: %w", who, err))
	case wireOnly:
		return "", nil
	}
	a, err := cache.Analyze(proc + "/exe")
	if err != nil {
		return "", withCode(exitTarget, fmt.Errorf("%s: read its executable %s: %w", who, exe, err))
	}
	if !a.Rust {
		return "", withCode(exitTarget, fmt.Errorf("%s is not a Rust program (%s): rustscope traces Rust services (--wire-only captures any program's HTTP from its sockets)", who, exe))
	}
	for _, c := range instrumented {
		if _, ok := a.Crate(c); ok {
			return "", nil
		}
	}
	return fmt.Sprintf("%s uses none of the crates rustscope instruments (%s): wire capture only, spans without http.route",
		who, strings.Join(instrumented, ", ")), nil
}
