package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/rustscope/rustscope/preflight"
	"github.com/rustscope/rustscope/process"
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
	procs, err := process.Processes(symbols.NewCache(256, symbols.Options{}))
	if err != nil && len(procs) == 0 {
		fmt.Fprintf(stderr, "rustscope: list processes: %v\n", err)
		return exitRuntime
	}
	if *asJSON {
		if procs == nil {
			procs = []process.Process{}
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

func crateList(a *symbols.Analysis) string {
	var cs []string
	for _, name := range []string{"axum", "hyper", "hyper-util", "h2", "tonic", "reqwest", "tokio", "tower", "rustls"} {
		for _, v := range a.Versions(name) {
			cs = append(cs, name+" "+v)
		}
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
