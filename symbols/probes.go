package symbols

import (
	"debug/elf"
	"fmt"
	"sort"
	"strings"

	"github.com/rustscope/rustscope/lib"
	"github.com/rustscope/rustscope/probe"
)

// ProbePoint is one manifest entry resolved in a binary.
type ProbePoint struct {
	ID       string      `json:"id"`
	Crate    string      `json:"crate"`
	Group    string      `json:"group"`
	Function string      `json:"function"` // the normalized path wanted
	Required bool        `json:"required"`
	Found    bool        `json:"found"`
	Copies   []ProbeCopy `json:"copies,omitempty"` // every monomorphized copy
	Reason   string      `json:"reason,omitempty"` // why not found
}

// ProbeCopy is one function (one monomorphization) to attach to.
type ProbeCopy struct {
	Symbol    string `json:"symbol"`    // raw (mangled) name
	Demangled string `json:"demangled"` // readable, with generic arguments, no hash
	Address   uint64 `json:"address"`   // st_value: virtual address (link-time)
	// FileOffset is what uprobes attach at (cilium/ebpf UprobeOptions.Address
	// for stripped binaries): st_value - p_vaddr + p_offset of the PT_LOAD
	// segment containing the address. Rust PIE binaries have vaddr != offset.
	FileOffset uint64 `json:"file_offset"`
	Size       uint64 `json:"size"`
	FirstInsn  string `json:"first_insn,omitempty"`  // AT&T syntax, like objdump
	FirstBytes string `json:"first_bytes,omitempty"` // hex of the first instruction
	// Emulated: the kernel emulates the first instruction (push %reg, nop,
	// relative branch), so a uprobe here costs ~1 us instead of ~10 us.
	Emulated bool   `json:"emulated"`
	Entry    string `json:"entry"` // push, nop, branch, single-step, refused, unknown
	// Site, when the entry is single-stepped, is the file offset of a
	// later instruction the kernel emulates that every call passes once
	// (site.go), where the first SiteArgs argument registers still hold
	// what the caller passed: a probe that reads no more than those can go
	// there at a tenth of the cost. 0: none.
	Site     uint64 `json:"site,omitempty"`
	SiteInsn string `json:"site_insn,omitempty"`
	SiteArgs int    `json:"site_args,omitempty"`
}

// Reasons for a point not found.
const (
	ReasonStripped = "no symbols (stripped): use --symbols FILE or a debug file by build-id"
	ReasonLTO      = "inlined or removed by LTO"
)

func findProbes(img *elfImage, a *Analysis, st *symtab) []ProbePoint {
	type match struct {
		sym       symbol
		demangled string
	}
	// Demangle each candidate once.
	var cands []match
	if st != nil {
		cands = make([]match, 0, len(st.candidates))
		for _, s := range st.candidates {
			d := Demangle(s.name)
			if d == s.name {
				continue
			}
			cands = append(cands, match{sym: s, demangled: d})
		}
	}
	norm := make([]string, len(cands))
	for i, c := range cands {
		norm[i] = NormalizeName(c.demangled)
	}

	points := make([]ProbePoint, 0, len(Manifest))
	for _, w := range Manifest {
		p := ProbePoint{ID: w.ID, Crate: w.Crate, Group: w.Group, Function: w.Match[0], Required: w.Required}
		seen := map[uint64]bool{}
		for i, c := range cands {
			if !matchesAny(norm[i], w.Match) || seen[c.sym.value] {
				continue
			}
			seen[c.sym.value] = true
			p.Copies = append(p.Copies, makeCopy(img, a, c.sym, c.demangled))
		}
		sort.Slice(p.Copies, func(i, j int) bool { return p.Copies[i].Address < p.Copies[j].Address })
		p.Found = len(p.Copies) > 0
		points = append(points, p)
	}

	// Reasons, once every point is known (group usage matters).
	used := usedGroups(points)
	for i := range points {
		p := &points[i]
		if p.Found {
			continue
		}
		w := Manifest[i]
		p.Reason = notFoundReason(a, w, used[w.Group])
	}
	return points
}

func matchesAny(name string, patterns []string) bool {
	for _, m := range patterns {
		if name == m {
			return true
		}
	}
	return false
}

func usedGroups(points []ProbePoint) map[string]bool {
	used := map[string]bool{}
	for _, p := range points {
		if p.Found {
			used[p.Group] = true
		}
	}
	for g, by := range impliedGroups {
		for _, o := range by {
			if used[o] {
				used[g] = true
			}
		}
	}
	return used
}

func notFoundReason(a *Analysis, w probe.Want, groupUsed bool) string {
	versions := a.Versions(w.Crate)
	if len(versions) == 0 {
		return fmt.Sprintf("crate %s not present", w.Crate)
	}
	if w.Versions != "" {
		ok := false
		for _, v := range versions {
			if versionMatches(v, w.Versions) {
				ok = true
			}
		}
		if !ok {
			return fmt.Sprintf("%s %s present; this point is for %s %s", w.Crate, strings.Join(versions, ", "), w.Crate, w.Versions)
		}
	}
	switch a.SymbolSource {
	case SourceEHFrame, SourceNone, "":
		if a.BuildID != "" {
			return ReasonStripped + " " + a.BuildID
		}
		return ReasonStripped
	}
	if a.LTO {
		if groupUsed {
			return ReasonLTO
		}
		return fmt.Sprintf("not in this binary: %s unused by the program, or %s", w.Group, ReasonLTO)
	}
	if groupUsed {
		return fmt.Sprintf("inlined or removed by the optimizer (the program uses %s)", w.Group)
	}
	return fmt.Sprintf("not in this binary: %s unused by the program, or inlined", w.Group)
}

// maxInsn is the longest x86 instruction.
const maxInsn = 15

func makeCopy(img *elfImage, a *Analysis, s symbol, demangled string) ProbeCopy {
	c := ProbeCopy{Symbol: s.name, Demangled: demangled, Address: s.value, Size: s.size, Entry: EntryUnknown}
	off, ok := img.fileOffset(s.value)
	if !ok {
		c.Entry = EntryUnknown
		return c
	}
	c.FileOffset = off
	if img.f.Machine != elf.EM_X86_64 {
		return c
	}
	n := maxInsn
	if s.size > 0 && s.size < uint64(n) {
		n = int(s.size)
	}
	code := make([]byte, n)
	got, _ := img.r.ReadAt(code, int64(off))
	if got == 0 {
		return c
	}
	d := classifyEntry(code[:got], s.value)
	c.FirstInsn = d.text
	if d.length > 0 && d.length <= got {
		c.FirstBytes = fmt.Sprintf("% x", code[:d.length])
	}
	c.Emulated, c.Entry = d.emulated, d.entry
	if d.entry == EntrySingleStep && s.size > 0 && s.size <= maxSiteCode {
		code := make([]byte, s.size)
		if n, _ := img.r.ReadAt(code, int64(off)); uint64(n) == s.size {
			if at, sd, args, ok := emulatedSite(code, s.value); ok {
				c.Site, c.SiteInsn, c.SiteArgs = off+uint64(at), sd.text, args
			}
		}
	}
	return c
}

// Traceability says what rustscope can do with this binary: "full" when
// every required probe point of each feature group in use is found,
// "wire" (wire capture through syscall tracepoints only, which works on
// any build) with the reason probes are missing, "none" when the program
// has no networking at all. A group is in use when any of its points is
// found; groups none of whose points exist are taken as unused (the code
// is not in the binary), so a client-only program is "full" without the
// server points.
func (a *Analysis) Traceability() (level, reason string) {
	if !a.Rust {
		return TraceNone, "not a Rust program"
	}
	var http []string
	for _, c := range lib.Crates() {
		if _, ok := a.Crate(c); ok {
			http = append(http, c)
		}
	}
	if len(http) == 0 {
		for _, c := range []string{"tokio", "mio", "async-std", "smol", "socket2", "actix-rt", "actix-http", "ureq", "tiny_http", "tiny-http"} {
			if _, ok := a.Crate(c); ok {
				return TraceWire, fmt.Sprintf("no supported HTTP/gRPC crate (hyper, h2, tonic, reqwest, axum); %s found: wire capture only", c)
			}
		}
		return TraceNone, "no networking crates found (tokio, mio, hyper, h2, reqwest, ...)"
	}
	switch a.SymbolSource {
	case SourceEHFrame, SourceNone, "":
		msg := ReasonStripped
		if a.BuildID != "" {
			msg += " " + a.BuildID + " (/usr/lib/debug/.build-id/" + a.BuildID[:2] + "/" + a.BuildID[2:] + ".debug)"
		}
		return TraceWire, msg + "; wire capture only"
	}
	if a.Machine != "x86-64" {
		return TraceWire, "library probes are only supported on x86-64; wire capture only"
	}
	used := usedGroups(a.Probes)
	if len(used) == 0 {
		return TraceWire, fmt.Sprintf("no probe point found for %s (inlined or removed); wire capture only", strings.Join(http, ", "))
	}
	var missing []string
	for _, p := range a.Probes {
		if p.Required && !p.Found && used[p.Group] {
			missing = append(missing, fmt.Sprintf("%s (%s)", p.ID, p.Reason))
		}
	}
	if len(missing) > 0 {
		return TraceWire, "required probe points missing: " + strings.Join(missing, "; ") + "; wire capture for the rest"
	}
	var groups []string
	for g := range used {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	return TraceFull, "probes: " + strings.Join(groups, ", ")
}
