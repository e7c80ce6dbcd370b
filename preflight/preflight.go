// Package preflight checks, before anything is loaded, that rustscope can
// trace on this host: the capabilities it needs and the kernel features
// its BPF programs use. A failure is one sentence naming what is missing
// and what to do, instead of a verifier or EPERM error from deep inside
// the loader.
package preflight

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"
)

// Cap is a Linux capability (linux/capability.h).
type Cap uint

// The capabilities rustscope uses.
const (
	DACReadSearch Cap = 2  // read tracefs, which is root's only
	SysPtrace     Cap = 19 // /proc/PID/exe, /proc/PID/root and /proc/PID/mem of other users' processes
	SysAdmin      Cap = 21 // stands in for BPF and Perfmon; mounts tracefs
	Perfmon       Cap = 38 // tracing programs, perf events for tracepoints and uprobes
	BPF           Cap = 39 // maps and programs
)

var capNames = map[Cap]string{DACReadSearch: "CAP_DAC_READ_SEARCH", SysPtrace: "CAP_SYS_PTRACE",
	SysAdmin: "CAP_SYS_ADMIN", Perfmon: "CAP_PERFMON", BPF: "CAP_BPF"}

func (c Cap) String() string {
	if n, ok := capNames[c]; ok {
		return n
	}
	return "capability " + strconv.Itoa(int(c))
}

// Caps is a capability set, as /proc/PID/status prints it.
type Caps uint64

// Has reports whether c is in the set.
func (s Caps) Has(c Cap) bool { return s&(1<<c) != 0 }

// Effective returns this process's effective capabilities.
func Effective() (Caps, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read capabilities: %w", err)
	}
	return parseCapEff(b)
}

func parseCapEff(status []byte) (Caps, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("read capabilities: CapEff %q: %w", strings.TrimSpace(v), err)
			}
			return Caps(n), nil
		}
	}
	return 0, errors.New("read capabilities: no CapEff line in /proc/self/status")
}

// Check returns nil when rustscope can trace here, else the first problem:
// a kernel feature missing, or the capabilities missing (all of them, so
// that one fix is enough). The BPF feature probes load two tiny programs;
// the whole check takes a few milliseconds.
func Check() error {
	caps, err := Effective()
	if err != nil {
		return err
	}
	return host{caps: caps, sys: "/sys", bpf: bpfFeatures}.check()
}

// host is what check looks at: the real one, or a fake /sys in tests.
type host struct {
	caps Caps
	sys  string       // where sysfs is mounted
	bpf  func() error // BPF feature probes; they need the capabilities
}

func (h host) check() error {
	for _, f := range []struct{ path, what string }{
		{"/kernel/btf/vmlinux", "BTF (CONFIG_DEBUG_INFO_BTF)"},
		{"/bus/event_source/devices/uprobe", "uprobes (CONFIG_UPROBE_EVENTS)"},
	} {
		if _, err := os.Stat(h.sys + f.path); err != nil {
			return fmt.Errorf("kernel %s has no %s: %s is missing", release(), f.what, h.sys+f.path)
		}
	}

	var missing []Cap
	if !h.caps.Has(BPF) && !h.caps.Has(SysAdmin) {
		missing = append(missing, BPF)
	}
	if !h.caps.Has(Perfmon) && !h.caps.Has(SysAdmin) {
		missing = append(missing, Perfmon)
	}
	tracing := h.sys + "/kernel/tracing"
	_, err := os.Stat(tracing + "/events")
	mounted, mount := err == nil, false
	switch {
	case errors.Is(err, fs.ErrPermission):
		missing = append(missing, DACReadSearch)
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(tracing); err != nil {
			return fmt.Errorf("kernel %s has no tracefs (CONFIG_FTRACE): %s is missing", release(), tracing)
		}
		mount = !h.caps.Has(SysAdmin) // with it, the tracer mounts tracefs
	case err != nil:
		return fmt.Errorf("read tracefs: %w", err)
	}
	if len(missing) > 0 {
		if !h.caps.Has(SysPtrace) {
			missing = append(missing, SysPtrace)
		}
		names := make([]string, len(missing))
		for i, c := range missing {
			names[i] = c.String()
		}
		return fmt.Errorf("missing capabilities %s: run as root, or grant them to rustscope (setcap or systemd AmbientCapabilities, see docs/security.md)",
			strings.Join(names, ", "))
	}

	if mount {
		return fmt.Errorf("tracefs is not mounted and mounting it needs CAP_SYS_ADMIN: run `mount -t tracefs nodev %s` first, or run rustscope as root", tracing)
	}
	if mounted {
		if _, err := os.Stat(tracing + "/events/syscalls/sys_enter_read"); err != nil {
			return fmt.Errorf("kernel %s has no syscall tracepoints (CONFIG_FTRACE_SYSCALLS): %s is missing", release(), tracing+"/events/syscalls")
		}
	}
	return h.bpf()
}

// bpfFeatures probes what the BPF programs use beyond BTF: the ring buffer
// and bpf_loop (Linux 5.17).
func bpfFeatures() error {
	for _, f := range []struct {
		what  string
		probe func() error
	}{
		{"BPF ring buffers (Linux 5.8)", func() error { return features.HaveMapType(ebpf.RingBuf) }},
		{"the bpf_loop helper (Linux 5.17)", func() error { return features.HaveProgramHelper(ebpf.TracePoint, asm.FnLoop) }},
	} {
		err := f.probe()
		switch {
		case errors.Is(err, ebpf.ErrNotSupported):
			return fmt.Errorf("kernel %s lacks %s: rustscope needs Linux 5.17 or later", release(), f.what)
		case err != nil:
			return fmt.Errorf("probe kernel for %s: %w", f.what, err)
		}
	}
	return nil
}

// release is the running kernel's version, for messages.
func release() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "(unknown version)"
	}
	return unix.ByteSliceToString(u.Release[:])
}
