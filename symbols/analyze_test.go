package symbols

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const tinyHyper = "testdata/tiny-hyper" // see testdata/tinyrust/build.sh

func TestScanStrings(t *testing.T) {
	rodata := []byte("\x00/root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/hyper-1.5.2/src/proto/h1/role.rs" +
		"called `Option::unwrap()`/usr/share/cargo/registry/hyper-util-0.1.10/src/client/legacy/client.rs" +
		"/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/fmt/mod.rs" +
		"vendor/axum-0.7.9/src/routing/mod.rsno/src/here/tokio-1.43.1-rc.1/src/rt.rs" +
		"\xc0h2-0.4.7/src/codec/mod.rs" + // relative path after a length byte
		"/x/notacrate-1.2.3/src/data.json" + // not a Rust source file
		"/usr/src/rustc-1.85.0/library/std/src/io/mod.rs")
	var a Analysis
	scanStrings(rodata, &a)
	want := map[string]string{"hyper": "1.5.2", "hyper-util": "0.1.10", "axum": "0.7.9", "tokio": "1.43.1-rc.1", "h2": "0.4.7"}
	for name, v := range want {
		if got, ok := a.Crate(name); !ok || got != v {
			t.Errorf("crate %s = %q (found %v), want %q", name, got, ok, v)
		}
	}
	if len(a.Crates) != len(want) {
		t.Errorf("crates %v, want exactly %v", a.Crates, want)
	}
	if a.RustcCommit != "59807616e1fa2540724bfbac14d7976d7e4a3860" {
		t.Errorf("rustc commit %q", a.RustcCommit)
	}
	if a.RustcVersion != "1.85.0" || a.debianRustc != "1.85.0" {
		t.Errorf("Debian rustc path: version %q", a.RustcVersion)
	}
}

func TestSplitCrateDir(t *testing.T) {
	for _, tc := range []struct{ dir, name, version string }{
		{"hyper-1.5.2", "hyper", "1.5.2"},
		{"hyper-util-0.1.10", "hyper-util", "0.1.10"},
		{"tokio-1.43.1-rc.1", "tokio", "1.43.1-rc.1"},
		{"h2-0.4.7", "h2", "0.4.7"},
		{"x25519-dalek-2.0.0+zeroize", "x25519-dalek", "2.0.0+zeroize"},
		{"core", "", ""},
		{"index.crates.io-6f17d22bba15001f", "", ""},
		{"foo-1.2", "", ""},
		{"-1.2.3", "", ""},
	} {
		name, version, ok := splitCrateDir(tc.dir)
		if name != tc.name || version != tc.version || ok != (tc.name != "") {
			t.Errorf("splitCrateDir(%q) = %q %q %v, want %q %q", tc.dir, name, version, ok, tc.name, tc.version)
		}
	}
}

func TestRustcFromComment(t *testing.T) {
	for _, tc := range []struct{ in, version, hash string }{
		{"GCC: (Debian 12.2.0-14) 12.2.0\x00rustc version 1.95.0 (59807616e 2026-04-14)\x00", "1.95.0", "59807616e"},
		{"rustc version 1.85.0\x00", "1.85.0", ""},
		{"rustc version 1.96.0-nightly (e50aa6fba 2026-05-19)", "1.96.0-nightly", "e50aa6fba"},
		{"GCC: (Debian 12.2.0-14) 12.2.0", "", ""},
		{"rustc version banana", "", ""},
	} {
		v, h := rustcFromComment([]byte(tc.in))
		if v != tc.version || h != tc.hash {
			t.Errorf("rustcFromComment(%q) = %q %q, want %q %q", tc.in, v, h, tc.version, tc.hash)
		}
	}
}

// TestRustcTable checks the release table against the toolchain on this
// machine when there is one (rustc -vV), and its own consistency.
func TestRustcTable(t *testing.T) {
	seen := map[string]string{}
	for commit, v := range rustcReleases {
		if len(commit) != 40 || !isHex(commit) || !isVersion(v) {
			t.Errorf("bad entry %q: %q", commit, v)
		}
		if other, dup := seen[v]; dup {
			t.Errorf("version %s listed twice (%s, %s)", v, commit, other)
		}
		seen[v] = commit
	}
	for v := 70; v <= 95; v++ {
		if _, ok := seen["1."+strconv.Itoa(v)+".0"]; !ok {
			t.Errorf("1.%d.0 missing from the release table", v)
		}
	}
	out, err := exec.Command("rustc", "-vV").Output()
	if err != nil {
		t.Skipf("no rustc here: %v", err)
	}
	var commit, release string
	for _, line := range strings.Split(string(out), "\n") {
		if c, ok := strings.CutPrefix(line, "commit-hash: "); ok {
			commit = c
		}
		if r, ok := strings.CutPrefix(line, "release: "); ok {
			release = r
		}
	}
	if strings.Contains(release, "-") {
		t.Skipf("rustc %s is not a stable release", release)
	}
	if got, ok := RustcVersionForCommit(commit); !ok || got != release {
		t.Errorf("installed rustc %s (%s): table says %q, %v", release, commit, got, ok)
	}
}

func TestVersions(t *testing.T) {
	for _, tc := range []struct {
		v, c string
		ok   bool
	}{
		{"1.5.2", ">=1", true}, {"0.14.19", ">=1", false}, {"0.14.19", "<1", true},
		{"1.0.0-rc.1", "<1", false}, {"0.4.13", ">=0.4,<0.5", true}, {"0.5.2", ">=0.4,<0.5", false},
		{"", "<1", true}, {"1.2.3", "", true}, {"1.2.3", "=1.2.3", true},
	} {
		if got := versionMatches(tc.v, tc.c); got != tc.ok {
			t.Errorf("versionMatches(%q, %q) = %v", tc.v, tc.c, got)
		}
	}
	if compareVersions("0.4.13", "0.5.2") >= 0 || compareVersions("1.10.0", "1.9.0") <= 0 || compareVersions("1.0.0-rc.1", "1.0.0") >= 0 {
		t.Error("compareVersions ordering")
	}
}

func TestNormalizeName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// legacy (binutils/ianlancetaylor demangled, no hash)
		{"<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::parse",
			"<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::parse"},
		{"hyper::proto::h1::dispatch::Dispatcher<D,Bs,I,T>::poll_catch", "hyper::proto::h1::dispatch::Dispatcher::poll_catch"},
		{"<hyper::proto::h1::dispatch::Server<S,hyper::body::incoming::Incoming> as hyper::proto::h1::dispatch::Dispatch>::recv_msg",
			"<hyper::proto::h1::dispatch::Server as hyper::proto::h1::dispatch::Dispatch>::recv_msg"},
		{"hyper_util::client::legacy::client::Client<C,B>::send_request::{{closure}}",
			"hyper_util::client::legacy::client::Client::send_request::{{closure}}"},
		{"axum::routing::path_router::PathRouter<S,_>::call_with_state", "axum::routing::path_router::PathRouter::call_with_state"},
		{"core::fmt::num::<impl core::fmt::Debug for u8>::fmt", "core::fmt::num::<impl core::fmt::Debug for u8>::fmt"},
		{"hyper::proto::h1::role::Server::parse::h0123456789abcdef", "hyper::proto::h1::role::Server::parse"},
		{"h2::codec::framed_read::decode_frame.llvm.1234567", "h2::codec::framed_read::decode_frame"},
		// v0
		{"<hyper::proto::h1::dispatch::Dispatcher<hyper::proto::h1::dispatch::Server<axum::routing::Router, hyper::body::incoming::Incoming>, axum_core::body::Body, hyper_util::rt::tokio::TokioIo<tokio::net::tcp::stream::TcpStream>, hyper::proto::h1::role::Server>>::poll_catch",
			"hyper::proto::h1::dispatch::Dispatcher::poll_catch"},
		{"<hyper_util::client::legacy::client::Client<reqwest::connect::Connector, reqwest::async_impl::body::Body>>::send_request::{closure#0}",
			"hyper_util::client::legacy::client::Client::send_request::{{closure}}"},
		{"<tonic::server::grpc::Grpc<tonic::codec::prost::ProstCodec<demo::User, demo::GetUserRequest>>>::map_response::<http_body_util::combinators::box_body::UnsyncBoxBody<bytes::bytes::Bytes, tonic::status::Status>>",
			"tonic::server::grpc::Grpc::map_response"},
		{"<hyper::proto::h2::server::Server<hyper_util::rt::tokio::TokioIo<tokio::net::tcp::stream::TcpStream>, S, B, E> as core::future::future::Future>::poll",
			"<hyper::proto::h2::server::Server as core::future::future::Future>::poll"},
		{"<<demo_proto::users_server::UsersServer<T> as tower_service::Service<http::request::Request<B>>>::call::EchoSvc<T> as tonic::server::service::UnaryService<demo::EchoRequest>>::call::{{closure}}",
			"<<demo_proto::users_server::UsersServer as tower_service::Service>::call::EchoSvc as tonic::server::service::UnaryService>::call::{{closure}}"},
		{"<fn(u8) -> u8 as core::ops::function::FnOnce<(u8,)>>::call_once", "<fn(u8) -> u8 as core::ops::function::FnOnce>::call_once"},
		{"<alloc::boxed::Box<dyn core::ops::function::Fn<(), Output = ()>> as core::ops::drop::Drop>::drop",
			"<alloc::boxed::Box as core::ops::drop::Drop>::drop"},
		{"a>b", "a>b"},
	} {
		if got := NormalizeName(tc.in); got != tc.want {
			t.Errorf("NormalizeName(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestDemangleBothSchemes(t *testing.T) {
	for _, tc := range []struct{ raw, mangling, norm string }{
		{"_ZN85_$LT$hyper..proto..h1..role..Server$u20$as$u20$hyper..proto..h1..Http1Transaction$GT$5parse17h03e6a10838a781deE",
			ManglingLegacy, "<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::parse"},
		{"_ZN2h25codec11framed_read12decode_frame17hd598da97fbbf0465E.llvm.99", ManglingLegacy, "h2::codec::framed_read::decode_frame"},
		{"_RNvMs_NtNtNtCs1234_5hyper5proto2h18dispatchINtB4_10DispatcherppppE10poll_catchB8_", ManglingV0, "hyper::proto::h1::dispatch::Dispatcher::poll_catch"},
	} {
		if m := manglingOf(tc.raw); m != tc.mangling {
			t.Errorf("manglingOf(%s) = %q, want %q", tc.raw, m, tc.mangling)
		}
		d := Demangle(tc.raw)
		if got := NormalizeName(d); got != tc.norm {
			t.Errorf("%s: demangled %q, normalized %q, want %q", tc.raw, d, got, tc.norm)
		}
	}
	if manglingOf("_ZN3foo3barE") != "" || manglingOf("main") != "" {
		t.Error("C++/C names taken for Rust")
	}
}

func TestClassifyEntry(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     []byte
		entry    string
		emulated bool
		text     string
	}{
		{"push rbp", []byte{0x55, 0x48, 0x89, 0xe5}, EntryPush, true, "push %rbp"},
		{"push r15", []byte{0x41, 0x57}, EntryPush, true, "push %r15"},
		{"push rbx", []byte{0x53}, EntryPush, true, "push %rbx"},
		{"rex.w push (not the kernel's pattern)", []byte{0x48, 0x55}, EntrySingleStep, false, ""},
		{"nop", []byte{0x90}, EntryNop, true, "nop"},
		{"nop5", []byte{0x0f, 0x1f, 0x44, 0x00, 0x00}, EntryNop, true, ""},
		{"nop8", []byte{0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00}, EntryNop, true, ""},
		{"cs nopw: cs prefix refused", []byte{0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00}, EntryRefused, false, ""},
		{"jmp rel32", []byte{0xe9, 0x10, 0x00, 0x00, 0x00}, EntryBranch, true, ""},
		{"call rel32", []byte{0xe8, 0x10, 0x00, 0x00, 0x00}, EntryBranch, true, ""},
		{"jne rel8", []byte{0x75, 0x05}, EntryBranch, true, ""},
		{"je rel32", []byte{0x0f, 0x84, 0x10, 0x00, 0x00, 0x00}, EntryBranch, true, ""},
		{"mov", []byte{0x48, 0x89, 0xe5}, EntrySingleStep, false, "mov %rsp,%rbp"},
		{"sub rsp", []byte{0x48, 0x83, 0xec, 0x18}, EntrySingleStep, false, "sub $0x18,%rsp"},
		{"endbr64", []byte{0xf3, 0x0f, 0x1e, 0xfa}, EntrySingleStep, false, ""},
		{"int3", []byte{0xcc}, EntryRefused, false, ""},
		{"lock add", []byte{0xf0, 0x48, 0x83, 0x07, 0x01}, EntryRefused, false, ""},
		{"garbage", []byte{0x0f, 0x0f}, EntryUnknown, false, ""},
	} {
		d := classifyEntry(tc.code, 0x1000)
		if d.entry != tc.entry || d.emulated != tc.emulated || (tc.text != "" && d.text != tc.text) {
			t.Errorf("%s: % x -> %q (%q, emulated %v), want %q %v %q", tc.name, tc.code, d.entry, d.text, d.emulated, tc.entry, tc.emulated, tc.text)
		}
	}
}

// TestTinyBinary analyses a 9 KB real rustc output (crate named "hyper")
// and checks every address and offset against nm and readelf.
func TestTinyBinary(t *testing.T) {
	a, err := AnalyzeFile(tinyHyper)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Rust || a.RustcVersion != "1.95.0" || a.SymbolSource != SourceSymtab || a.BuildID == "" || !a.PIE {
		t.Fatalf("analysis: %+v", a)
	}
	if v, ok := a.Crate("hyper"); !ok || v != "1.5.2" {
		t.Errorf("hyper crate %q %v", v, ok)
	}
	checkAgainstTools(t, tinyHyper, a)
	p, _ := a.Probe("hyper.h1.dispatcher.poll_catch")
	if !p.Found || len(p.Copies) != 2 {
		t.Errorf("want both monomorphizations of Dispatcher<D>::poll_catch, got %+v", p)
	}
	for _, id := range []string{"hyper.h1.server.parse", "hyper.h1.server.encode"} {
		if p, _ := a.Probe(id); !p.Found || len(p.Copies) != 1 {
			t.Errorf("%s: %+v", id, p)
		}
	}
	if p, _ := a.Probe("hyper.h1.server.recv_msg"); p.Found || !strings.Contains(p.Reason, "inlined or removed by the optimizer") {
		t.Errorf("server recv_msg: %+v", p)
	}
	if p, _ := a.Probe("hyper.h1.client.parse"); p.Found || !strings.Contains(p.Reason, "not in this binary") {
		t.Errorf("client parse: %+v", p)
	}
	if lvl, why := a.Traceability(); lvl != TraceFull {
		t.Errorf("traceability %s: %s", lvl, why)
	}
	// Function boundaries from .eh_frame agree with readelf's FDEs.
	img := mustOpen(t, tinyHyper)
	fdes, err := functionsFromEHFrame(img)
	if err != nil {
		t.Fatal(err)
	}
	if want := readelfFDEs(t, tinyHyper); len(fdes) != want {
		t.Errorf("eh_frame functions %d, readelf FDEs %d", len(fdes), want)
	}
	// JSON is snake_case.
	b, _ := json.Marshal(a)
	for _, k := range []string{`"rustc_version"`, `"build_id"`, `"symbol_source"`, `"file_offset"`, `"first_insn"`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("JSON lacks %s", k)
		}
	}
}

func mustOpen(t testing.TB, path string) *elfImage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	img, err := openELF(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestBadInput: one clear error per kind of bad file.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tiny, err := os.ReadFile(tinyHyper)
	if err != nil {
		t.Fatal(err)
	}
	elf32 := make([]byte, 52)
	copy(elf32, "\x7fELF\x01\x01\x01")
	binary.LittleEndian.PutUint16(elf32[16:], uint16(elf.ET_EXEC))
	binary.LittleEndian.PutUint16(elf32[18:], uint16(elf.EM_386))
	binary.LittleEndian.PutUint32(elf32[20:], 1)
	bigEndian := append([]byte(nil), tiny...)
	bigEndian[elf.EI_DATA] = byte(elf.ELFDATA2MSB)
	badShoff := append([]byte(nil), tiny...)
	binary.LittleEndian.PutUint64(badShoff[0x28:], 1<<40) // e_shoff far beyond EOF

	for _, tc := range []struct {
		name    string
		path    string
		want    error // errors.Is target; nil = no error expected
		msg     string
		notRust bool
	}{
		{"missing", filepath.Join(dir, "nope"), fs.ErrNotExist, "no such file", false},
		{"directory", dir, ErrNotELF, "is a directory", false},
		{"empty", write("empty", nil), ErrNotELF, "too short", false},
		{"script", write("script", []byte("#!/bin/sh\necho hi\n")), ErrNotELF, "bad magic", false},
		{"truncated header", write("trunc200", tiny[:200]), ErrMalformed, "", false},
		{"truncated half", write("trunchalf", tiny[:len(tiny)/2]), ErrMalformed, "", false},
		{"32-bit ELF", write("elf32", elf32), ErrUnsupported, "32-bit", false},
		{"big-endian ELF", write("be", bigEndian), ErrUnsupported, "big-endian", false},
		{"section headers beyond EOF", write("badshoff", badShoff), ErrMalformed, "", false},
		{"unreadable (EIO)", "/proc/self/mem", syscall.EIO, "input/output error", false},
		{"not Rust", "/bin/true", nil, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := AnalyzeFile(tc.path)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if tc.notRust && a.Rust {
					t.Errorf("detected as Rust: %+v", a)
				}
				if lvl, _ := a.Traceability(); tc.notRust && lvl != TraceNone {
					t.Errorf("traceability %s", lvl)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error (analysis %+v)", a)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error %q is not %v", err, tc.want)
			}
			if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", err, tc.msg)
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("multi-line error %q", err)
			}
		})
	}
	// Unreadable by permissions: only meaningful when not root.
	if os.Geteuid() != 0 {
		p := write("noperm", tiny)
		os.Chmod(p, 0)
		if _, err := AnalyzeFile(p); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("mode 000: %v", err)
		}
	}
}

// FuzzAnalyze feeds mutated ELF files to the entry point: it must never
// panic, hang or allocate without bound, and what it returns must be
// well formed: the same for the same bytes, crates and manglings sorted
// as documented, probe copies inside the file, and a JSON round trip
// that changes nothing. Seeds are the tiny real Rust binary (symbol
// table, .eh_frame, .comment, crate paths), the same with its symbol
// table hidden (the stripped path: functions from .eh_frame), and
// targeted corruptions of both.
func FuzzAnalyze(f *testing.F) {
	tiny, err := os.ReadFile(tinyHyper)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tiny)
	f.Add(tiny[:64])
	f.Add(tiny[:len(tiny)/2])
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	// Corrupt header fields and the first bytes of each section.
	mut := func(off int, v []byte) {
		if off+len(v) <= len(tiny) {
			b := append([]byte(nil), tiny...)
			copy(b[off:], v)
			f.Add(b)
		}
	}
	mut(0x28, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}) // e_shoff
	mut(0x3c, []byte{0xff, 0xff})                         // e_shnum
	mut(0x3e, []byte{0x7f, 0})                            // e_shstrndx
	mut(0x20, []byte{0xf0, 0xff, 0, 0})                   // e_phoff
	ef, err := elf.NewFile(bytes.NewReader(tiny))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range ef.Sections {
		if s.Type == elf.SHT_NOBITS || s.Offset == 0 {
			continue
		}
		mut(int(s.Offset), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		mut(int(s.Offset), []byte{0, 0, 0, 0})
	}
	// Stripped: .symtab renamed in the section name table, so functions
	// come from .eh_frame.
	for _, s := range ef.Sections {
		if s.Name == ".shstrtab" {
			stripped := append([]byte(nil), tiny...)
			names := stripped[s.Offset : s.Offset+s.Size]
			copy(names[bytes.Index(names, []byte("\x00.symtab\x00"))+1:], ".hidden")
			if a, err := Analyze(bytes.NewReader(stripped)); err != nil || !a.Stripped || a.SymbolSource != "eh_frame" {
				f.Fatalf("stripped seed: %v, %+v", err, a)
			}
			f.Add(stripped)
			mut = func(off int, v []byte) {
				b := append([]byte(nil), stripped...)
				copy(b[off:], v)
				f.Add(b)
			}
			eh := ef.Section(".eh_frame")
			mut(int(eh.Offset)+4, []byte{0xff, 0xff, 0xff, 0x7f}) // the CIE id
			mut(int(eh.Offset), []byte{0xf0, 0xff, 0xff, 0xff})   // a length past the section
			mut(int(eh.Offset)+int(eh.Size)/2, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Analyze(bytes.NewReader(b))
		if err == nil && a == nil {
			t.Fatal("nil analysis without error")
		}
		if err != nil {
			return
		}
		a.Traceability()
		if again, err := Analyze(bytes.NewReader(b)); err != nil || !reflect.DeepEqual(again, a) {
			t.Fatalf("second analysis of the same bytes differs: %v\n%+v\n%+v", err, again, a)
		}
		for i := 1; i < len(a.Crates); i++ {
			p, c := a.Crates[i-1], a.Crates[i]
			if p.Name > c.Name || p.Name == c.Name && compareVersions(p.Version, c.Version) > 0 {
				t.Fatalf("crates not sorted: %+v", a.Crates)
			}
		}
		if !slices.IsSorted(a.Manglings) || len(a.Manglings) > 2 || a.Functions < 0 {
			t.Fatalf("manglings %q, %d functions", a.Manglings, a.Functions)
		}
		for _, p := range a.Probes {
			if p.Found != (len(p.Copies) > 0) {
				t.Fatalf("probe %s: found %v with %d copies", p.ID, p.Found, len(p.Copies))
			}
			for _, c := range p.Copies {
				if c.FileOffset >= uint64(len(b)) {
					t.Fatalf("probe %s at file offset %#x of a %d-byte file", p.ID, c.FileOffset, len(b))
				}
			}
		}
		j, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var back Analysis
		if err := json.Unmarshal(j, &back); err != nil {
			t.Fatal(err)
		}
		if j2, _ := json.Marshal(&back); !bytes.Equal(j, j2) {
			t.Fatalf("JSON round trip:\n%s\n%s", j, j2)
		}
	})
}

func TestRootCrate(t *testing.T) {
	for _, tc := range []struct{ sym, crate string }{
		{"_ZN5prost8encoding13decode_varint17h0ddf1dc4e05bd4f8E", "prost"},
		{"_ZN85_$LT$hyper..proto..h1..role..Server$u20$as$u20$hyper..proto..h1..Http1Transaction$GT$5parse17h03e6a10838a781deE", "hyper"},
		{"_RNvMs1_NtCs6VeU0nykZcF_4axum7routingNtB5_6Router15call_with_stateCsgnrf29dxBQ2_11axum_server", "axum"},
		// axum only inside generic arguments: the symbol is std's.
		{"_RNvXs_NtNtCsjrHSEGnQ3l9_3std4sync6poisonINtB4_11PoisonErrorINtNtCslNYArtu3iFV_5alloc5boxed3BoxDINtNtCs6VeU0nykZcF_4axum5boxed15ErasedIntoRouteuEL_EENtNtB2l_3fmt5Debug3fmtCsbiDFie80HhV_5tonic", "std"},
		{"_RNvCs1234_10hyper_util3foo", "hyper_util"},
		{"main", ""},
	} {
		if got := string(rootCrate([]byte(tc.sym))); got != tc.crate {
			t.Errorf("rootCrate(%s) = %q, want %q", tc.sym, got, tc.crate)
		}
	}
}

func TestTLSLibraries(t *testing.T) {
	for _, tc := range []struct {
		crates []Crate
		want   []string
	}{
		{nil, nil},
		{[]Crate{{Name: "hyper", Version: "1.5.2"}}, nil},
		{[]Crate{{Name: "rustls", Version: "0.23.26"}, {Name: "tokio-rustls", Version: "0.26.1"}}, []string{"rustls 0.23.26"}},
		{[]Crate{{Name: "rustls", Version: "0.21.12"}, {Name: "openssl", Version: "0.10.72"}, {Name: "rustls", Version: "0.23.26"}},
			[]string{"rustls 0.21.12", "rustls 0.23.26", "openssl 0.10.72"}},
	} {
		a := &Analysis{Crates: tc.crates}
		if got := a.TLSLibraries(); !slices.Equal(got, tc.want) {
			t.Errorf("crates %v: TLSLibraries() = %v, want %v", tc.crates, got, tc.want)
		}
	}
}
