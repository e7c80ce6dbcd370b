package process

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/rustscope/rustscope/lib"
	"github.com/rustscope/rustscope/symbols"
)

// PrintList writes procs as `rustscope list` shows them: a table, then
// why each process that cannot be fully traced cannot.
func PrintList(w io.Writer, procs []Process) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tUSER\tRUSTC\tSTRIPPED\tCONTAINER\tTRACE\tCRATES\tTLS\tCOMMAND")
	for _, p := range procs {
		a := p.Analysis
		rustc, stripped, crates, tls := "?", "?", "", "?"
		if a != nil {
			rustc = orDash(a.RustcVersion)
			stripped = yesNo(a.Stripped)
			crates = crateList(a)
			tls = TLSColumn(a)
		}
		cmd := strings.Join(p.Cmdline, " ")
		if cmd == "" {
			cmd = p.Exe
		}
		if r := []rune(cmd); len(r) > 80 {
			cmd = string(r[:79]) + "…"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.PID, p.User, rustc, stripped, yesNo(p.Container), p.Traceable, orDash(crates), tls, cmd)
	}
	tw.Flush()
	for _, p := range procs {
		if p.Reason != "" {
			fmt.Fprintf(w, "  %d: %s: %s\n", p.PID, p.Traceable, p.Reason)
		}
		if p.Analysis != nil {
			for _, t := range TLSSight(p.Analysis) {
				if strings.Contains(t, tlsBlind) {
					fmt.Fprintf(w, "  %d: TLS %s\n", p.PID, t)
				}
			}
		}
	}
}

// TLSColumn is what `list` and the picker say of a's TLS: each TLS
// library, and "(blind)" where its plaintext is not captured (TLSSight
// says why); "-": none.
func TLSColumn(a *symbols.Analysis) string {
	var out []string
	for i, name := range a.TLSLibraries() {
		if strings.Contains(TLSSight(a)[i], tlsBlind) {
			name += " (blind)"
		}
		out = append(out, name)
	}
	return orDash(strings.Join(out, ", "))
}

// TLSSight says, for each TLS library a links ("rustls 0.23.26"), what
// rustscope sees of its connections: their plaintext, where the library's
// home (package lib) declares its points and the binary has them all, or
// nothing, and why.
func TLSSight(a *symbols.Analysis) []string {
	var out []string
	for _, name := range a.TLSLibraries() {
		crate, _, _ := strings.Cut(name, " ")
		out = append(out, name+": "+tlsSight(a, crate))
	}
	return out
}

// tlsBlind begins what is said of a TLS library whose plaintext is not
// captured.
const tlsBlind = "its connections are encrypted on the wire and give no spans"

func tlsSight(a *symbols.Analysis, crate string) string {
	var wants []string // its required points
	obj := ""          // the shared library they are in
	for _, l := range lib.All {
		if l.Crate == crate {
			for _, w := range l.Wants {
				if w.Required {
					wants = append(wants, w.ID)
					obj = w.Object
				}
			}
		}
	}
	if wants == nil {
		return tlsBlind + " (rustscope does not capture its plaintext yet)"
	}
	if obj != "" {
		// Found in the library the process maps, when attached, or in the
		// executable that links it statically with its symbols.
		if name, ok := a.Loads(obj); ok {
			return fmt.Sprintf("plaintext captured where it crosses %s (%s)", name, strings.Join(wants, ", "))
		}
		if len(a.Defines) == 0 {
			return fmt.Sprintf("%s: %s is linked statically without its symbols (its functions are not named)", tlsBlind, obj)
		}
		return fmt.Sprintf("plaintext captured where it crosses %s, linked into the executable (%s)", obj, strings.Join(a.Defines, ", "))
	}
	for _, id := range wants {
		p, ok := a.Probe(id)
		if !ok || !p.Found {
			why := "not found"
			if ok && p.Reason != "" {
				why = p.Reason
			}
			return fmt.Sprintf("%s: %s %s", tlsBlind, id, why)
		}
	}
	return "plaintext captured where it crosses the library (" + strings.Join(wants, ", ") + ")"
}

// PrintAnalysis writes a as `rustscope inspect` shows the binary at path.
func PrintAnalysis(w io.Writer, path string, a *symbols.Analysis) {
	level, reason := a.Traceability()
	fmt.Fprintf(w, "binary        %s\n", path)
	fmt.Fprintf(w, "rust          %s", yesNo(a.Rust))
	if len(a.Evidence) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(a.Evidence, "; "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "rustc         %s", orDash(a.RustcVersion))
	if a.RustcCommit != "" {
		fmt.Fprintf(w, " (commit %s)", a.RustcCommit)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "crates        %s\n", orDash(crateListAll(a)))
	for _, t := range TLSSight(a) {
		fmt.Fprintf(w, "tls           %s\n", t)
	}
	fmt.Fprintf(w, "machine       %s, pie %s, build-id %s\n", a.Machine, yesNo(a.PIE), orDash(a.BuildID))
	fmt.Fprintf(w, "symbols       %s", a.SymbolSource)
	if a.SymbolFile != "" {
		fmt.Fprintf(w, " (%s)", a.SymbolFile)
	}
	fmt.Fprintf(w, ", stripped %s, mangling %s, %d functions, dwarf %s, lto likely %s\n",
		yesNo(a.Stripped), orDash(strings.Join(a.Manglings, "+")), a.Functions, yesNo(a.DebugInfo), yesNo(a.LTO))
	fmt.Fprintf(w, "traceable     %s: %s\n", level, reason)
	for _, warn := range a.Warnings {
		fmt.Fprintf(w, "warning       %s\n", warn)
	}
	fmt.Fprintln(w, "\nprobe points")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tFOUND\tVADDR\tFILE OFFSET\tFIRST INSTRUCTION\tUPROBE COST\tFUNCTION")
	for _, p := range a.Probes {
		if !p.Found {
			fmt.Fprintf(tw, "  %s\tno\t-\t-\t-\t-\t%s: %s\n", p.ID, p.Function, p.Reason)
			continue
		}
		for _, c := range p.Copies {
			cost := "single-step (~10 us)"
			switch {
			case c.Emulated:
				cost = "emulated (~1 us)"
			case c.Site != 0:
				cost = fmt.Sprintf("single-step (~10 us); emulated at %#x %s (~1 us) for probes reading %d argument %s",
					c.Address+c.Site-c.FileOffset, c.SiteInsn, c.SiteArgs, plural(c.SiteArgs, "register", "registers"))
			}
			fmt.Fprintf(tw, "  %s\tyes\t%#x\t%#x\t%s\t%s\t%s\n", p.ID, c.Address, c.FileOffset, orDash(c.FirstInsn), cost, c.Demangled)
		}
	}
	tw.Flush()
}

func crateListAll(a *symbols.Analysis) string {
	cs := make([]string, len(a.Crates))
	for i, c := range a.Crates {
		cs[i] = c.Name + " " + c.Version
	}
	return strings.Join(cs, ", ")
}

func crateList(a *symbols.Analysis) string {
	var cs []string
	for _, name := range []string{"axum", "hyper", "hyper-util", "h2", "tonic", "reqwest", "tokio", "tower", "rustls"} {
		for _, v := range a.Versions(name) {
			cs = append(cs, name+" "+v)
		}
	}
	return strings.Join(cs, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
