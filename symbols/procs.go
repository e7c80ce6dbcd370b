package symbols

import (
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	Analysis *Analysis `json:"analysis"`
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
func Processes(c *Cache) ([]Process, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	selfNS, _ := os.Readlink(procRoot + "/self/ns/mnt")
	var selfExe fileKey
	if st, err := os.Stat(procRoot + "/self/exe"); err == nil {
		selfExe = keyOf(st)
	}
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

func inspect(pid int, c *Cache, selfNS string, selfExe fileKey, users map[int]string) (Process, bool) {
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
	if selfExe != (fileKey{}) && keyOf(st) == selfExe {
		return Process{}, false // another rustscope
	}
	var a *Analysis
	if c != nil {
		a, err = c.analyzeStat(dir+"/exe", st)
	} else {
		a, err = AnalyzeFile(dir + "/exe")
	}
	if err != nil || a == nil || !a.Rust {
		return Process{}, false
	}
	p := Process{PID: pid, Exe: exe, Analysis: a, UID: -1}
	p.Deleted = strings.HasSuffix(exe, " (deleted)")
	if b, err := os.ReadFile(dir + "/cmdline"); err == nil && len(b) > 0 {
		p.Cmdline = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	}
	if b, err := os.ReadFile(dir + "/comm"); err == nil {
		p.Comm = strings.TrimSpace(string(b))
	}
	if p.Comm == "" {
		p.Comm = filepath.Base(strings.TrimSuffix(exe, " (deleted)"))
	}
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

// fileKey identifies one version of an executable file.
type fileKey struct {
	dev, ino uint64
	mtime    int64 // ns
	size     int64
}

func keyOf(st os.FileInfo) fileKey {
	k := fileKey{mtime: st.ModTime().UnixNano(), size: st.Size()}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		k.dev, k.ino = uint64(s.Dev), s.Ino
	}
	return k
}

// Cache keeps analyses per executable file: (device, inode, mtime, size),
// stat'ed through /proc/PID/exe, so a picker refreshing every second only
// stats each process. It is safe for concurrent use; concurrent requests
// for the same file share one analysis. It holds at most Max entries
// (least recently used go first), failures included, so non-ELF or
// unreadable files are not retried every refresh.
type Cache struct {
	opts Options
	max  int

	mu      sync.Mutex
	entries map[fileKey]*list.Element
	lru     *list.List // of *cacheEntry, front = most recent
	hits    uint64
	misses  uint64
}

type cacheEntry struct {
	key  fileKey
	done chan struct{}
	a    *Analysis
	err  error
}

// DefaultCacheSize bounds a Cache created with max <= 0.
const DefaultCacheSize = 256

// NewCache returns a cache of at most max analyses made with opts.
func NewCache(max int, opts Options) *Cache {
	if max <= 0 {
		max = DefaultCacheSize
	}
	return &Cache{opts: opts, max: max, entries: map[fileKey]*list.Element{}, lru: list.New()}
}

// Analyze returns the (possibly cached) analysis of the file at path.
func (c *Cache) Analyze(path string) (*Analysis, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("stat executable: %w", err)
	}
	return c.analyzeStat(path, st)
}

func (c *Cache) analyzeStat(path string, st os.FileInfo) (*Analysis, error) {
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory: %w", path, ErrNotELF)
	}
	k := keyOf(st)
	if k.ino == 0 {
		return AnalyzeFileWith(path, c.opts) // no identity: do not cache
	}
	c.mu.Lock()
	if el, ok := c.entries[k]; ok {
		c.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		c.hits++
		c.mu.Unlock()
		<-e.done
		return e.a, e.err
	}
	e := &cacheEntry{key: k, done: make(chan struct{})}
	c.entries[k] = c.lru.PushFront(e)
	c.misses++
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).key)
	}
	c.mu.Unlock()

	e.a, e.err = AnalyzeFileWith(path, c.opts)
	if e.err != nil && isTransient(e.err) {
		// Do not remember errors that may go away (the process exited
		// under us, EINTR, ...).
		c.mu.Lock()
		if el, ok := c.entries[k]; ok && el.Value.(*cacheEntry) == e {
			c.lru.Remove(el)
			delete(c.entries, k)
		}
		c.mu.Unlock()
	}
	close(e.done)
	return e.a, e.err
}

func isTransient(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.ESRCH)
}

// Stats returns the number of cached entries, hits and misses.
func (c *Cache) Stats() (entries int, hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.hits, c.misses
}
