package symbols

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rustscope/rustscope/probe"
)

// A shared library's points are its functions found by name: exported
// ones, and where the file has a symbol table (an executable linking the
// library statically) the others too; never those it imports. Each with
// the offset uprobes take and the entry classified as in executables.
func TestSharedPoints(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc to build a shared library")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "lib.c")
	if err := os.WriteFile(src, []byte(`
#include <string.h>
int SSL_read(void *s, void *b, int n) { return n > 0 ? (int)strlen((char *)b) : 0; }
__attribute__((visibility("hidden"))) int SSL_write(void *s, const void *b, int n) { return n; }
int SSL_read_ex(void *s, void *b, unsigned long n, unsigned long *r) { *r = SSL_write(s, b, (int)n); return 1; }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	so := filepath.Join(dir, "libssl.so.3")
	if out, err := exec.Command(gcc, "-O2", "-fno-omit-frame-pointer", "-shared", "-fPIC", "-o", so, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	wants := []probe.Want{
		{ID: "read", Match: []string{"SSL_read"}, Object: "libssl.so"},
		{ID: "write", Match: []string{"SSL_write"}, Object: "libssl.so"}, // hidden: not exported
		{ID: "read_ex", Match: []string{"SSL_read_ex"}, Object: "libssl.so"},
		{ID: "strlen", Match: []string{"strlen"}, Object: "libssl.so"}, // imported, not defined
	}
	stripped := filepath.Join(dir, "libssl-stripped.so.3")
	if out, err := exec.Command("strip", "--strip-all", "-o", stripped, so).CombinedOutput(); err != nil {
		t.Fatalf("strip: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		file  string
		found []bool
	}{{so, []bool{true, true, true, false}}, {stripped, []bool{true, false, true, false}}} {
		checkShared(t, tc.file, wants, tc.found)
	}
	if _, err := SharedPoints(filepath.Join(dir, "lib.c"), wants); err == nil {
		t.Error("a C source read as a shared library")
	}
}

func checkShared(t *testing.T, file string, wants []probe.Want, found []bool) {
	t.Helper()
	points, err := SharedPoints(file, wants)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range found {
		p := points[i]
		if p.Found != want {
			t.Errorf("%s in %s: found %v, want %v (%s)", p.ID, filepath.Base(file), p.Found, want, p.Reason)
			continue
		}
		if !want {
			if p.Reason == "" || len(p.Copies) != 0 {
				t.Errorf("%s: not found needs a reason and no copies: %+v", p.ID, p)
			}
			continue
		}
		c := p.Copies[0]
		if c.FileOffset == 0 || c.Symbol != wants[i].Match[0] || c.Entry == EntryUnknown {
			t.Errorf("%s: copy %+v", p.ID, c)
		}
	}
}
