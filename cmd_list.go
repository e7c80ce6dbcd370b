package main

import (
	"flag"
	"fmt"
	"io"

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
	process.PrintList(stdout, procs)
	if err != nil {
		fmt.Fprintf(stderr, "rustscope: some processes could not be read: %v\n", err)
	}
	return exitOK
}
