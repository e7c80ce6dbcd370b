package symbols

import (
	"container/list"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

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
	return c.AnalyzeStat(path, st)
}

// AnalyzeStat is Analyze of a file already stat'ed: st is path's.
func (c *Cache) AnalyzeStat(path string, st os.FileInfo) (*Analysis, error) {
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
