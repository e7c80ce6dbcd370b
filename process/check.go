package process

// Checks before tracing starts: each names what is wrong and what to do
// in one line, and its error's kind (ErrNotFound, ErrNotRust, ...) tells
// main which documented exit code to end with (README, "Exit codes").

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rustscope/rustscope/symbols"
)

// The kinds of Error.
var (
	ErrNotFound     = errors.New("no such process or executable")
	ErrNotRust      = errors.New("not a Rust program")
	ErrNoExecutable = errors.New("no executable to trace") // a kernel thread, a zombie, an unreadable or non-ELF file
	ErrPermission   = errors.New("permission denied")      // needs CAP_SYS_PTRACE (or root)
)

// Error is a target that cannot be traced: errors.Is(err, Kind) holds, and
// its message is Err's.
type Error struct {
	Kind error
	Err  error
}

func (e *Error) Error() string   { return e.Err.Error() }
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

func targetErr(kind error, format string, a ...any) error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, a...)}
}

// CheckExe checks, before anything is loaded, that exe (named by src, as
// "--exe", "OTEL_TARGET_EXE" or "config FILE:LINE: target.exe"), when a
// path and not a glob, is there and is a Rust program (any program with
// wireOnly). In a container of its own rustscope may not see the path yet
// (the target's container has not started): then note says so, and that
// it waits.
func CheckExe(exe, src string, wireOnly bool, cache *symbols.Cache) (note string, err error) {
	if exe == "" || IsGlob(exe) {
		return "", nil
	}
	name := src + " " + exe
	if !strings.HasPrefix(src, "--") && !strings.HasPrefix(src, "config ") {
		name = src + "=" + exe
	}
	f, where, err := openExe(exe)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !hostMountNS():
		return fmt.Sprintf("%s: no such file in this container or on the host, and no process runs it yet: waiting for one", name), nil
	case errors.Is(err, fs.ErrNotExist):
		return "", targetErr(ErrNotFound, "%s: no such file: give the path of the service's executable (or a glob)", name)
	case err != nil:
		return "", targetErr(ErrNoExecutable, "%s: %w", name, err)
	}
	defer f.Close()
	if wireOnly {
		return "", nil
	}
	path := exe
	if where != "" {
		path = fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	}
	a, err := cache.Analyze(path)
	if err != nil { // it names the file
		return "", targetErr(ErrNoExecutable, "%s%s: %w", src, where, err)
	}
	if !a.Rust {
		return "", targetErr(ErrNotRust, "%s%s is not a Rust program: rustscope traces Rust services (--wire-only captures any program's HTTP from its sockets)", name, where)
	}
	return "", nil
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

// CheckPID says whether pid can be traced: it exists, its executable can
// be read, and it is a Rust program (any program with wireOnly). note,
// when not empty, tells a Rust program without any crate rustscope
// instruments that it gets wire capture only.
func CheckPID(pid int, wireOnly bool, cache *symbols.Cache) (note string, err error) {
	proc := "/proc/" + strconv.Itoa(pid)
	if _, err := os.Stat(proc); err != nil {
		return "", targetErr(ErrNotFound, "pid %d: no such process (`rustscope list` shows the Rust processes)", pid)
	}
	who := "pid " + strconv.Itoa(pid)
	if b, err := os.ReadFile(proc + "/comm"); err == nil {
		who += " (" + strings.TrimSpace(string(b)) + ")"
	}
	exe, err := os.Readlink(proc + "/exe")
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "", targetErr(ErrPermission, "%s: read %s/exe: permission denied: tracing another user's process needs CAP_SYS_PTRACE (or root)", who, proc)
	case errors.Is(err, fs.ErrNotExist):
		return "", targetErr(ErrNoExecutable, "%s is a kernel thread or a zombie: it has no executable to trace", who)
	case err != nil:
		return "", targetErr(ErrNoExecutable, "%s: %w", who, err)
	case wireOnly:
		return "", nil
	}
	a, err := cache.Analyze(proc + "/exe")
	if err != nil {
		return "", targetErr(ErrNoExecutable, "%s: read its executable %s: %w", who, exe, err)
	}
	if !a.Rust {
		return "", targetErr(ErrNotRust, "%s is not a Rust program (%s): rustscope traces Rust services (--wire-only captures any program's HTTP from its sockets)", who, exe)
	}
	for _, c := range Instrumented {
		if _, ok := a.Crate(c); ok {
			return "", nil
		}
	}
	return fmt.Sprintf("%s uses none of the crates rustscope instruments (%s): wire capture only, spans without http.route",
		who, strings.Join(Instrumented, ", ")), nil
}
