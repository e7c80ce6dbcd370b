package config

// The configuration file's checks that do not depend on the other
// sources: its [[target]] tables, tables of strings and ring size.

import (
	"fmt"
	"maps"
	"math/bits"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"golang.org/x/net/http/httpguts"
)

// check validates what does not depend on the other sources (targets,
// tables, ring size) and builds the targets.
func (f *file) check() error {
	for i, t := range f.tables {
		tg, err := f.target(i, t)
		if err != nil {
			return err
		}
		f.targets = append(f.targets, tg)
	}
	if h, ok := f.values["export.headers"].(map[string]string); ok {
		for _, k := range slices.Sorted(maps.Keys(h)) {
			if !httpguts.ValidHeaderFieldName(k) {
				return f.bad("export.headers."+k, k, "invalid header name")
			}
		}
	}
	// Sorted: a map's order would make resources differ from run to run.
	attrs, _ := f.values["export.resource_attributes"].(map[string]string)
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if strings.TrimSpace(k) == "" {
			return f.errorf("export.resource_attributes", "empty attribute name")
		}
		f.attrs = append(f.attrs, attribute.String(k, attrs[k]))
	}
	if s, ok := f.values["export.service_name"].(string); ok && strings.TrimSpace(s) == "" {
		return f.errorf("export.service_name", "empty: leave it out for the executable's name")
	}
	if r, ok := f.values["buffers.ring_bytes"].(int); ok {
		page := os.Getpagesize()
		if r < page || r > maxRingBytes || bits.OnesCount(uint(r)) != 1 {
			return fmt.Errorf("%s %d: want a power of two from %d to %d", f.src("buffers.ring_bytes"), r, page, maxRingBytes)
		}
	}
	return nil
}

// maxRingBytes bounds buffers.ring_bytes: the kernel maps the ring's pages
// twice, and rustscope's memory grows with it.
const maxRingBytes = 1 << 30

// crateName is how Cargo spells a package name.
var crateName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// containerIDPrefix is a container ID prefix as /proc/PID/cgroup spells it.
var containerIDPrefix = regexp.MustCompile(`^[0-9a-f]{1,64}$`)

// target checks the i-th [[target]] table, t.
func (f *file) target(i int, t map[string]any) (Target, error) {
	key := func(k string) string { return fmt.Sprintf("target[%d].%s", i, k) }
	var tg Target
	exe, hasExe := t["target.exe"].(string)
	if hasExe {
		v := strings.TrimSpace(exe)
		switch _, err := filepath.Match(v, ""); {
		case !filepath.IsAbs(v):
			return tg, f.bad(key("exe"), exe, "want an absolute path (or glob)")
		case err != nil:
			return tg, f.bad(key("exe"), exe, "not a valid glob")
		}
		tg.Exe, tg.ExeSrc = filepath.Clean(v), f.src(key("exe"))
	}
	cmdline, hasCmdline := t["target.cmdline"].(string)
	if hasCmdline {
		if _, err := regexp.Compile(cmdline); err != nil {
			return tg, f.bad(key("cmdline"), cmdline, "not a valid regular expression: "+strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		tg.Cmdline = cmdline
	}
	crate, hasCrate := t["target.crate"].(string)
	if hasCrate {
		if !crateName.MatchString(crate) {
			return tg, f.bad(key("crate"), crate, "want a crate name such as axum")
		}
		tg.Crate = crate
	}
	container, hasContainer := t["target.container"]
	switch c := container.(type) {
	case nil:
	case bool:
		tg.Container = &Container{Other: c}
	case string:
		c = strings.ToLower(c) // docker prints IDs in lower case; a pasted upper-case one is the same ID
		if !containerIDPrefix.MatchString(c) {
			return tg, f.bad(key("container"), c, "want true, false or a container ID (hexadecimal, as in /proc/PID/cgroup)")
		}
		tg.Container = &Container{ID: c}
	default:
		return tg, f.errorf(key("container"), "want true, false or a container ID string, not %v", c)
	}
	if s, ok := t["target.service_name"].(string); ok {
		if strings.TrimSpace(s) == "" {
			return tg, f.errorf(key("service_name"), "empty: leave it out for the executable's name")
		}
		tg.ServiceName = strings.TrimSpace(s)
	}
	if !hasExe && !hasCmdline && !hasCrate && !hasContainer {
		return tg, fmt.Errorf("config %s:%d: [[target]] selects nothing: set exe, cmdline, crate or container (all = true traces every Rust process using an instrumented crate)",
			f.path, f.line(fmt.Sprintf("target[%d]", i)))
	}
	return tg, nil
}
