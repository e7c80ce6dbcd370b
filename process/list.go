// Package process lists, describes, selects and watches the processes
// rustscope may trace, reading /proc: the Rust programs running, the
// targets a configuration selects (executable path or glob, command line,
// crate, container), the checks before attaching, and a watcher that
// attaches to the selected processes as they start.
package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/rustscope/rustscope/symbols"
)

// Process is a running Rust program rustscope could trace.
type Process struct {
	PID     int      `json:"pid"`
	UID     int      `json:"uid"`
	User    string   `json:"user"` // name, or the number if unknown
	Comm    string   `json:"comm"`
	Cmdline []string `json:"cmdline"`
	// Exe is the readlink of /proc/PID/exe: the path in the process's own
	// mount namespace, with " (deleted)" when the file was replaced or
	// removed since the process started.
	Exe     string `json:"exe"`
	Deleted bool   `json:"deleted"`
	// Container: the process runs in another mount namespace than
	// rustscope (/proc/PID/ns/mnt differs). Attach through /proc/PID/root
	// or /proc/PID/exe; file offsets are those of the file itself.
	Container bool   `json:"container"`
	MountNS   string `json:"mount_ns,omitempty"` // "mnt:[4026531841]"
	// Analysis was read through /proc/PID/exe (works for deleted files and
	// other mount namespaces alike). Shared via the Cache: read-only.
	Analysis *symbols.Analysis `json:"analysis"`
	// Traceable: "full", "wire" or "none" (see Analysis.Traceability).
	Traceable string `json:"traceable"`
	Reason    string `json:"reason,omitempty"`
}

// ExePath returns the path to open or attach to for this process:
// /proc/PID/exe, which resolves in the process's own mount namespace and
// still works after the file is deleted.
func (p *Process) ExePath() string { return fmt.Sprintf("/proc/%d/exe", p.PID) }

// procRoot is /proc; tests may point it elsewhere.
var procRoot = "/proc"

// Processes lists the running Rust processes, sorted by PID. Kernel
// threads, rustscope itself and non-Rust programs are skipped; processes
// that vanish or cannot be inspected (permissions) are skipped silently.
// c may be nil (no caching, every executable analysed afresh).
func Processes(c *symbols.Cache) ([]Process, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	selfNS, _ := os.Readlink(procRoot + "/self/ns/mnt")
	selfExe, _ := os.Stat(procRoot + "/self/exe")
	users := map[int]string{}
	var out []Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 || pid == self {
			continue
		}
		p, ok := inspect(pid, c, selfNS, selfExe, users)
		if ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// PF_KTHREAD in /proc/PID/stat flags.
const pfKthread = 0x00200000

func inspect(pid int, c *symbols.Cache, selfNS string, selfExe os.FileInfo, users map[int]string) (Process, bool) {
	dir := procRoot + "/" + strconv.Itoa(pid)
	if isKernelThread(dir) {
		return Process{}, false
	}
	exe, err := os.Readlink(dir + "/exe")
	if err != nil || exe == "" {
		return Process{}, false // kernel thread, zombie, exited, or no permission
	}
	st, err := os.Stat(dir + "/exe")
	if err != nil {
		return Process{}, false
	}
	if sameVersion(st, selfExe) {
		return Process{}, false // another rustscope
	}
	var a *symbols.Analysis
	if c != nil {
		a, err = c.AnalyzeStat(dir+"/exe", st)
	} else {
		a, err = symbols.AnalyzeFile(dir + "/exe")
	}
	if err != nil || a == nil || !a.Rust {
		return Process{}, false
	}
	p := Process{PID: pid, Exe: exe, Analysis: a, UID: -1}
	p.Deleted = strings.HasSuffix(exe, " (deleted)")
	p.Cmdline, p.Comm = cmdlineComm(dir, strings.TrimSuffix(exe, " (deleted)"))
	if ns, err := os.Readlink(dir + "/ns/mnt"); err == nil {
		p.MountNS = ns
		p.Container = selfNS != "" && ns != selfNS
	}
	uid, ok := processUID(dir)
	if !ok {
		return Process{}, false // it exited while we looked: not listed half-read
	}
	p.UID, p.User = uid, userName(uid, users)
	p.Traceable, p.Reason = a.Traceability()
	return p, true
}

func isKernelThread(dir string) bool {
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) state ppid ... flags is field 9; comm may contain spaces
	// and parentheses, so split after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return false
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 7 {
		return false
	}
	flags, err := strconv.ParseUint(fields[6], 10, 64)
	return err == nil && flags&pfKthread != 0
}

// processUID reads the real UID from /proc/PID/status.
func processUID(dir string) (int, bool) {
	b, err := os.ReadFile(dir + "/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				uid, err := strconv.Atoi(f[0])
				return uid, err == nil
			}
		}
	}
	return 0, false
}

func userName(uid int, cache map[int]string) string {
	if n, ok := cache[uid]; ok {
		return n
	}
	n := strconv.Itoa(uid)
	if u, err := user.LookupId(n); err == nil && u.Username != "" {
		n = u.Username
	}
	cache[uid] = n
	return n
}

// sameVersion reports whether a and b are the same version of one file
// (device, inode, modification time and size); b may be nil.
func sameVersion(a, b os.FileInfo) bool {
	return b != nil && os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// cmdlineComm reads the command line (nil when empty: a zombie) and the
// command name of the process at dir; the name falls back to exe's base.
func cmdlineComm(dir, exe string) (cmdline []string, comm string) {
	if b, err := os.ReadFile(dir + "/cmdline"); err == nil && len(b) > 0 {
		cmdline = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	}
	if b, err := os.ReadFile(dir + "/comm"); err == nil {
		comm = strings.TrimSpace(string(b))
	}
	if comm == "" {
		comm = filepath.Base(exe)
	}
	return cmdline, comm
}

// Describe reads what /proc says about pid (executable, command line,
// name) and analyses its executable through /proc/PID/exe, which works for
// deleted files and for processes in other mount namespaces alike. Only
// PID, Exe, Cmdline, Comm and Analysis (nil when unreadable) are set.
func Describe(pid int, cache *symbols.Cache) (Process, error) {
	dir := procRoot + "/" + strconv.Itoa(pid)
	exe, err := os.Readlink(dir + "/exe")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Process{}, errors.New("no such process")
		}
		return Process{}, fmt.Errorf("read executable link: %w", err)
	}
	p := Process{PID: pid, Exe: exe}
	p.Cmdline, p.Comm = cmdlineComm(dir, strings.TrimSuffix(exe, " (deleted)"))
	if a, err := cache.Analyze(dir + "/exe"); err == nil {
		p.Analysis = a
	}
	return p, nil
}

// Running is false once pid has exited, reaped or not: a zombie waiting
// for its parent serves nothing.
func Running(pid int) bool {
	stat, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command, which is in parentheses and may
	// hold anything: look after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || (stat[i+2] != 'Z' && stat[i+2] != 'X')
}

// ExePath is the path that opens pid's executable, /proc/PID/exe: the
// running file, even deleted or in another mount namespace.
func ExePath(pid int) (string, error) {
	path := procRoot + "/" + strconv.Itoa(pid) + "/exe"
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrPermission) {
			return "", targetErr(ErrPermission, "pid %d: permission denied: another user's process needs CAP_SYS_PTRACE (or root)", pid)
		}
		return "", targetErr(ErrNotFound, "pid %d: no such process", pid)
	}
	return path, nil
}
