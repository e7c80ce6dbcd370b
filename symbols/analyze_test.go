package symbols

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

func TestScanStrings(t *testing.T) {
	rodata := []byte("\x00/root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/hyper-1.5.2/src/proto/h1/role.rs" +
		"called `Option::unwrap()`/usr/share/cargo/registry/hyper-util-0.1.10/src/client/legacy/client.rs" +
		"/rustc/59807616e1b2c3d4e5f60718293a4b5c6d7e8f90/library/core/src/fmt/mod.rs" +
		"vendor/axum-0.7.9/src/routing/mod.rsno/src/here/tokio-1.43.1-rc.1/src/rt.rs")
	var a Analysis
	scanStrings(rodata, &a)
	want := map[string]string{"hyper": "1.5.2", "hyper-util": "0.1.10", "axum": "0.7.9", "tokio": "1.43.1-rc.1"}
	for name, v := range want {
		if got, ok := a.Crate(name); !ok || got != v {
			t.Errorf("crate %s = %q (found %v), want %q", name, got, ok, v)
		}
	}
	if len(a.Crates) != len(want) {
		t.Errorf("crates %v, want exactly %v", a.Crates, want)
	}
	if a.RustcCommit != "59807616e1b2c3d4e5f60718293a4b5c6d7e8f90" {
		t.Errorf("rustc commit %q", a.RustcCommit)
	}
}

func TestRustcFromComment(t *testing.T) {
	for in, want := range map[string]string{
		"GCC: (Debian 12.2.0-14) 12.2.0\x00rustc version 1.95.0 (59807616e 2026-04-14)\x00": "1.95.0",
		"rustc version 1.85.0\x00":       "1.85.0",
		"rustc version 1.96.0-nightly (": "1.96.0-nightly",
		"GCC: (Debian 12.2.0-14) 12.2.0": "",
	} {
		if got := rustcFromComment([]byte(in)); got != want {
			t.Errorf("rustcFromComment(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAnalyzeBadInput(t *testing.T) {
	dir := t.TempDir()
	notELF := dir + "/text"
	os.WriteFile(notELF, []byte("#!/bin/sh\necho hi\n"), 0o755)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	selfBytes, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	truncated := dir + "/truncated"
	os.WriteFile(truncated, selfBytes[:200], 0o755)

	for _, tc := range []struct {
		name, path string
		notELF     bool
	}{
		{"missing", dir + "/nope", false},
		{"directory", dir, false},
		{"not ELF", notELF, true},
		{"truncated", truncated, false},
	} {
		_, err := AnalyzeFile(tc.path)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if tc.notELF && !errors.Is(err, ErrNotELF) {
			t.Errorf("%s: %v, want ErrNotELF", tc.name, err)
		}
	}
	// A C program is ELF but not Rust.
	a, err := AnalyzeFile("/bin/true")
	if err != nil {
		t.Fatalf("analyze /bin/true: %v", err)
	}
	if a.Rust {
		t.Errorf("/bin/true detected as Rust: %+v", a)
	}
}

func FuzzAnalyze(f *testing.F) {
	self, err := os.Executable()
	if err == nil {
		if b, err := os.ReadFile(self); err == nil {
			f.Add(b[:4096])
		}
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		Analyze(bytes.NewReader(b))
	})
}
