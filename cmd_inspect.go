package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/rustscope/rustscope/symbols"
)

// cmdInspect prints the full analysis of one binary:
// `rustscope inspect PID|PATH [--symbols FILE] [--json]`.
func cmdInspect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rustscope inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	symFile := fs.String("symbols", "", "split debug file (or unstripped copy) of the same build")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rustscope inspect [--json] [--symbols FILE] PID|PATH\n\nShows what rustscope finds in a Rust binary and where it would attach.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageCode(err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	path := fs.Arg(0)
	if pid, err := strconv.Atoi(path); err == nil {
		// /proc/PID/exe opens the running file, even deleted or in a container.
		path = fmt.Sprintf("/proc/%d/exe", pid)
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, os.ErrPermission) {
				fmt.Fprintf(stderr, "rustscope: inspect pid %d: permission denied: another user's process needs CAP_SYS_PTRACE (or root)\n", pid)
				return exitEnv
			}
			fmt.Fprintf(stderr, "rustscope: inspect pid %d: no such process\n", pid)
			return exitTarget
		}
	}
	a, err := symbols.AnalyzeFileWith(path, symbols.Options{SymbolsFile: *symFile})
	if err != nil {
		fmt.Fprintf(stderr, "rustscope: inspect %s: %v\n", fs.Arg(0), err)
		return exitTarget
	}
	if *asJSON {
		return writeJSON(stdout, stderr, struct {
			Path string `json:"path"`
			*symbols.Analysis
		}{fs.Arg(0), a})
	}
	printAnalysis(stdout, fs.Arg(0), a)
	return exitOK
}

func printAnalysis(w io.Writer, path string, a *symbols.Analysis) {
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
			if c.Emulated {
				cost = "emulated (~1 us)"
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
