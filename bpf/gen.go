// Package bpf holds rustscope's eBPF programs and their bpf2go bindings.
//
// The generated *_bpfel.go and *_bpfel.o files are committed so that a plain
// `go build` needs no clang; `make generate` rebuilds them.
package bpf

//go:generate go tool bpf2go -tags linux -target amd64 -type event_head -type data_event -type open_event -type close_event -type probe_event -type task_event -type body_event -type tls_bind_event -type exec_event -type exe_id -type tls_bytes -type tls_call_kind -type target_flag -type ev_kind -type direction -type role Wire wire.c -- -isystem ./include -I. -I.. -O2 -g -Wall -Wpadded -Werror
