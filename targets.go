package main

import (
	"regexp"

	"github.com/rustscope/rustscope/process"
	"github.com/rustscope/rustscope/symbols"
)

// The settings' form of the targets, which config.go and configfile.go
// build, converted to process.Target here. It goes when the settings move
// to config/ (issue #18), which yields plain targets of its own.

// target is one target of the settings: see process.Target.
type target struct {
	exe       string
	cmdline   *regexp.Regexp
	crate     string
	container *containerSel
	service   string
	exeSrc    string
}

// containerSel is process.Container.
type containerSel struct {
	id    string
	other bool
}

// selector is the settings' targets, in the order they are tried.
type selector struct {
	targets []target
	analyze func(path string) (*symbols.Analysis, error)
}

func (t *target) process() process.Target {
	p := process.Target{Exe: t.exe, ExeSrc: t.exeSrc, Crate: t.crate, ServiceName: t.service}
	if t.cmdline != nil {
		p.Cmdline = t.cmdline.String()
	}
	if c := t.container; c != nil {
		p.Container = &process.Container{ID: c.id, Other: c.other}
	}
	return p
}

func (t *target) String() string { return t.process().String() }

func (s selector) String() string {
	sel, err := s.process()
	if err != nil {
		return err.Error()
	}
	return sel.String()
}

// process is the process.Selector of s.
func (s selector) process() (*process.Selector, error) {
	ts := make([]process.Target, len(s.targets))
	for i := range s.targets {
		ts[i] = s.targets[i].process()
	}
	return process.NewSelector(ts, s.analyze)
}

// selector is what the watcher attaches to: the --exe executable, or the
// configuration file's targets, then with --all (or all = true) every Rust
// process using an instrumented crate (the empty target).
func (c config) selector(analyze func(string) (*symbols.Analysis, error)) selector {
	var ts []target
	if c.exe != "" {
		ts = append(ts, target{exe: c.exe, exeSrc: c.exeSrc})
	}
	ts = append(ts, c.targets...)
	if c.all {
		ts = append(ts, target{})
	}
	return selector{targets: ts, analyze: analyze}
}
