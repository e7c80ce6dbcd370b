package symbols

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/rustscope/rustscope/probe"
)

// SharedPoints finds wants, a shared library's (probe.Want.Object), among
// the functions the file at path defines by name: the library's exported
// ones (its dynamic symbols, which stripping keeps), or, in an executable
// that links the library statically, those of its symbol table.
func SharedPoints(path string, wants []probe.Want) ([]ProbePoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open shared library: %w", err)
	}
	defer f.Close()
	img, err := openELF(f)
	if err != nil {
		return nil, fmt.Errorf("read shared library %s: %w", path, err)
	}
	syms, err := namedFuncs(img)
	if err != nil {
		return nil, fmt.Errorf("read dynamic symbols of %s: %w", path, err)
	}
	points := make([]ProbePoint, 0, len(wants))
	for _, w := range wants {
		p := ProbePoint{ID: w.ID, Crate: w.Crate, Group: w.Group, Function: w.Match[0], Required: w.Required}
		for _, s := range syms {
			if slices.Contains(w.Match, s.name) {
				p.Copies = append(p.Copies, makeCopy(img, nil, s, s.name))
				break // one definition per name
			}
		}
		p.Found = len(p.Copies) > 0 && p.Copies[0].FileOffset != 0
		if !p.Found {
			p.Copies = nil
			p.Reason = "not defined by " + path
		}
		points = append(points, p)
	}
	return points, nil
}

// namedFuncs are the functions img defines and exports, then those of
// its symbol table.
func namedFuncs(img *elfImage) (syms []symbol, err error) {
	defer func() { // debug/elf panics on some malformed inputs
		if p := recover(); p != nil {
			syms, err = nil, fmt.Errorf("%w: %v", ErrMalformed, p)
		}
	}()
	ds, err := img.f.DynamicSymbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, err
	}
	ss, err := img.f.Symbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, err
	}
	for _, s := range append(ds, ss...) {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF && s.Value != 0 {
			syms = append(syms, symbol{name: s.Name, value: s.Value, size: s.Size})
		}
	}
	return syms, nil
}

// definesNamed lists which of names img defines as functions (a library
// linked statically: probe.Want.Object).
func definesNamed(img *elfImage, names []string) []string {
	syms, err := namedFuncs(img)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range syms {
		if slices.Contains(names, s.name) && !slices.Contains(out, s.name) {
			out = append(out, s.name)
		}
	}
	slices.Sort(out)
	return out
}
