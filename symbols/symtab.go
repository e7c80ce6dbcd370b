package symbols

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rustscope/rustscope/probe"
)

// symtab is what the analysis keeps from a symbol table. Names are only
// materialised for candidate functions (those containing a manifest key),
// so a 300k-symbol debug build costs no per-symbol allocation.
type symtab struct {
	functions   int // distinct STT_FUNC start addresses
	legacy, v0  int // Rust-mangled symbols by scheme
	rustSymbols int // legacy + v0 + well-known runtime symbols
	llvmSuffix  int // symbols with a ".llvm.<n>" suffix (ThinLTO promotion)
	candidates  []symbol
	crates      map[string]bool // interesting crates named by symbols
}

type symbol struct {
	name        string
	value, size uint64
}

func (s *symtab) manglings() []string {
	var m []string
	if s.legacy > 0 {
		m = append(m, ManglingLegacy)
	}
	if s.v0 > 0 {
		m = append(m, ManglingV0)
	}
	return m
}

// ErrBuildIDMismatch is wrapped by the warning (and by VerifyDebugFile)
// when a debug file is not from the same build as the binary.
var ErrBuildIDMismatch = errors.New("build-id mismatch")

// loadSymbols finds the symbol table to use: Options.SymbolsFile, the
// binary's own .symtab, or a split debug file by build-id / debuglink. It
// sets a.SymbolSource/SymbolFile and returns nil when there is none.
func loadSymbols(img *elfImage, a *Analysis, opts Options, path string) (*symtab, error) {
	if opts.SymbolsFile != "" {
		st, err := symbolsFromFile(opts.SymbolsFile, a.BuildID)
		if err == nil {
			a.SymbolSource, a.SymbolFile = SourceFile, opts.SymbolsFile
			return st, nil
		}
		a.Warnings = append(a.Warnings, fmt.Sprintf("symbols file %s refused: %v", opts.SymbolsFile, err))
	}
	if s := img.f.Section(".symtab"); s != nil {
		st, err := readSymtab(img, s)
		if err != nil {
			return nil, err
		}
		a.SymbolSource = SourceSymtab
		return st, nil
	}
	if opts.NoDebugLookup {
		return nil, nil
	}
	for _, cand := range debugCandidates(img, a.BuildID, path, opts.debugDirs()) {
		if _, err := os.Stat(cand.path); err != nil {
			continue
		}
		st, err := symbolsFromFile(cand.path, a.BuildID)
		if err != nil && cand.crc != nil && errors.Is(err, errNoBuildID) {
			// A debuglink file without build-id: trust the CRC instead.
			if crcErr := checkCRC(cand.path, *cand.crc); crcErr == nil {
				st, err = symbolsFromFileUnchecked(cand.path)
			}
		}
		if err != nil {
			a.Warnings = append(a.Warnings, fmt.Sprintf("debug file %s refused: %v", cand.path, err))
			continue
		}
		a.SymbolSource, a.SymbolFile = SourceDebuglink, cand.path
		return st, nil
	}
	return nil, nil
}

type debugCandidate struct {
	path string
	crc  *uint32 // .gnu_debuglink CRC, for debuglink candidates
}

// debugCandidates lists where a split debug file may be, in GDB's order:
// <dir>/.build-id/xx/yyyy.debug, then the .gnu_debuglink name next to the
// binary, in .debug/ beside it, and under <dir>/<binary's directory>/.
func debugCandidates(img *elfImage, buildID, path string, dirs []string) []debugCandidate {
	var out []debugCandidate
	if len(buildID) > 2 {
		for _, d := range dirs {
			out = append(out, debugCandidate{path: filepath.Join(d, ".build-id", buildID[:2], buildID[2:]+".debug")})
		}
	}
	root, path := exeRoot(path)
	if s := img.f.Section(".gnu_debuglink"); s != nil && s.Size < 4096 && path != "" {
		if b, err := img.sectionData(s); err == nil {
			if i := bytes.IndexByte(b, 0); i > 0 && len(b) >= 4 {
				name := filepath.Base(string(b[:i]))
				crc := binary.LittleEndian.Uint32(b[len(b)-4:])
				dir := filepath.Dir(path)
				paths := []string{root + filepath.Join(dir, name), root + filepath.Join(dir, ".debug", name)}
				for _, d := range dirs {
					paths = append(paths, filepath.Join(d, dir, name))
				}
				for _, p := range paths {
					if p == root+path {
						continue
					}
					out = append(out, debugCandidate{path: p, crc: &crc})
				}
			}
		}
	}
	return out
}

// exeRoot is, for a running process's executable (/proc/PID/exe), the
// root its paths are seen through (/proc/PID/root: its mount namespace,
// a container's) and the executable's path there, so that a debug file
// named by .gnu_debuglink is found beside it; for another path, "" and
// the path. "" when the process's link cannot be read.
func exeRoot(path string) (root, exe string) {
	dir, ok := strings.CutSuffix(path, "/exe")
	if !ok || !strings.HasPrefix(dir, "/proc/") || strings.Count(dir, "/") != 2 {
		return "", path
	}
	target, err := os.Readlink(path)
	if err != nil || !filepath.IsAbs(target) {
		return "", ""
	}
	return dir + "/root", strings.TrimSuffix(target, " (deleted)")
}

var errNoBuildID = errors.New("debug file has no build-id")

// symbolsFromFile reads the symbol table of a debug file after checking
// that it belongs to the build with buildID.
func symbolsFromFile(path, buildID string) (*symtab, error) {
	if err := VerifyDebugFile(path, buildID); err != nil {
		return nil, err
	}
	return symbolsFromFileUnchecked(path)
}

func symbolsFromFileUnchecked(path string) (*symtab, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	img, err := openELF(fh)
	if err != nil {
		return nil, err
	}
	s := img.f.Section(".symtab")
	if s == nil {
		return nil, errors.New("no .symtab in the debug file")
	}
	return readSymtab(img, s)
}

// VerifyDebugFile checks that the ELF file at path carries buildID (the
// binary's). A binary without build-id cannot be matched: refused too.
func VerifyDebugFile(path, buildID string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	img, err := openELF(fh)
	if err != nil {
		return err
	}
	got := img.buildID()
	switch {
	case buildID == "":
		return fmt.Errorf("%w: the binary has no build-id, so no debug file can be matched to it", ErrBuildIDMismatch)
	case got == "":
		return errNoBuildID
	case got != buildID:
		return fmt.Errorf("%w: file has %s, binary has %s", ErrBuildIDMismatch, got, buildID)
	}
	return nil
}

func checkCRC(path string, want uint32) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	h := crc32.NewIEEE()
	if _, err := io.Copy(h, fh); err != nil {
		return err
	}
	if h.Sum32() != want {
		return fmt.Errorf("%w: debuglink CRC %08x, file has %08x", ErrBuildIDMismatch, want, h.Sum32())
	}
	return nil
}

// Well-known symbols of Rust's runtime (kept in every std binary that has
// a symbol table).
var rustRuntimeSymbols = []string{"rust_begin_unwind", "rust_panic", "__rust_alloc", "rust_eh_personality", "__rust_start_panic"}

// interestingCrates are crates whose presence is read from symbol names
// when no panic path names them (prost has no panics that survive). Keys
// are symbol crate names, values package names.
var interestingCrates = map[string]string{
	"prost": "prost", "tonic": "tonic", "hyper": "hyper", "hyper_util": "hyper-util", "h2": "h2",
	"axum": "axum", "reqwest": "reqwest", "tokio": "tokio", "tower": "tower", "matchit": "matchit",
}

// readSymtab walks .symtab once: counts functions and manglings and keeps
// the functions whose raw name contains a manifest key.
func readSymtab(img *elfImage, s *elf.Section) (*symtab, error) {
	f := img.f
	if s.Link == 0 || int(s.Link) >= len(f.Sections) {
		return nil, fmt.Errorf("%w: .symtab has no string table", ErrMalformed)
	}
	data, err := img.sectionData(s)
	if err != nil {
		return nil, fmt.Errorf("%w: read .symtab: %v", ErrMalformed, err)
	}
	strs, err := img.sectionData(f.Sections[s.Link])
	if err != nil {
		return nil, fmt.Errorf("%w: read .strtab: %v", ErrMalformed, err)
	}
	const symSize = 24 // Elf64_Sym
	st := &symtab{crates: map[string]bool{}}
	keys := manifestKeys()
	addrs := make([]uint64, 0, len(data)/symSize/2)
	for off := symSize; off+symSize <= len(data); off += symSize { // entry 0 is null
		e := data[off : off+symSize]
		nameOff := binary.LittleEndian.Uint32(e[0:])
		info := e[4]
		shndx := binary.LittleEndian.Uint16(e[6:])
		value := binary.LittleEndian.Uint64(e[8:])
		size := binary.LittleEndian.Uint64(e[16:])
		if int(nameOff) >= len(strs) {
			continue
		}
		name := strs[nameOff:]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if len(name) < 3 {
			continue
		}
		typ := elf.SymType(info & 0xf)
		if typ != elf.STT_FUNC && typ != elf.STT_OBJECT && typ != elf.STT_NOTYPE && typ != elf.STT_GNU_IFUNC {
			continue
		}
		rust := false
		switch {
		case name[0] == '_' && name[1] == 'R' && (name[2] >= 'A' && name[2] <= 'Z' || name[2] >= '0' && name[2] <= '9'):
			st.v0++
			rust = true
		case name[0] == '_' && name[1] == 'Z' && name[2] == 'N' && isLegacyRustBytes(name):
			st.legacy++
			rust = true
		}
		if rust {
			st.rustSymbols++
			if i := bytes.LastIndexByte(name, '.'); i > 0 && bytes.Contains(name[max(0, i-6):], []byte(".llvm.")) {
				st.llvmSuffix++
			}
			if pkg, ok := interestingCrates[string(rootCrate(name))]; ok {
				st.crates[pkg] = true
			}
		}
		if typ != elf.STT_FUNC && typ != elf.STT_GNU_IFUNC || shndx == uint16(elf.SHN_UNDEF) || value == 0 {
			continue
		}
		addrs = append(addrs, value)
		if !rust {
			continue
		}
		if isCandidate(name, keys) {
			st.candidates = append(st.candidates, symbol{name: string(name), value: value, size: size})
		}
	}
	// Runtime symbols and interesting crates: one search each over the
	// string table is cheaper than per-symbol checks.
	for _, rs := range rustRuntimeSymbols {
		if i := bytes.Index(strs, []byte("\x00"+rs+"\x00")); i >= 0 {
			st.rustSymbols++
			break
		}
	}
	slices.Sort(addrs)
	for i, v := range addrs {
		if i == 0 || v != addrs[i-1] {
			st.functions++
		}
	}
	return st, nil
}

// isLegacyRustBytes is isLegacyRust without converting the name.
func isLegacyRustBytes(name []byte) bool {
	if i := bytes.Index(name, []byte("E.")); i > 0 {
		name = name[:i+1]
	}
	n := len(name)
	if n < 23 || name[n-1] != 'E' || name[n-20] != '1' || name[n-19] != '7' || name[n-18] != 'h' {
		return false
	}
	for _, c := range name[n-17 : n-1] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// rootCrate returns the crate a Rust symbol belongs to: the first path
// identifier of a legacy name (the Self type's crate for "<A as B>::f"),
// the first crate root ("C[s<hash>_]<len><name>") of a v0 name. Crates
// that only appear inside generic arguments do not count.
func rootCrate(name []byte) []byte {
	switch {
	case bytes.HasPrefix(name, []byte("_ZN")):
		id := lengthPrefixed(name[3:], 0, false)
		if bytes.HasPrefix(id, []byte("_$LT$")) {
			id = id[5:]
			for i := 0; i < len(id); i++ {
				if !isIdentByte(id[i]) {
					return id[:i]
				}
			}
		}
		return id
	case bytes.HasPrefix(name, []byte("_R")):
		for i := 2; i+1 < len(name) && i < 64; i++ {
			if name[i] != 'C' {
				continue
			}
			j := i + 1
			if name[j] == 's' { // disambiguator s<base62>_
				k := bytes.IndexByte(name[j:], '_')
				if k < 0 {
					return nil
				}
				j += k + 1
			}
			if j < len(name) && name[j] >= '1' && name[j] <= '9' {
				return lengthPrefixed(name, j, true)
			}
		}
	}
	return nil
}

// lengthPrefixed reads "<decimal><bytes>" at b[i:]; v0 puts a '_' between
// the length and an identifier starting with a digit or '_'.
func lengthPrefixed(b []byte, i int, v0 bool) []byte {
	n := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' && n < 1<<16 {
		n = n*10 + int(b[i]-'0')
		i++
	}
	if v0 && i < len(b) && b[i] == '_' && n > 0 {
		i++
	}
	if n == 0 || i+n > len(b) {
		return nil
	}
	return b[i : i+n]
}

// isCandidate reports whether a Rust symbol may be a manifest function:
// it contains some entry's length-prefixed final identifier and all of
// that entry's path identifiers. Legacy names are a plain sequence of
// <len><ident> tokens, so their tokens are looked up directly (digits are
// everywhere in mangled names, which makes substring search slow).
func isCandidate(name []byte, keys []*compiledKey) bool {
	if bytes.HasPrefix(name, []byte("_ZN")) {
		for i := 3; i < len(name) && name[i] >= '0' && name[i] <= '9'; {
			n, j := 0, i
			for j < len(name) && name[j] >= '0' && name[j] <= '9' && n < 1<<16 {
				n = n*10 + int(name[j]-'0')
				j++
			}
			if n == 0 || j+n > len(name) {
				return false
			}
			if k, ok := compiledFinals[string(name[i:j+n])]; ok && k.matchIdents(name) {
				return true
			}
			i = j + n
		}
		return false
	}
	for _, k := range keys {
		if bytes.Contains(name, k.finalB) && k.matchIdents(name) {
			return true
		}
	}
	return false
}

// compiledFinals indexes compiledManifestKeys by final key ("5parse").
var compiledFinals = func() map[string]*compiledKey {
	m := map[string]*compiledKey{}
	for _, k := range compiledManifestKeys {
		m[string(k.finalB)] = k
	}
	return m
}()

// compiledKeys are the manifest keys grouped by final identifier.
type compiledKey struct {
	finalB []byte
	idents [][][]byte // per want with this final: all idents must appear
}

func (k *compiledKey) matchIdents(name []byte) bool {
	for _, set := range k.idents {
		ok := true
		for _, id := range set {
			if !bytes.Contains(name, id) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// compiledManifestKeys is built once from Manifest.
var compiledManifestKeys = compileKeys(Manifest)

func manifestKeys() []*compiledKey { return compiledManifestKeys }

func compileKeys(manifest []probe.Want) []*compiledKey {
	byFinal := map[string]*compiledKey{}
	var order []string
	for _, w := range manifest {
		for _, m := range w.Match {
			k := keysFor(m)
			ck, ok := byFinal[k.final]
			if !ok {
				ck = &compiledKey{finalB: []byte(k.final)}
				byFinal[k.final] = ck
				order = append(order, k.final)
			}
			var set [][]byte
			for _, id := range k.idents {
				set = append(set, []byte(id))
			}
			ck.idents = append(ck.idents, set)
		}
	}
	out := make([]*compiledKey, 0, len(order))
	for _, f := range order {
		out = append(out, byFinal[f])
	}
	return out
}

// addSymbolCrates adds interesting crates that symbols name but no panic
// path does (version unknown).
func addSymbolCrates(a *Analysis, st *symtab) {
	for pkg := range st.crates {
		if _, ok := a.Crate(pkg); !ok {
			a.Crates = append(a.Crates, Crate{Name: pkg, Source: "symbols"})
		}
	}
}

// detectLTO guesses whether the binary was built with fat LTO and one
// codegen unit: the default release profile (ThinLTO across 16 codegen
// units) promotes internal functions with ".llvm.<hash>" suffixes, which
// such builds do not have. Debug builds have DWARF and no LTO.
func detectLTO(a *Analysis, st *symtab) bool {
	return !a.DebugInfo && st.rustSymbols > 300 && st.llvmSuffix == 0
}
