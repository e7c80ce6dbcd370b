package symbols

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestCache(t *testing.T) {
	c := NewCache(2, Options{})
	var wg sync.WaitGroup
	results := make([]*Analysis, 16)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a, err := c.Analyze(tinyHyper)
			if err != nil {
				t.Error(err)
			}
			results[i] = a
		}(i)
	}
	wg.Wait()
	for _, a := range results {
		if a != results[0] {
			t.Fatal("concurrent requests got different analyses")
		}
	}
	if n, hits, misses := c.Stats(); n != 1 || misses != 1 || hits != 15 {
		t.Errorf("entries %d hits %d misses %d, want 1 15 1", n, hits, misses)
	}
	// A new version of the file (new inode, mtime) is analysed again.
	dir := t.TempDir()
	p := filepath.Join(dir, "x")
	b, _ := os.ReadFile(tinyHyper)
	os.WriteFile(p, b, 0o755)
	if _, err := c.Analyze(p); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, append(b, 0), 0o755)
	if _, err := c.Analyze(p); err != nil {
		t.Fatal(err)
	}
	if n, _, misses := c.Stats(); n != 2 || misses != 3 {
		t.Errorf("bounded cache: %d entries, %d misses", n, misses)
	}
	// Failures are cached too (not ELF), transient ones are not.
	os.WriteFile(filepath.Join(dir, "txt"), []byte("hello"), 0o644)
	for i := 0; i < 2; i++ {
		if _, err := c.Analyze(filepath.Join(dir, "txt")); err == nil {
			t.Error("text file analysed")
		}
	}
	if _, err := c.Analyze(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file analysed")
	}
}
