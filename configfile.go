package main

// The configuration file (docs/configuration.md, "Configuration file"): TOML
// with the settings of the flags and environment, plus target lists. Flags
// win over the environment, which wins over the file, which wins over the
// defaults. Every error names the file and the line.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
	"go.opentelemetry.io/otel/attribute"
	"golang.org/x/net/http/httpguts"
)

// defaultConfigPath is read when neither --config nor RUSTSCOPE_CONFIG
// names a file; unlike a named file, it may be missing.
var defaultConfigPath = "/etc/rustscope/config.toml"

// fileConfig is the file's content. Pointers tell a key that is absent
// from one set to its zero value: only keys present override defaults.
type fileConfig struct {
	All       *bool         `toml:"all"`
	Headless  *bool         `toml:"headless"`
	WireOnly  *bool         `toml:"wire_only"`
	LogFile   *string       `toml:"log_file"`
	Targets   []fileTarget  `toml:"target"`
	Export    fileExport    `toml:"export"`
	Redaction fileRedaction `toml:"redaction"`
	Buffers   fileBuffers   `toml:"buffers"`
}

// fileTarget is one [[target]] table.
type fileTarget struct {
	Exe         *string `toml:"exe"`
	Cmdline     *string `toml:"cmdline"`
	Crate       *string `toml:"crate"`
	Container   any     `toml:"container"` // true, false or a container ID prefix
	ServiceName *string `toml:"service_name"`
}

type fileExport struct {
	Exporters          *[]string         `toml:"exporters"`
	MetricsExporter    *string           `toml:"metrics_exporter"`
	Stdout             *bool             `toml:"stdout"`
	Endpoint           *string           `toml:"endpoint"`
	TracesEndpoint     *string           `toml:"traces_endpoint"`
	Protocol           *string           `toml:"protocol"`
	Headers            map[string]string `toml:"headers"`
	Insecure           *bool             `toml:"insecure"`
	Certificate        *string           `toml:"certificate"`
	Sampler            *string           `toml:"sampler"`
	SamplerArg         *float64          `toml:"sampler_arg"`
	ServiceName        *string           `toml:"service_name"`
	ResourceAttributes map[string]string `toml:"resource_attributes"`
}

type fileRedaction struct {
	ShowSecrets *bool `toml:"show_secrets"`
}

type fileBuffers struct {
	Spans        *int `toml:"spans"`
	CaptureBytes *int `toml:"capture_bytes"`
	RingBytes    *int `toml:"ring_bytes"`
}

// configFile is a read and checked configuration file.
type configFile struct {
	path    string
	c       fileConfig
	lines   map[string]int // key path ("export.endpoint", "target[1].exe") -> line
	targets []target       // c.Targets, checked and compiled
	headers map[string]string
	attrs   []attribute.KeyValue
}

// readConfigFile reads and checks the file at path. A missing file is
// (nil, nil) when missingOK.
func readConfigFile(path string, missingOK bool) (*configFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && missingOK {
			return nil, nil
		}
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	f := &configFile{path: path}
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt key must not silently do nothing
	if err := dec.Decode(&f.c); err != nil {
		return nil, f.decodeError(err)
	}
	f.lines = keyLines(b)
	if err := f.check(); err != nil {
		return nil, err
	}
	return f, nil
}

// decodeError turns the TOML library's error into one line naming the file,
// the line and the key.
func (f *configFile) decodeError(err error) error {
	if se, ok := errors.AsType[*toml.StrictMissingError](err); ok && len(se.Errors) > 0 {
		e := se.Errors[0]
		row, _ := e.Position()
		return fmt.Errorf("config %s:%d: unknown key %q", f.path, row, strings.Join(e.Key(), "."))
	}
	if de, ok := errors.AsType[*toml.DecodeError](err); ok {
		row, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if m := typeMismatch.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("want %s, not %s", goTypeWords(m[2]), tomlTypeWords(m[1]))
		}
		if k := de.Key(); len(k) > 0 {
			msg = strings.Join(k, ".") + ": " + msg
		}
		return fmt.Errorf("config %s:%d: %s", f.path, row, msg)
	}
	return fmt.Errorf("config %s: %w", f.path, err)
}

// typeMismatch is the TOML library's message for a value of the wrong
// type; its Go type names mean nothing to a user.
var typeMismatch = regexp.MustCompile(`^cannot decode TOML (\w+) into (?:struct field \S+ of type )?(\S+)$`)

func goTypeWords(t string) string {
	switch strings.TrimPrefix(t, "*") {
	case "int":
		return "an integer"
	case "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "[]string":
		return "a list of strings"
	case "map[string]string":
		return "a table of strings"
	case "[]main.fileTarget":
		return "[[target]] tables"
	}
	if strings.HasPrefix(t, "main.") {
		return "a table"
	}
	return t
}

func tomlTypeWords(t string) string {
	if t != "" && strings.ContainsRune("aeiou", rune(t[0])) {
		return "an " + t
	}
	return "a " + t
}

// keyLines maps every key of doc to its line. A key in an array of tables
// is indexed: "target[0].exe".
func keyLines(doc []byte) map[string]int {
	lines := map[string]int{}
	var p unstable.Parser
	p.Reset(doc)
	arrays := map[string]int{}
	prefix := ""
	for p.NextExpression() {
		e := p.Expression()
		it := e.Key()
		var parts []string
		line := 0
		for it.Next() {
			n := it.Node()
			parts = append(parts, string(n.Data))
			if line == 0 {
				line = p.Shape(n.Raw).Start.Line
			}
		}
		k := strings.Join(parts, ".")
		switch e.Kind {
		case unstable.Table:
			prefix = k
		case unstable.ArrayTable:
			n := arrays[k]
			arrays[k] = n + 1
			k = fmt.Sprintf("%s[%d]", k, n)
			prefix = k
		case unstable.KeyValue:
			if prefix != "" {
				k = prefix + "." + k
			}
		default:
			continue
		}
		lines[k] = line
	}
	return lines
}

// line is the line of key, or of the nearest enclosing key that has one
// (a key inside an inline table).
func (f *configFile) line(key string) int {
	for key != "" {
		if l, ok := f.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

// src names key for messages: "config FILE:LINE: key".
func (f *configFile) src(key string) string {
	return fmt.Sprintf("config %s:%d: %s", f.path, f.line(key), displayKey(key))
}

// errorf is an error about key.
func (f *configFile) errorf(key, format string, args ...any) error {
	return fmt.Errorf("%s: %s", f.src(key), fmt.Sprintf(format, args...))
}

// bad is an error about key's value v, spelt as parseConfig's are.
func (f *configFile) bad(key, v, why string) error {
	return fmt.Errorf("%s %q: %s", f.src(key), v, why)
}

// displayKey drops array indexes: the line tells which table.
func displayKey(key string) string {
	return arrayIndex.ReplaceAllString(key, "")
}

var arrayIndex = regexp.MustCompile(`\[\d+\]`)

// check validates what parseConfig does not (targets, tables, ring size)
// and compiles the targets.
func (f *configFile) check() error {
	for i, ft := range f.c.Targets {
		tg, err := f.target(i, ft)
		if err != nil {
			return err
		}
		f.targets = append(f.targets, tg)
	}
	if h := f.c.Export.Headers; h != nil {
		for _, k := range sortedKeys(h) {
			if !httpguts.ValidHeaderFieldName(k) {
				return f.bad("export.headers."+k, k, "invalid header name")
			}
		}
		f.headers = h
	}
	// Sorted: a map's order would make resources differ from run to run.
	for _, k := range sortedKeys(f.c.Export.ResourceAttributes) {
		if strings.TrimSpace(k) == "" {
			return f.errorf("export.resource_attributes", "empty attribute name")
		}
		f.attrs = append(f.attrs, attribute.String(k, f.c.Export.ResourceAttributes[k]))
	}
	if s := f.c.Export.ServiceName; s != nil && strings.TrimSpace(*s) == "" {
		return f.errorf("export.service_name", "empty: leave it out for the executable's name")
	}
	if r := f.c.Buffers.RingBytes; r != nil {
		page := os.Getpagesize()
		if *r < page || *r > maxRingBytes || bits.OnesCount(uint(*r)) != 1 {
			return fmt.Errorf("%s %d: want a power of two from %d to %d", f.src("buffers.ring_bytes"), *r, page, maxRingBytes)
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

// target checks and compiles the i-th [[target]].
func (f *configFile) target(i int, ft fileTarget) (target, error) {
	key := func(k string) string { return fmt.Sprintf("target[%d].%s", i, k) }
	var tg target
	if ft.Exe != nil {
		v := strings.TrimSpace(*ft.Exe)
		switch _, err := filepath.Match(v, ""); {
		case !filepath.IsAbs(v):
			return tg, f.bad(key("exe"), *ft.Exe, "want an absolute path (or glob)")
		case err != nil:
			return tg, f.bad(key("exe"), *ft.Exe, "not a valid glob")
		}
		tg.exe, tg.exeSrc = filepath.Clean(v), f.src(key("exe"))
	}
	if ft.Cmdline != nil {
		re, err := regexp.Compile(*ft.Cmdline)
		if err != nil {
			return tg, f.bad(key("cmdline"), *ft.Cmdline, "not a valid regular expression: "+strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		tg.cmdline = re
	}
	if ft.Crate != nil {
		if !crateName.MatchString(*ft.Crate) {
			return tg, f.bad(key("crate"), *ft.Crate, "want a crate name such as axum")
		}
		tg.crate = *ft.Crate
	}
	switch c := ft.Container.(type) {
	case nil:
	case bool:
		tg.container = &containerSel{other: c}
	case string:
		c = strings.ToLower(c) // docker prints IDs in lower case; a pasted upper-case one is the same ID
		if !containerIDPrefix.MatchString(c) {
			return tg, f.bad(key("container"), c, "want true, false or a container ID (hexadecimal, as in /proc/PID/cgroup)")
		}
		tg.container = &containerSel{id: c}
	default:
		return tg, f.errorf(key("container"), "want true, false or a container ID string, not %v", c)
	}
	if ft.ServiceName != nil {
		if strings.TrimSpace(*ft.ServiceName) == "" {
			return tg, f.errorf(key("service_name"), "empty: leave it out for the executable's name")
		}
		tg.service = strings.TrimSpace(*ft.ServiceName)
	}
	if ft.Exe == nil && ft.Cmdline == nil && ft.Crate == nil && ft.Container == nil {
		return tg, fmt.Errorf("config %s:%d: [[target]] selects nothing: set exe, cmdline, crate or container (all = true traces every Rust process using an instrumented crate)",
			f.path, f.line(fmt.Sprintf("target[%d]", i)))
	}
	return tg, nil
}

// option is the file's value of the setting --flag, spelt as the flag
// would take it, and its key.
func (f *configFile) option(flag string) (key, val string, ok bool) {
	if f == nil {
		return "", "", false
	}
	e := &f.c.Export
	str := func(k string, v *string) (string, string, bool) {
		if v == nil {
			return "", "", false
		}
		return k, *v, true
	}
	boolean := func(k string, v *bool) (string, string, bool) {
		if v == nil {
			return "", "", false
		}
		return k, strconv.FormatBool(*v), true
	}
	switch flag {
	case "service-name":
		return str("export.service_name", e.ServiceName)
	case "exporter":
		if e.Exporters == nil {
			return "", "", false
		}
		if len(*e.Exporters) == 0 {
			return "export.exporters", "none", true
		}
		return "export.exporters", strings.Join(*e.Exporters, ","), true
	case "metrics-exporter":
		return str("export.metrics_exporter", e.MetricsExporter)
	case "stdout":
		return boolean("export.stdout", e.Stdout)
	case "endpoint":
		return str("export.endpoint", e.Endpoint)
	case "traces-endpoint":
		return str("export.traces_endpoint", e.TracesEndpoint)
	case "protocol":
		return str("export.protocol", e.Protocol)
	case "insecure":
		return boolean("export.insecure", e.Insecure)
	case "certificate":
		return str("export.certificate", e.Certificate)
	case "sampler":
		return str("export.sampler", e.Sampler)
	case "sampler-arg":
		if e.SamplerArg == nil {
			return "", "", false
		}
		return "export.sampler_arg", strconv.FormatFloat(*e.SamplerArg, 'g', -1, 64), true
	case "show-secrets":
		return boolean("redaction.show_secrets", f.c.Redaction.ShowSecrets)
	}
	return "", "", false
}

// intOption is the file's value of a flag without environment variable.
func (f *configFile) intOption(flag string) (key string, v int, ok bool) {
	if f == nil {
		return "", 0, false
	}
	var p *int
	switch flag {
	case "buffer":
		key, p = "buffers.spans", f.c.Buffers.Spans
	case "capture-bytes":
		key, p = "buffers.capture_bytes", f.c.Buffers.CaptureBytes
	}
	if p == nil {
		return "", 0, false
	}
	return key, *p, true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// has reports whether the file sets the setting of --flag.
func (f *configFile) has(flag string) bool {
	_, _, ok := f.option(flag)
	return ok
}

// loadConfig reads the file --config (flagPath) or RUSTSCOPE_CONFIG names,
// else the default one if it exists. --config= reads none.
func loadConfig(set map[string]bool, flagPath string, getenv func(string) string, bad func(src, v, why string) error) (*configFile, error) {
	path, src := defaultConfigPath, ""
	switch {
	case set["config"]:
		if flagPath == "" {
			return nil, nil
		}
		path, src = flagPath, "--config"
	case getenv("RUSTSCOPE_CONFIG") != "":
		path, src = getenv("RUSTSCOPE_CONFIG"), "RUSTSCOPE_CONFIG"
	}
	f, err := readConfigFile(path, src == "")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, bad(src, path, "no such file")
	}
	return f, err
}

// fileSettings applies the file's settings that have a flag but no
// environment variable, unless the flag is given.
func fileSettings(cfg *config, f *configFile, set map[string]bool) {
	c := &f.c
	for _, b := range []struct {
		flag string
		dst  *bool
		v    *bool
	}{{"headless", &cfg.headless, c.Headless}, {"wire-only", &cfg.wireOnly, c.WireOnly}} {
		if !set[b.flag] && b.v != nil {
			*b.dst = *b.v
		}
	}
	if !set["log-file"] && c.LogFile != nil {
		cfg.logFile = *c.LogFile
	}
	if _, v, ok := f.intOption("buffer"); ok && !set["buffer"] {
		cfg.buffer = v
	}
	if _, v, ok := f.intOption("capture-bytes"); ok && !set["capture-bytes"] {
		cfg.captureBytes = v
	}
	if c.Buffers.RingBytes != nil {
		cfg.ringBytes = *c.Buffers.RingBytes
	}
}
