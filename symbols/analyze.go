// Package symbols analyses Rust executables: whether they are Rust, which
// compiler built them, which crates (and versions) they contain, where the
// functions rustscope wants to probe are, and how cheap a uprobe there is.
//
// Everything that can work on fully stripped binaries does: the compiler
// version comes from .comment or embedded /rustc/<hash>/ and Debian
// /usr/src/rustc-<version>/ paths, crate versions from the panic-location
// paths (<crate>-<version>/src/...) that every build keeps in .rodata,
// function boundaries from .eh_frame. Exact probe addresses need symbols:
// the binary's .symtab, a split debug file found by build-id under
// /usr/lib/debug/.build-id/, or a file given with Options.SymbolsFile.
//
// Only the sections that matter are read (.comment, .rodata, .data.rel.ro,
// .symtab/.strtab, .eh_frame, the first bytes of each probed function), so
// a 45 MB debug build is analysed in tens of milliseconds.
package symbols

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/rustscope/rustscope/lib"
)

// Crate is a crate found in a binary.
type Crate struct {
	Name    string `json:"name"`              // package name as in Cargo.toml ("hyper-util")
	Version string `json:"version,omitempty"` // empty when only symbols name the crate
	Source  string `json:"source,omitempty"`  // "path" (panic-location path) or "symbols"
}

// Symbol sources, in Analysis.SymbolSource.
const (
	SourceSymtab    = "symtab"    // the binary's own .symtab
	SourceDebuglink = "debuglink" // split debug file found by build-id (or .gnu_debuglink)
	SourceFile      = "file"      // debug file given with Options.SymbolsFile
	SourceEHFrame   = "eh_frame"  // no symbols: function boundaries only
	SourceNone      = "none"      // neither symbols nor .eh_frame
)

// Traceability levels (Analysis.Traceability, Process.Traceable).
const (
	TraceFull = "full" // the library probes for the crates in use are found
	TraceWire = "wire" // wire capture only (syscall tracepoints work on any build)
	TraceNone = "none" // nothing for rustscope to see
)

// Analysis is what rustscope knows about an executable. Treat it as
// read-only: Cache hands the same value to every caller.
type Analysis struct {
	Rust         bool     `json:"rust"`
	Evidence     []string `json:"evidence,omitempty"`      // why Rust was decided
	RustcVersion string   `json:"rustc_version,omitempty"` // "1.95.0", empty if unknown
	RustcCommit  string   `json:"rustc_commit,omitempty"`  // from /rustc/<hash>/ paths
	Crates       []Crate  `json:"crates,omitempty"`        // sorted by name, then version
	Stripped     bool     `json:"stripped"`                // no .symtab in the binary itself

	Machine      string       `json:"machine"`               // "x86-64", ...
	PIE          bool         `json:"pie"`                   // ET_DYN: load address is randomised
	BuildID      string       `json:"build_id,omitempty"`    // hex of NT_GNU_BUILD_ID
	DebugInfo    bool         `json:"debug_info"`            // DWARF (.debug_info) present
	LTO          bool         `json:"lto_likely"`            // heuristic, see detectLTO
	SymbolSource string       `json:"symbol_source"`         // symtab, debuglink, file, eh_frame, none
	SymbolFile   string       `json:"symbol_file,omitempty"` // the debug file used, if any
	Manglings    []string     `json:"manglings,omitempty"`   // "legacy", "v0" (sorted)
	Functions    int          `json:"functions"`             // distinct function start addresses
	Probes       []ProbePoint `json:"probes,omitempty"`      // one per manifest entry
	Warnings     []string     `json:"warnings,omitempty"`    // e.g. a debug file refused
	Needed       []string     `json:"needed,omitempty"`      // shared libraries it loads (DT_NEEDED)
	// Defines lists the functions wanted in a shared library
	// (probe.Want.Object) that the executable defines itself: it links
	// that library statically, with its symbols.
	Defines []string `json:"defines,omitempty"`

	debianRustc string // version from /usr/src/rustc-<version>/ paths
}

// Crate returns the version of the named crate, if present ("" when only
// symbols name it). Several versions can be linked in (tower 0.4 and 0.5);
// this returns the first; see Versions.
func (a *Analysis) Crate(name string) (string, bool) {
	for _, c := range a.Crates {
		if c.Name == name {
			return c.Version, true
		}
	}
	return "", false
}

// Versions returns every version of the named crate in the binary.
func (a *Analysis) Versions(name string) []string {
	var vs []string
	for _, c := range a.Crates {
		if c.Name == name {
			vs = append(vs, c.Version)
		}
	}
	return vs
}

// TLSLibraries names the TLS libraries the binary links, with their
// versions ("rustls 0.23.26"; OpenSSL through the openssl crate as
// "openssl 0.10.72"): their connections' bytes are ciphertext on the wire.
func (a *Analysis) TLSLibraries() []string {
	var libs []string
	for _, name := range []string{"rustls", "openssl"} {
		for _, v := range a.Versions(name) {
			libs = append(libs, name+" "+v)
		}
	}
	return libs
}

// Loads says whether the executable loads a shared library whose file
// name begins with prefix ("libssl.so"), and which.
func (a *Analysis) Loads(prefix string) (string, bool) {
	for _, n := range a.Needed {
		if strings.HasPrefix(n, prefix) {
			return n, true
		}
	}
	return "", false
}

// Probe returns the probe point with the given manifest ID.
func (a *Analysis) Probe(id string) (*ProbePoint, bool) {
	for i := range a.Probes {
		if a.Probes[i].ID == id {
			return &a.Probes[i], true
		}
	}
	return nil, false
}

// Errors. Every failure wraps one of these, so callers can tell them apart
// with errors.Is.
var (
	// ErrNotELF is returned for files that are not ELF files (scripts, data).
	ErrNotELF = errors.New("not an ELF file")
	// ErrUnsupported is returned for ELF files rustscope cannot analyse:
	// 32-bit, big-endian.
	ErrUnsupported = errors.New("unsupported executable")
	// ErrMalformed is returned for ELF files that are truncated or corrupt.
	ErrMalformed = errors.New("malformed ELF file")
)

// Options tune an analysis.
type Options struct {
	// SymbolsFile is a split debug file (objcopy --only-keep-debug) or an
	// unstripped copy of the same build. It must carry the binary's
	// build-id; a mismatching file is refused (see Analysis.Warnings).
	SymbolsFile string
	// DebugDirs are searched for <dir>/.build-id/xx/yyyy.debug and for
	// the .gnu_debuglink file. Default: /usr/lib/debug.
	DebugDirs []string
	// NoDebugLookup disables the automatic search for split debug files.
	NoDebugLookup bool
}

func (o Options) debugDirs() []string {
	if o.DebugDirs != nil {
		return o.DebugDirs
	}
	return []string{"/usr/lib/debug"}
}

// AnalyzeFile analyses the executable at path (for a process, pass
// /proc/PID/exe: it works for deleted files and other mount namespaces,
// and file offsets are those of the original file).
func AnalyzeFile(path string) (*Analysis, error) {
	return AnalyzeFileWith(path, Options{})
}

// AnalyzeFileWith is AnalyzeFile with options.
func AnalyzeFileWith(path string, opts Options) (*Analysis, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open executable: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat executable: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory: %w", path, ErrNotELF)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s): %w", path, st.Mode().Type(), ErrNotELF)
	}
	a, err := analyze(f, opts, path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// Analyze analyses an ELF image.
func Analyze(r io.ReaderAt) (*Analysis, error) {
	return AnalyzeWith(r, Options{})
}

// AnalyzeWith is Analyze with options. Without a path, .gnu_debuglink
// files next to the binary cannot be found; build-id lookup still works.
func AnalyzeWith(r io.ReaderAt, opts Options) (*Analysis, error) {
	return analyze(r, opts, "")
}

func analyze(r io.ReaderAt, opts Options, path string) (a *Analysis, err error) {
	img, err := openELF(r)
	if err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			a, err = nil, fmt.Errorf("%w: %v", ErrMalformed, p)
		}
	}()
	f := img.f
	a = &Analysis{
		Stripped: f.Section(".symtab") == nil,
		Machine:  machineName(f.Machine),
		PIE:      f.Type == elf.ET_DYN,
		BuildID:  img.buildID(),
	}
	a.DebugInfo = hasSection(f, ".debug_info")
	a.Needed, _ = f.ImportedLibraries() // none for a static executable

	var ev evidence
	if _, b, err := img.section(".comment"); err != nil {
		return nil, err
	} else if b != nil {
		if v, short := rustcFromComment(b); v != "" {
			a.RustcVersion = v
			ev.add(".comment: rustc " + v)
			if short != "" {
				ev.commentHash = short
			}
		}
	}
	for _, name := range []string{".rodata", ".data.rel.ro"} {
		_, b, err := img.section(name)
		if err != nil {
			return nil, err
		}
		if b != nil {
			scanStrings(b, a)
			if bytes.Contains(b, []byte("called `Option::unwrap()` on a `None` value")) {
				ev.add("Rust standard library panic messages")
			}
		}
	}
	if a.RustcCommit != "" {
		ev.add("/rustc/" + a.RustcCommit[:min(9, len(a.RustcCommit))] + "... paths")
		if ev.commentHash != "" && !strings.HasPrefix(a.RustcCommit, ev.commentHash) {
			a.Warnings = append(a.Warnings, fmt.Sprintf(".comment names rustc commit %s but std paths carry /rustc/%s/", ev.commentHash, a.RustcCommit))
		}
		if a.RustcVersion == "" {
			if v, ok := RustcVersionForCommit(a.RustcCommit); ok {
				a.RustcVersion = v
			}
		} else if v, ok := RustcVersionForCommit(a.RustcCommit); ok && v != a.RustcVersion {
			a.Warnings = append(a.Warnings, fmt.Sprintf(".comment says rustc %s but /rustc/%s/ is %s's commit", a.RustcVersion, a.RustcCommit, v))
		}
	}
	if a.debianRustc != "" {
		ev.add("/usr/src/rustc-" + a.debianRustc + "/ paths")
	}
	if n := countPathCrates(a); n > 0 {
		ev.add(fmt.Sprintf("%d crate panic-location paths", n))
	}

	// Not Rust by any cheap sign: look for Rust runtime symbols in the
	// string table before paying for the symbol table (process scans
	// analyse every executable on the machine once).
	if len(ev.list) == 0 && !rustRuntimeInStrtab(img) {
		a.Crates = nil
		a.SymbolSource = SourceNone
		if !a.Stripped {
			a.SymbolSource = SourceSymtab
		}
		return a, nil
	}

	// Symbols: the binary's own, a split debug file, or none.
	syms, err := loadSymbols(img, a, opts, path)
	if err != nil {
		return nil, err
	}
	if syms != nil && syms.rustSymbols > 0 {
		ev.add(fmt.Sprintf("%d Rust-mangled symbols", syms.rustSymbols))
	}
	a.Evidence = ev.list
	a.Rust = len(a.Evidence) > 0
	if !a.Rust {
		a.Crates = nil
		return a, nil
	}

	if syms != nil {
		a.Functions = syms.functions
		a.Manglings = syms.manglings()
		a.LTO = detectLTO(a, syms)
		addSymbolCrates(a, syms)
	} else {
		a.SymbolSource = SourceNone
		if fdes, err := functionsFromEHFrame(img); err == nil && len(fdes) > 0 {
			a.SymbolSource = SourceEHFrame
			a.Functions = len(fdes)
		} else if err != nil {
			a.Warnings = append(a.Warnings, "eh_frame: "+err.Error())
		}
	}
	sortCrates(a.Crates)
	a.Probes = findProbes(img, a, syms)
	if names := objectNames(a); names != nil {
		a.Defines = definesNamed(img, names)
	}
	return a, nil
}

// objectNames are the functions wanted in shared libraries (probe.Want.Object)
// by the libraries whose crates a links: nil when none.
func objectNames(a *Analysis) []string {
	var names []string
	for _, l := range lib.All {
		if _, ok := a.Crate(l.Crate); !ok {
			continue
		}
		for _, w := range l.Wants {
			if w.Object != "" {
				names = append(names, w.Match...)
			}
		}
	}
	return names
}

type evidence struct {
	list        []string
	commentHash string
}

func (e *evidence) add(s string) { e.list = append(e.list, s) }

// rustRuntimeInStrtab reports whether .strtab names a symbol of Rust's
// runtime (any std program with a symbol table has them).
func rustRuntimeInStrtab(img *elfImage) bool {
	s := img.f.Section(".symtab")
	if s == nil || s.Link == 0 || int(s.Link) >= len(img.f.Sections) {
		return false
	}
	strs, err := img.sectionData(img.f.Sections[s.Link])
	if err != nil {
		return false
	}
	for _, rs := range rustRuntimeSymbols {
		if bytes.Contains(strs, []byte("\x00"+rs+"\x00")) {
			return true
		}
	}
	return false
}

func hasSection(f *elf.File, name string) bool {
	s := f.Section(name)
	return s != nil && s.Size > 0
}

func machineName(m elf.Machine) string {
	switch m {
	case elf.EM_X86_64:
		return "x86-64"
	case elf.EM_AARCH64:
		return "aarch64"
	case elf.EM_RISCV:
		return "riscv64"
	}
	return strings.ToLower(strings.TrimPrefix(m.String(), "EM_"))
}

func countPathCrates(a *Analysis) int {
	n := 0
	for _, c := range a.Crates {
		if c.Source == "path" {
			n++
		}
	}
	return n
}

func sortCrates(cs []Crate) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Name != cs[j].Name {
			return cs[i].Name < cs[j].Name
		}
		return compareVersions(cs[i].Version, cs[j].Version) < 0
	})
}

// Summary is a short human description: "rustc 1.95.0, hyper 1.5.2, axum 0.7.9".
func (a *Analysis) Summary(crates ...string) string {
	var parts []string
	if a.RustcVersion != "" {
		parts = append(parts, "rustc "+a.RustcVersion)
	}
	for _, name := range crates {
		if v, ok := a.Crate(name); ok {
			parts = append(parts, strings.TrimSpace(name+" "+v))
		}
	}
	if a.Stripped {
		parts = append(parts, "stripped")
	}
	return strings.Join(parts, ", ")
}
