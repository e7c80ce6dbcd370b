// Package bpf holds rustscope's eBPF programs and their bpf2go bindings.
//
// The generated *_bpfel.go and *_bpfel.o files are committed so that a plain
// `go build` needs no clang; `make generate` rebuilds them.
package bpf

//go:generate go tool bpf2go -tags linux -target amd64 -type wire_event -type probe_event Wire wire.c -- -I./include -O2 -g -Wall -Werror
