package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/rustscope/rustscope/preflight"
	"github.com/rustscope/rustscope/symbols"
)

// cmdList prints every running Rust process: `rustscope list [--json]`.
func cmdList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rustscope list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: rustscope list [--json]\n\nLists the running Rust processes and how each can be traced.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageCode(err)
	}
	if caps, err := preflight.Effective(); err == nil && !caps.Has(preflight.SysPtrace) {
		fmt.Fprintln(stderr, "rustscope: without CAP_SYS_PTRACE (or root) only your own processes can be read")
	}
	procs, err := symbols.Processes(symbols.NewCache(256, symbols.Options{}))
	if err != nil && len(procs) == 0 {
		fmt.Fprintf(stderr, "rustscope: list processes: %v\n", err)
		return exitRuntime
	}
	if *asJSON {
		if procs == nil {
			procs = []symbols.Process{}
		}
		return writeJSON(stdout, stderr, procs)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tUSER\tRUSTC\tSTRIPPED\tCONTAINER\tTRACE\tCRATES\tCOMMAND")
	for _, p := range procs {
		a := p.Analysis
		rustc, stripped, crates := "?", "?", ""
		if a != nil {
			rustc = orDash(a.RustcVersion)
			stripped = yesNo(a.Stripped)
			crates = crateList(a)
		}
		cmd := strings.Join(p.Cmdline, " ")
		if cmd == "" {
			cmd = p.Exe
		}
		if r := []rune(cmd); len(r) > 80 {
			cmd = string(r[:79]) + "…"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.PID, p.User, rustc, stripped, yesNo(p.Container), p.Traceable, orDash(crates), cmd)
	}
	tw.Flush()
	for _, p := range procs {
		if p.Reason != "" {
			fmt.Fprintf(stdout, "  %d: %s: %s\n", p.PID, p.Traceable, p.Reason)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "rustscope: some processes could not be read: %v\n", err)
	}
	return exitOK
}

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

func crateList(a *symbols.Analysis) string {
	var cs []string
	for _, name := range []string{"axum", "hyper", "hyper-util", "h2", "tonic", "reqwest", "tokio", "tower", "rustls"} {
		for _, v := range a.Versions(name) {
			cs = append(cs, name+" "+v)
		}
	}
	return strings.Join(cs, ", ")
}

func crateListAll(a *symbols.Analysis) string {
	cs := make([]string, len(a.Crates))
	for i, c := range a.Crates {
		cs[i] = c.Name + " " + c.Version
	}
	return strings.Join(cs, ", ")
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "rustscope: write JSON: %v\n", err)
		return exitRuntime
	}
	return exitOK
}

func usageCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
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
