package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/rustscope/rustscope/process"
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
		if path, err = process.ExePath(pid); err != nil {
			fmt.Fprintf(stderr, "rustscope: inspect %v\n", err)
			return exitCode(err, exitTarget)
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
	process.PrintAnalysis(stdout, fs.Arg(0), a)
	return exitOK
}
