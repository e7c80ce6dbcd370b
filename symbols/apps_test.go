package symbols

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Tests over the real Rust test apps (testapps/bin/<variant>/<app>, built
// by `make testapps`). Missing binaries skip the tests, except with
// CI=true, where they fail; -short skips them always (make unit).

// appsBin is testapps/bin; RUSTSCOPE_TESTAPPS_BIN overrides it.
func appsBin() string {
	if d := os.Getenv("RUSTSCOPE_TESTAPPS_BIN"); d != "" {
		return d
	}
	return filepath.Join("..", "testapps", "bin")
}

func appPath(t testing.TB, variant, app string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: needs the Rust test apps")
	}
	p := filepath.Join(appsBin(), variant, app)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("test app %s missing with CI=true: %v (run make testapps)", p, err)
		}
		t.Skipf("test app %s missing: run make testapps", p)
	}
	return p
}

var (
	mainApps    = []string{"axum-server", "hyper-server", "tonic-server", "tonic-client", "reqwest-client"}
	mainVariant = []string{"release", "release-strip", "release-lto", "debug", "release-rustc185", "release-v0"}
	legacyApps  = []string{"hyper014-server", "reqwest011-client"}
)

// appCrates: the crates (package name -> every version linked in) each app
// must show, exactly; crates listed with no versions must be absent. prost
// keeps panic paths only in debug builds: elsewhere it is found (without
// version) from symbols, and not at all when stripped.
var appCrates = map[string]map[string][]string{
	"axum-server": {"axum": {"0.7.9"}, "hyper": {"1.5.2"}, "hyper-util": {"0.1.10"}, "h2": {"0.4.7"}, "tokio": {"1.43.1"},
		"tower": {"0.4.13", "0.5.2"}, "tonic": {"0.12.3"}, "reqwest": {"0.12.15"}, "matchit": {"0.7.3"}, "prost": {"0.12.6"}},
	"hyper-server": {"hyper": {"1.5.2"}, "hyper-util": {"0.1.10"}, "h2": {"0.4.7"}, "tokio": {"1.43.1"},
		"axum": nil, "tonic": nil, "reqwest": nil, "matchit": nil, "prost": nil},
	"tonic-server": {"tonic": {"0.12.3"}, "hyper": {"1.5.2"}, "hyper-util": {"0.1.10"}, "h2": {"0.4.7"}, "tokio": {"1.43.1"},
		"tower": {"0.4.13", "0.5.2"}, "axum": {"0.7.9"}, "matchit": {"0.7.3"}, "prost": {"0.12.6"}, "reqwest": nil},
	"tonic-client": {"tonic": {"0.12.3"}, "hyper": {"1.5.2"}, "hyper-util": {"0.1.10"}, "h2": {"0.4.7"}, "tokio": {"1.43.1"},
		"tower": {"0.4.13"}, "prost": {"0.12.6"}, "axum": nil, "reqwest": nil, "matchit": nil},
	"reqwest-client": {"reqwest": {"0.12.15"}, "hyper": {"1.5.2"}, "hyper-util": {"0.1.10"}, "h2": {"0.4.7"}, "tokio": {"1.43.1"},
		"tower": {"0.5.2"}, "axum": nil, "tonic": nil, "matchit": nil, "prost": nil},
	"hyper014-server": {"hyper": {"0.14.19"}, "h2": {"0.3.13"}, "tokio": {"1.24.2"},
		"hyper-util": nil, "axum": nil, "tonic": nil, "reqwest": nil},
	"reqwest011-client": {"reqwest": {"0.11.13"}, "hyper": {"0.14.19"}, "h2": {"0.3.13"}, "tokio": {"1.24.2"},
		"hyper-util": nil, "axum": nil, "tonic": nil},
}

var prostVersioned = map[string]bool{"debug": true, "release-rustc185": true}

// appProbes: points that must be found in builds without LTO (release,
// debug, rustc 1.85, v0). The complete set is checked against nm anyway.
var appProbes = map[string][]string{
	"axum-server": {"hyper.h1.server.parse", "hyper.h1.server.encode", "hyper.h1.server.recv_msg",
		"hyper.h1.client.parse", "hyper.h1.client.encode", "hyper.h2.server.poll", "hyper.h2.stream.poll",
		"hyper_util.client.send_request", "axum.path_router.node_at", "tonic.client.create_response",
		"reqwest.execute_request", "reqwest.pending_request.poll", "h2.client.response_future.poll", "h2.recv_stream.poll_data"},
	"hyper-server": {"hyper.h1.server.parse", "hyper.h1.server.encode", "hyper.h2.server.poll", "hyper.h2.stream.poll"},
	// rustc 1.85 inlines hyper's h2 Server::poll in tonic-server: not listed.
	"tonic-server":      {"hyper.h1.server.parse", "hyper.h1.server.encode", "hyper.h2.stream.poll", "tonic.server.map_response", "axum.path_router.node_at"},
	"tonic-client":      {"tonic.client.create_response", "h2.codec.decode_frame"},
	"reqwest-client":    {"hyper.h1.client.parse", "hyper.h1.client.encode", "hyper_util.client.send_request", "reqwest.execute_request", "reqwest.pending_request.poll"},
	"hyper014-server":   {"hyper.h1.server.parse", "hyper.h1.server.encode", "hyper.h1.server.recv_msg", "hyper.h1.dispatcher.poll_catch", "hyper.h2.server.poll", "hyper.h2.stream.poll", "h2.codec.decode_frame"},
	"reqwest011-client": {"hyper.h1.client.parse", "hyper.h1.client.encode", "reqwest.execute_request", "reqwest.pending_request.poll", "hyper.client.retryably_send_request"},
}

// ltoGone / ltoKept: what fat LTO removes and keeps, per app where the code
// is used. Mostly as shared/notes/rust-crates.md says, except in
// axum-server, where decode_frame survives and tonic's create_response is
// inlined (checked with nm).
var (
	ltoGone = map[string][]string{
		"axum-server":    {"hyper.h1.server.parse", "hyper.h1.dispatcher.poll_catch", "reqwest.execute_request", "tonic.client.create_response"},
		"hyper-server":   {"hyper.h1.server.parse", "hyper.h1.dispatcher.poll_catch", "h2.codec.decode_frame"},
		"tonic-server":   {"hyper.h1.server.parse", "hyper.h1.dispatcher.poll_catch", "h2.codec.decode_frame"},
		"tonic-client":   {"h2.codec.decode_frame"},
		"reqwest-client": {"hyper.h1.dispatcher.poll_catch", "reqwest.execute_request", "h2.codec.decode_frame"},
	}
	ltoKept = map[string][]string{
		"axum-server": {"hyper.h1.server.recv_msg", "hyper.h2.server.poll", "hyper.h2.stream.poll", "axum.path_router.node_at", "hyper_util.client.send_request", "h2.codec.decode_frame",
			"h2.client.response_future.poll", "h2.recv_stream.poll_data"},
		"hyper-server":   {"hyper.h1.server.recv_msg", "hyper.h2.server.poll", "hyper.h2.stream.poll"},
		"tonic-server":   {"hyper.h1.server.recv_msg", "hyper.h2.server.poll", "hyper.h2.stream.poll", "axum.path_router.node_at", "tonic.server.map_response"},
		"tonic-client":   {"tonic.client.create_response"},
		"reqwest-client": {"hyper_util.client.send_request"},
	}
)

type appCase struct{ variant, app string }

func allAppCases() []appCase {
	var cs []appCase
	for _, v := range mainVariant {
		for _, a := range mainApps {
			cs = append(cs, appCase{v, a})
		}
	}
	for _, a := range legacyApps {
		cs = append(cs, appCase{"legacy-release", a})
	}
	return cs
}

func TestApps(t *testing.T) {
	for _, tc := range allAppCases() {
		t.Run(tc.variant+"/"+tc.app, func(t *testing.T) {
			t.Parallel()
			path := appPath(t, tc.variant, tc.app)
			a, err := AnalyzeFileWith(path, Options{NoDebugLookup: true})
			if err != nil {
				t.Fatal(err)
			}
			checkApp(t, tc, path, a)
		})
	}
}

func checkApp(t *testing.T, tc appCase, path string, a *Analysis) {
	stripped := tc.variant == "release-strip"
	lto := tc.variant == "release-lto"
	if !a.Rust || a.Machine != "x86-64" || !a.PIE || a.BuildID == "" {
		t.Fatalf("rust %v machine %s pie %v build-id %q (evidence %v)", a.Rust, a.Machine, a.PIE, a.BuildID, a.Evidence)
	}

	// Compiler: rustup's 1.95.0 or Debian's 1.85.0, told apart.
	if tc.variant == "release-rustc185" {
		if a.RustcVersion != "1.85.0" {
			t.Errorf("rustc %q, want 1.85.0 (evidence %v)", a.RustcVersion, a.Evidence)
		}
		if a.RustcCommit == "59807616e1fa2540724bfbac14d7976d7e4a3860" {
			t.Errorf("rustc 1.85 build carries 1.95's commit")
		}
	} else if a.RustcVersion != "1.95.0" || a.RustcCommit != "59807616e1fa2540724bfbac14d7976d7e4a3860" {
		t.Errorf("rustc %q commit %q, want 1.95.0 59807616e1fa...", a.RustcVersion, a.RustcCommit)
	}

	// Crates and versions, exactly.
	for name, want := range appCrates[tc.app] {
		got := a.Versions(name)
		if name == "prost" && want != nil {
			// prost's panic paths survive in debug builds and with
			// Debian's rustc 1.85; otherwise its symbols name it, without
			// a version.
			switch {
			case stripped:
				want = nil
			case !prostVersioned[tc.variant]:
				want = []string{""}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("crate %s: versions %q, want %q", name, got, want)
		}
	}

	// Symbols, manglings, function counts.
	if a.Stripped != stripped {
		t.Errorf("stripped %v", a.Stripped)
	}
	if stripped {
		if a.SymbolSource != SourceEHFrame {
			t.Errorf("symbol source %q, want eh_frame", a.SymbolSource)
		}
		if want := readelfFDEs(t, path); a.Functions != want {
			t.Errorf("functions from .eh_frame %d, readelf FDEs %d", a.Functions, want)
		}
		for _, p := range a.Probes {
			if p.Found {
				t.Errorf("%s found without symbols", p.ID)
			} else if _, ok := a.Crate(p.Crate); ok && !strings.HasPrefix(p.Reason, ReasonStripped) && !strings.Contains(p.Reason, "this point is for") {
				t.Errorf("%s: reason %q", p.ID, p.Reason)
			}
		}
		if lvl, why := a.Traceability(); lvl != TraceWire || !strings.Contains(why, a.BuildID) {
			t.Errorf("traceability %s %q", lvl, why)
		}
		return
	}
	if a.SymbolSource != SourceSymtab || a.Functions < 1000 {
		t.Errorf("symbol source %q, %d functions", a.SymbolSource, a.Functions)
	}
	if tc.variant == "release-v0" {
		if !slices.Contains(a.Manglings, ManglingV0) {
			t.Errorf("manglings %v, want v0", a.Manglings)
		}
	} else if !slices.Contains(a.Manglings, ManglingLegacy) {
		t.Errorf("manglings %v, want legacy", a.Manglings)
	}
	if a.DebugInfo != (tc.variant == "debug") || a.LTO != lto {
		t.Errorf("debug info %v, LTO %v", a.DebugInfo, a.LTO)
	}

	// Probe points: every copy checked against nm/readelf/objdump.
	checkAgainstTools(t, path, a)
	for _, p := range a.Probes {
		for _, c := range p.Copies {
			switch {
			case tc.variant == "release-v0" && !strings.HasPrefix(c.Symbol, "_R"):
				t.Errorf("%s: v0 build has symbol %s", p.ID, c.Symbol)
			case tc.variant != "release-v0" && !strings.HasPrefix(c.Symbol, "_ZN"):
				t.Errorf("%s: legacy build has symbol %s", p.ID, c.Symbol)
			case strings.Contains(c.Demangled, "17h") && strings.HasSuffix(c.Demangled, "E"):
				t.Errorf("%s: not demangled: %s", p.ID, c.Demangled)
			}
		}
	}
	found := func(id string) bool { p, ok := a.Probe(id); return ok && p.Found }
	if lto {
		for _, id := range ltoGone[tc.app] {
			if p, _ := a.Probe(id); p.Found || !strings.Contains(p.Reason, ReasonLTO) {
				t.Errorf("LTO: %s found %v reason %q, want removed (%q)", id, p.Found, p.Reason, ReasonLTO)
			}
		}
		for _, id := range ltoKept[tc.app] {
			if !found(id) {
				t.Errorf("LTO: %s not found", id)
			}
		}
		for _, p := range a.Probes {
			if !p.Found && !strings.Contains(p.Reason, "LTO") && !strings.Contains(p.Reason, "not present") && !strings.Contains(p.Reason, "this point is for") {
				t.Errorf("LTO: %s reason %q", p.ID, p.Reason)
			}
		}
		return
	}
	for _, id := range appProbes[tc.app] {
		if !found(id) {
			p, _ := a.Probe(id)
			t.Errorf("%s not found: %s", id, p.Reason)
		}
	}
	if lvl, why := a.Traceability(); lvl != TraceFull {
		t.Errorf("traceability %s: %s", lvl, why)
	}
}

// TestDebugFiles splits a release build into a stripped binary and a debug
// file and finds the probes again: by Options.SymbolsFile, by build-id in
// a debug directory, and refuses a debug file of another build.
func TestDebugFiles(t *testing.T) {
	orig := appPath(t, "release", "axum-server")
	other := appPath(t, "release", "hyper-server")
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	debug := filepath.Join(dir, "axum-server.debug")
	stripped := filepath.Join(dir, "axum-server")
	otherDebug := filepath.Join(dir, "hyper-server.debug")
	run("objcopy", "--only-keep-debug", orig, debug)
	run("objcopy", "--strip-all", orig, stripped)
	run("objcopy", "--only-keep-debug", other, otherDebug)

	want, err := AnalyzeFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, a *Analysis, source, file string) {
		t.Helper()
		if a.SymbolSource != source || a.SymbolFile != file || !a.Stripped || a.BuildID != want.BuildID {
			t.Fatalf("%s: source %q file %q stripped %v build-id %s (warnings %v)", name, a.SymbolSource, a.SymbolFile, a.Stripped, a.BuildID, a.Warnings)
		}
		if len(a.Probes) != len(want.Probes) {
			t.Fatalf("%s: %d probes", name, len(a.Probes))
		}
		for i, p := range a.Probes {
			w := want.Probes[i]
			if p.Found != w.Found || len(p.Copies) != len(w.Copies) {
				t.Errorf("%s: %s found %v (%d copies), unstripped %v (%d)", name, p.ID, p.Found, len(p.Copies), w.Found, len(w.Copies))
				continue
			}
			for j, c := range p.Copies {
				wc := w.Copies[j]
				if c.Address != wc.Address || c.FileOffset != wc.FileOffset || c.Size != wc.Size || c.FirstInsn != wc.FirstInsn || c.Entry != wc.Entry {
					t.Errorf("%s: %s copy %+v, unstripped %+v", name, p.ID, c, wc)
				}
			}
		}
		if lvl, why := a.Traceability(); lvl != TraceFull {
			t.Errorf("%s: traceability %s %s", name, lvl, why)
		}
	}

	a, err := AnalyzeFileWith(stripped, Options{SymbolsFile: debug, NoDebugLookup: true})
	if err != nil {
		t.Fatal(err)
	}
	check("--symbols", a, SourceFile, debug)

	// By build-id: <dir>/.build-id/xx/yyyy.debug.
	id := want.BuildID
	byID := filepath.Join(dir, "debug", ".build-id", id[:2], id[2:]+".debug")
	os.MkdirAll(filepath.Dir(byID), 0o755)
	if err := os.Link(debug, byID); err != nil {
		t.Fatal(err)
	}
	a, err = AnalyzeFileWith(stripped, Options{DebugDirs: []string{filepath.Join(dir, "debug")}})
	if err != nil {
		t.Fatal(err)
	}
	check("build-id", a, SourceDebuglink, byID)

	// A debug file from another build is refused, with the reason.
	a, err = AnalyzeFileWith(stripped, Options{SymbolsFile: otherDebug, NoDebugLookup: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.SymbolSource != SourceEHFrame || len(a.Warnings) == 0 || !strings.Contains(a.Warnings[0], "build-id mismatch") {
		t.Errorf("mismatching debug file: source %q warnings %v", a.SymbolSource, a.Warnings)
	}
	if err := VerifyDebugFile(otherDebug, want.BuildID); err == nil {
		t.Error("VerifyDebugFile accepted another build's file")
	}
	// The wrong file at the build-id path is refused too.
	os.Remove(byID)
	os.Link(otherDebug, byID)
	a, _ = AnalyzeFileWith(stripped, Options{DebugDirs: []string{filepath.Join(dir, "debug")}})
	if a.SymbolSource != SourceEHFrame || len(a.Warnings) == 0 {
		t.Errorf("wrong file at build-id path: source %q warnings %v", a.SymbolSource, a.Warnings)
	}

	// By .gnu_debuglink, beside the executable of a running process, seen
	// through /proc/PID/exe as the tracer reads it.
	linked := filepath.Join(dir, "linked", "axum-server")
	os.MkdirAll(filepath.Dir(linked), 0o755)
	os.Link(debug, filepath.Join(dir, "linked", "axum-server.debug"))
	run("objcopy", "--strip-all", "--add-gnu-debuglink="+filepath.Join(dir, "linked", "axum-server.debug"), orig, linked)
	cmd := exec.Command(linked, "--listen", "127.0.0.1:0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	proc := fmt.Sprintf("/proc/%d", cmd.Process.Pid)
	a, err = AnalyzeFileWith(proc+"/exe", Options{DebugDirs: []string{t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	check("debuglink", a, SourceDebuglink, proc+"/root"+filepath.Join(dir, "linked", "axum-server.debug"))
}

// TestNoComment: with .comment removed as well as the symbols, the
// compiler version still comes from the /rustc/<commit>/ paths (release
// table) or Debian's /usr/src/rustc-<version>/ paths.
func TestNoComment(t *testing.T) {
	for _, tc := range []struct{ variant, version string }{
		{"release-strip", "1.95.0"},
		{"release-rustc185", "1.85.0"},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			src := appPath(t, tc.variant, "hyper-server")
			dst := filepath.Join(t.TempDir(), "hyper-server")
			if out, err := exec.Command("objcopy", "--strip-all", "--remove-section=.comment", src, dst).CombinedOutput(); err != nil {
				t.Fatalf("objcopy: %v\n%s", err, out)
			}
			a, err := AnalyzeFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if !a.Rust || a.RustcVersion != tc.version || !a.Stripped {
				t.Errorf("rust %v rustc %q stripped %v; evidence %v", a.Rust, a.RustcVersion, a.Stripped, a.Evidence)
			}
			for _, e := range a.Evidence {
				if strings.HasPrefix(e, ".comment") {
					t.Errorf("evidence %q after removing .comment", e)
				}
			}
			if v, _ := a.Crate("hyper"); v != "1.5.2" {
				t.Errorf("hyper %q", v)
			}
		})
	}
}

// TestSpeed: the 45 MB debug build must be analysed well under a second.
func TestSpeed(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	path := appPath(t, "debug", "axum-server")
	res := testing.Benchmark(func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := AnalyzeFile(path); err != nil {
				b.Fatal(err)
			}
		}
	})
	per := res.NsPerOp()
	t.Logf("debug axum-server: %.1f ms per analysis", float64(per)/1e6)
	limit := int64(500e6)
	if raceEnabled {
		limit *= 10
	}
	if per > limit {
		t.Errorf("analysis takes %.0f ms, want well under 1 s", float64(per)/1e6)
	}
}

func BenchmarkAnalyzeDebug(b *testing.B)   { benchApp(b, "debug", "axum-server") }
func BenchmarkAnalyzeRelease(b *testing.B) { benchApp(b, "release", "axum-server") }
func BenchmarkAnalyzeStripped(b *testing.B) {
	benchApp(b, "release-strip", "axum-server")
}

func benchApp(b *testing.B, variant, app string) {
	path := appPath(b, variant, app)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := AnalyzeFile(path); err != nil {
			b.Fatal(err)
		}
	}
}
