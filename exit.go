// Exit codes and what the commands share to reach them.

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/rustscope/rustscope/process"
)

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1 // attach or capture failed
	exitUsage   = 2 // invalid flags or environment
	exitTarget  = 3 // target not found, or not a Rust program
	exitEnv     = 4 // missing privileges or kernel features
)

// exitCode is the documented exit code of err (README, "Exit codes"), or
// def.
func exitCode(err error, def int) int {
	switch {
	case errors.Is(err, process.ErrPermission):
		return exitEnv
	case errors.As(err, new(*process.Error)):
		return exitTarget
	}
	return def
}

// writeJSON prints v as indented JSON, the commands' --json output.
func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "rustscope: write JSON: %v\n", err)
		return exitRuntime
	}
	return exitOK
}

// usageCode is the exit code of a command's flag error: --help is no error.
func usageCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}
