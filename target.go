package main

// Bad input found before tracing starts: each check ends rustscope with
// one line naming what is wrong and what to do, and an exit code scripts
// can tell apart (README, "Exit codes").

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

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
// path, not glob, is there and is a Rust program.
func checkStart(cfg config, cache *symbols.Cache) error {
	if err := preflight.Check(); err != nil {
		return withCode(exitEnv, err)
	}
	if cfg.exe == "" || isGlob(cfg.exe) {
		return nil
	}
	name := cfg.exeSrc + " " + cfg.exe
	if !strings.HasPrefix(cfg.exeSrc, "--") {
		name = cfg.exeSrc + "=" + cfg.exe
	}
	switch _, err := os.Stat(cfg.exe); {
	case errors.Is(err, fs.ErrNotExist):
		return withCode(exitTarget, fmt.Errorf("%s: no such file: give the path of the service's executable (or a glob)", name))
	case err != nil:
		return withCode(exitTarget, fmt.Errorf("%s: %w", name, err))
	case cfg.wireOnly:
		return nil
	}
	a, err := cache.Analyze(cfg.exe)
	if err != nil { // it names the file
		return withCode(exitTarget, fmt.Errorf("%s: %w", cfg.exeSrc, err))
	}
	if !a.Rust {
		return withCode(exitTarget, fmt.Errorf("%s is not a Rust program: rustscope traces Rust services (--wire-only captures any program's HTTP from its sockets)", name))
	}
	return nil
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
