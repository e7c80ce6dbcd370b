package preflight

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseCapEff(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   Caps
		err    string
	}{
		{status: "Name:\tx\nCapPrm:\t0000000000000001\nCapEff:\t000001fffeffffff\n", want: 0x1fffeffffff},
		{status: "CapEff:\t0000000000000000\n", want: 0},
		{status: "CapEff:\tzz\n", err: `CapEff "zz"`},
		{status: "Name:\tx\n", err: "no CapEff line"},
	} {
		got, err := parseCapEff([]byte(tc.status))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.status, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %#x, %v; want %#x", tc.status, got, err, tc.want)
		}
	}
	if c := Caps(0x1fffeffffff); !c.Has(BPF) || !c.Has(Perfmon) || !c.Has(SysPtrace) || c.Has(24) {
		t.Errorf("Has on %#x", c)
	}
}

// TestCheck: each missing capability or kernel feature gives its own
// message, over a fake /sys (this kernel has them all). The BPF feature
// probes, which need a kernel that lacks them to fail, are stood in for.
func TestCheck(t *testing.T) {
	all := Caps(1<<BPF | 1<<Perfmon | 1<<SysPtrace | 1<<DACReadSearch)
	files := []string{"kernel/btf/vmlinux", "bus/event_source/devices/uprobe/type", "kernel/tracing/events/syscalls/sys_enter_read/id"}
	for _, tc := range []struct {
		name    string
		caps    Caps
		without string // a path of files left out of /sys
		bpf     error
		err     string // "" for none
	}{
		{name: "all there", caps: all},
		{name: "root's full set", caps: 0x1ffffffffff},
		{name: "sys_admin stands in for bpf and perfmon", caps: 1<<SysAdmin | 1<<SysPtrace},
		{name: "no capabilities", caps: 0, err: "missing capabilities CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE: run as root, or grant them"},
		{name: "no perfmon", caps: all &^ (1 << Perfmon), err: "missing capabilities CAP_PERFMON: run as root"},
		{name: "no ptrace alone is fine", caps: all &^ (1 << SysPtrace)},
		{name: "no btf", caps: all, without: "kernel/btf", err: "has no BTF (CONFIG_DEBUG_INFO_BTF)"},
		{name: "no uprobes", caps: all, without: "bus/event_source/devices/uprobe", err: "has no uprobes (CONFIG_UPROBE_EVENTS)"},
		{name: "no tracefs", caps: all, without: "kernel/tracing", err: "has no tracefs (CONFIG_FTRACE)"},
		{name: "no syscall tracepoints", caps: all, without: "kernel/tracing/events/syscalls", err: "has no syscall tracepoints (CONFIG_FTRACE_SYSCALLS)"},
		{name: "tracefs not mounted", caps: all, without: "kernel/tracing/events", err: "tracefs is not mounted and mounting it needs CAP_SYS_ADMIN"},
		{name: "tracefs not mounted, sys_admin mounts it", caps: all | 1<<SysAdmin, without: "kernel/tracing/events"},
		{name: "capabilities before tracefs", caps: 0, without: "kernel/tracing/events", err: "missing capabilities CAP_BPF"},
		{name: "bpf feature missing", caps: all, bpf: errors.New("kernel x lacks the bpf_loop helper"), err: "bpf_loop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := t.TempDir()
			for _, f := range files {
				if tc.without != "" && strings.HasPrefix(f, tc.without) {
					os.MkdirAll(filepath.Join(sys, filepath.Dir(tc.without)), 0o755)
					continue
				}
				os.MkdirAll(filepath.Join(sys, filepath.Dir(f)), 0o755)
				os.WriteFile(filepath.Join(sys, f), nil, 0o644)
			}
			err := host{caps: tc.caps, sys: sys, bpf: func() error { return tc.bpf }}.check()
			if tc.err == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

// TestCheckHere runs every check against this machine, which has what
// rustscope needs; as root the BPF feature probes run for real.
func TestCheckHere(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the BPF feature probes need root")
	}
	if err := Check(); err != nil {
		t.Fatal(err)
	}
}
