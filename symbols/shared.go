package symbols

import (
	"debug/elf"
	"fmt"
	"os"
	"slices"

	"github.com/rustscope/rustscope/probe"
)

// SharedPoints finds wants, a shared library's (probe.Want.Object), among
// the functions the library at path exports: their names are its dynamic
// symbols, which stripping keeps.
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
	syms, err := dynamicFuncs(img)
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
			p.Reason = "not exported by " + path
		}
		points = append(points, p)
	}
	return points, nil
}

// dynamicFuncs are the functions img defines and exports.
func dynamicFuncs(img *elfImage) (syms []symbol, err error) {
	defer func() { // debug/elf panics on some malformed inputs
		if p := recover(); p != nil {
			syms, err = nil, fmt.Errorf("%w: %v", ErrMalformed, p)
		}
	}()
	ds, err := img.f.DynamicSymbols()
	if err != nil {
		return nil, err
	}
	for _, s := range ds {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF && s.Value != 0 {
			syms = append(syms, symbol{name: s.Name, value: s.Value, size: s.Size})
		}
	}
	return syms, nil
}
