// Package symbols analyses Rust executables: whether they are Rust, which
// compiler built them, which crates (and versions) they contain.
//
// Everything here works on fully stripped binaries too: the compiler
// version comes from .comment or embedded /rustc/<hash>/ and Debian
// /usr/src/rustc-<version>/ paths, crate versions from the panic-location
// paths (<crate>-<version>/src/...) that every build keeps in .rodata.
package symbols

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Crate is a crate found in a binary.
type Crate struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Analysis is what rustscope knows about an executable.
type Analysis struct {
	Rust         bool    `json:"rust"`
	RustcVersion string  `json:"rustc_version,omitempty"` // "1.95.0", empty if unknown
	RustcCommit  string  `json:"rustc_commit,omitempty"`  // from /rustc/<hash>/ paths
	Crates       []Crate `json:"crates,omitempty"`        // sorted by name, then version
	Stripped     bool    `json:"stripped"`                // no .symtab
}

// Crate returns the version of the named crate, if present.
func (a *Analysis) Crate(name string) (string, bool) {
	for _, c := range a.Crates {
		if c.Name == name {
			return c.Version, true
		}
	}
	return "", false
}

// ErrNotELF is returned for files that are not ELF executables.
var ErrNotELF = errors.New("not an ELF file")

// AnalyzeFile analyses the executable at path.
func AnalyzeFile(path string) (*Analysis, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open executable: %w", err)
	}
	defer f.Close()
	return Analyze(f)
}

// Analyze analyses an ELF image.
func Analyze(r io.ReaderAt) (a *Analysis, err error) {
	// debug/elf panics on some malformed inputs; a bad file must be an
	// error, never a crash.
	defer func() {
		if p := recover(); p != nil {
			a, err = nil, fmt.Errorf("parse ELF: malformed file: %v", p)
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("%w: %v", ErrNotELF, err)
		}
		return nil, fmt.Errorf("parse ELF: %w", err)
	}
	a = &Analysis{Stripped: f.Section(".symtab") == nil}
	if s := f.Section(".comment"); s != nil && s.Type != elf.SHT_NOBITS {
		if b, err := s.Data(); err == nil {
			a.RustcVersion = rustcFromComment(b)
		}
	}
	for _, name := range []string{".rodata", ".data.rel.ro"} {
		s := f.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS {
			continue
		}
		b, err := s.Data()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		scanStrings(b, a)
	}
	sort.Slice(a.Crates, func(i, j int) bool {
		if a.Crates[i].Name != a.Crates[j].Name {
			return a.Crates[i].Name < a.Crates[j].Name
		}
		return a.Crates[i].Version < a.Crates[j].Version
	})
	a.Rust = a.RustcVersion != "" || a.RustcCommit != "" || len(a.Crates) > 0
	return a, nil
}

var (
	commentRe   = regexp.MustCompile(`rustc version (\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)`)
	rustcHashRe = regexp.MustCompile(`^/rustc/([0-9a-f]{40})/`)
	debianSrcRe = regexp.MustCompile(`^/usr/src/rustc-(\d+\.\d+\.\d+)/`)
	crateDirRe  = regexp.MustCompile(`^([A-Za-z0-9_][A-Za-z0-9_-]*?)-(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?)$`)
)

func rustcFromComment(b []byte) string {
	if m := commentRe.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

// scanStrings finds compiler and crate paths in b. Panic locations are
// stored without separators, so each "/src/" is walked back to the
// directory name before it.
func scanStrings(b []byte, a *Analysis) {
	seen := map[Crate]bool{}
	for _, c := range a.Crates {
		seen[c] = true
	}
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("/src/"))
		if j < 0 {
			break
		}
		at := i + j
		i = at + 5
		start := bytes.LastIndexByte(b[:at], '/')
		if start < 0 || at-start > 96 {
			continue
		}
		dir := string(b[start+1 : at])
		if m := crateDirRe.FindStringSubmatch(dir); m != nil {
			c := Crate{Name: m[1], Version: m[2]}
			if !seen[c] {
				seen[c] = true
				a.Crates = append(a.Crates, c)
			}
		}
	}
	for _, pat := range []struct {
		prefix string
		re     *regexp.Regexp
		set    func(string)
	}{
		{"/rustc/", rustcHashRe, func(s string) { a.RustcCommit = s }},
		{"/usr/src/rustc-", debianSrcRe, func(s string) {
			if a.RustcVersion == "" {
				a.RustcVersion = s
			}
		}},
	} {
		if k := bytes.Index(b, []byte(pat.prefix)); k >= 0 {
			end := min(len(b), k+64)
			if m := pat.re.FindSubmatch(b[k:end]); m != nil {
				pat.set(string(m[1]))
			}
		}
	}
}

// Summary is a short human description: "rustc 1.95.0, hyper 1.5.2, axum 0.7.9".
func (a *Analysis) Summary(crates ...string) string {
	var parts []string
	if a.RustcVersion != "" {
		parts = append(parts, "rustc "+a.RustcVersion)
	}
	for _, name := range crates {
		if v, ok := a.Crate(name); ok {
			parts = append(parts, name+" "+v)
		}
	}
	if a.Stripped {
		parts = append(parts, "stripped")
	}
	return strings.Join(parts, ", ")
}
