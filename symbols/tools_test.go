package symbols

import (
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Independent checks with binutils: nm gives symbol addresses and its own
// demangling, readelf the PT_LOAD segments and .eh_frame FDEs, objdump the
// first instruction. Nothing here reuses the package's code.

// nmPatterns match binutils' demangled names (legacy and v0 spellings) for
// each manifest entry.
var nmPatterns = map[string]*regexp.Regexp{}

func init() {
	closure := `::\{(\{closure\}|closure#0)\}`
	for id, re := range map[string]string{
		"hyper.h1.server.parse":               `^<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::parse$`,
		"hyper.h1.server.encode":              `^<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::encode$`,
		"hyper.h1.server.recv_msg":            `^<hyper::proto::h1::dispatch::Server(<.*>)? as hyper::proto::h1::dispatch::Dispatch>::recv_msg$`,
		"hyper.h1.client.parse":               `^<hyper::proto::h1::role::Client as hyper::proto::h1::Http1Transaction>::parse$`,
		"hyper.h1.client.encode":              `^<hyper::proto::h1::role::Client as hyper::proto::h1::Http1Transaction>::encode$`,
		"hyper.h1.client.recv_msg":            `^<hyper::proto::h1::dispatch::Client(<.*>)? as hyper::proto::h1::dispatch::Dispatch>::recv_msg$`,
		"hyper.h1.dispatcher.poll_catch":      `^<?hyper::proto::h1::dispatch::Dispatcher(<.*>)?>?::poll_catch$`,
		"hyper.h2.server.poll":                `^<hyper::proto::h2::server::Server(<.*>)? as core::future::future::Future>::poll$`,
		"hyper.h2.stream.poll":                `^<hyper::proto::h2::server::H2Stream(<.*>)? as core::future::future::Future>::poll$`,
		"h2.codec.decode_frame":               `^h2::codec::framed_read::decode_frame$`,
		"h2.client.response_future.poll":      `^<h2::client::ResponseFuture as core::future::future::Future>::poll$`,
		"h2.recv_stream.poll_data":            `^<?h2::share::RecvStream>?::poll_data$`,
		"hyper.client.send_request":           `^<?hyper::client::client::Client(<.*>)?>?::send_request` + closure + `$`,
		"hyper.client.retryably_send_request": `^<?hyper::client::client::Client(<.*>)?>?::retryably_send_request` + closure + `$`,
		"hyper.client.connect_to":             `^<?hyper::client::client::Client(<.*>)?>?::connect_to$`,
		"hyper_util.client.send_request":      `^<?hyper_util::client::legacy::client::Client(<.*>)?>?::send_request` + closure + `$`,
		"hyper_util.client.connect_to":        `^<?hyper_util::client::legacy::client::Client(<.*>)?>?::connect_to$`,
		"axum.router.call_with_state":         `^<?axum::routing::Router(<.*>)?>?::call_with_state$`,
		"axum.path_router.node_at":            `^<?axum::routing::path_router::Node>?::at$`,
		"axum.path_router.call_with_state":    `^<?axum::routing::path_router::PathRouter(<.*>)?>?::call_with_state$`,
		"matchit.node_at":                     `^<?matchit::tree::Node(<.*>)?>?::at$`,
		"tonic.server.map_response":           `^<?tonic::server::grpc::Grpc(<.*>)?>?::map_response(::<.*>)?$`,
		"tonic.client.create_response":        `^<?tonic::client::grpc::Grpc(<.*>)?>?::create_response(::<.*>)?$`,
		"reqwest.execute_request":             `^<?reqwest::async_impl::client::Client>?::execute_request$`,
		"tokio.task.poll":                     `^tokio::runtime::task::raw::poll(::<.*>)?$`,
		"rustls.take_received_plaintext":      `^rustls::common_state::CommonState::take_received_plaintext$`,
		"rustls.sink.write_vectored":          `^<rustls::conn::ConnectionCommon<.*> as rustls::conn::(connection::)?PlaintextSink>::write_vectored$`,
		"rustls.sink.write":                   `^<rustls::conn::ConnectionCommon<.*> as rustls::conn::(connection::)?PlaintextSink>::write$`,
		"tokio.waker.wake_by_val":             `^tokio::runtime::task::waker::wake_by_val$`,
		"tokio.waker.wake_by_ref":             `^tokio::runtime::task::waker::wake_by_ref$`,
		"tokio.task.bind":                     `^<?tokio::runtime::task::list::OwnedTasks(<.*>)?>?::bind_inner$`,
		"reqwest.pending_request.poll":        `^<reqwest::async_impl::client::PendingRequest as core::future::future::Future>::poll$`,
	} {
		nmPatterns[id] = regexp.MustCompile(re)
	}
}

type nmSym struct {
	addr uint64
	typ  byte
	name string
}

var llvmSuffix = regexp.MustCompile(`(\.llvm\.\d+| \[clone \.llvm\.\d+\])$`)

func nmSymbols(t testing.TB, path string, demangle bool) []nmSym {
	t.Helper()
	args := []string{"--defined-only"}
	if demangle {
		args = append(args, "-C")
	}
	out, err := exec.Command("nm", append(args, path)...).Output()
	if err != nil {
		t.Fatalf("nm %s: %v", path, err)
	}
	var syms []nmSym
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 || len(f[1]) != 1 {
			continue
		}
		addr, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			continue
		}
		syms = append(syms, nmSym{addr: addr, typ: f[1][0], name: llvmSuffix.ReplaceAllString(f[2], "")})
	}
	return syms
}

type loadSeg struct{ off, vaddr, filesz uint64 }

func readelfLoads(t testing.TB, path string) []loadSeg {
	t.Helper()
	out, err := exec.Command("readelf", "-lW", path).Output()
	if err != nil {
		t.Fatalf("readelf -lW %s: %v", path, err)
	}
	var segs []loadSeg
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != "LOAD" {
			continue
		}
		p := func(s string) uint64 {
			v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
			if err != nil {
				t.Fatalf("readelf LOAD line %q: %v", line, err)
			}
			return v
		}
		segs = append(segs, loadSeg{off: p(f[1]), vaddr: p(f[2]), filesz: p(f[4])})
	}
	if len(segs) == 0 {
		t.Fatalf("no LOAD segments from readelf -lW %s", path)
	}
	return segs
}

// readelfFDEs counts distinct non-empty FDE start addresses.
func readelfFDEs(t testing.TB, path string) int {
	t.Helper()
	out, err := exec.Command("readelf", "--debug-dump=frames", path).Output()
	if err != nil {
		t.Fatalf("readelf --debug-dump=frames %s: %v", path, err)
	}
	re := regexp.MustCompile(` FDE cie=\S+ pc=([0-9a-f]+)\.\.([0-9a-f]+)`)
	starts := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		if m[1] != m[2] && strings.Trim(m[1], "0") != "" {
			starts[m[1]] = true
		}
	}
	return len(starts)
}

// objdumpFirst returns objdump's first instruction at vaddr, whitespace
// collapsed ("push %rbp").
func objdumpFirst(t testing.TB, path string, vaddr uint64) string {
	t.Helper()
	out, err := exec.Command("objdump", "-d", "--no-show-raw-insn", "--no-addresses",
		"--start-address=0x"+strconv.FormatUint(vaddr, 16), "--stop-address=0x"+strconv.FormatUint(vaddr+16, 16), path).Output()
	if err != nil {
		t.Fatalf("objdump: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasSuffix(line, ":") || strings.Contains(line, "file format") || strings.HasPrefix(line, "Disassembly") {
			continue
		}
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		return strings.Join(strings.Fields(line), " ")
	}
	return ""
}

// checkAgainstTools verifies every probe point of a against nm, readelf and
// objdump: the same set of copies (addresses) as nm's matching functions,
// each raw symbol at its address, file offsets from the PT_LOAD segments,
// and the first instruction of a sample of copies.
func checkAgainstTools(t *testing.T, path string, a *Analysis) {
	t.Helper()
	raw := nmSymbols(t, path, false)
	dem := nmSymbols(t, path, true)
	loads := readelfLoads(t, path)
	rawAt := map[string]map[uint64]bool{}
	for _, s := range raw {
		if rawAt[s.name] == nil {
			rawAt[s.name] = map[uint64]bool{}
		}
		rawAt[s.name][s.addr] = true
	}
	offset := func(v uint64) uint64 {
		for _, l := range loads {
			if v >= l.vaddr && v < l.vaddr+l.filesz {
				return v - l.vaddr + l.off
			}
		}
		t.Fatalf("%#x in no LOAD segment", v)
		return 0
	}
	disasm := 0
	for _, p := range a.Probes {
		re := nmPatterns[p.ID]
		if re == nil {
			t.Fatalf("no nm pattern for %s", p.ID)
		}
		want := map[uint64]bool{}
		for _, s := range dem {
			if strings.ContainsRune("tTwWi", rune(s.typ)) && re.MatchString(s.name) {
				want[s.addr] = true
			}
		}
		got := map[uint64]bool{}
		for _, c := range p.Copies {
			got[c.Address] = true
			if !rawAt[llvmSuffix.ReplaceAllString(c.Symbol, "")][c.Address] {
				t.Errorf("%s: nm has no %s at %#x", p.ID, c.Symbol, c.Address)
			}
			if o := offset(c.Address); c.FileOffset != o {
				t.Errorf("%s: %s file offset %#x, readelf segments give %#x", p.ID, c.Demangled, c.FileOffset, o)
			}
			if c.Size == 0 || c.Entry == "" || c.FirstInsn == "" {
				t.Errorf("%s: incomplete copy %+v", p.ID, c)
			}
			if c.Emulated != (c.Entry == EntryPush || c.Entry == EntryNop || c.Entry == EntryBranch) {
				t.Errorf("%s: emulated %v but entry %s", p.ID, c.Emulated, c.Entry)
			}
			if disasm < 3 {
				disasm++
				if od := objdumpFirst(t, path, c.Address); od != strings.Join(strings.Fields(c.FirstInsn), " ") {
					t.Errorf("%s at %#x: first instruction %q, objdump %q", p.ID, c.Address, c.FirstInsn, od)
				}
			}
		}
		if !equalSets(got, want) {
			t.Errorf("%s: copies at %s, nm -C has %s", p.ID, hexSet(got), hexSet(want))
		}
		if p.Found != (len(p.Copies) > 0) || (!p.Found && p.Reason == "") {
			t.Errorf("%s: found %v with %d copies, reason %q", p.ID, p.Found, len(p.Copies), p.Reason)
		}
	}
}

func equalSets(a, b map[uint64]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func hexSet(s map[uint64]bool) string {
	var v []string
	for k := range s {
		v = append(v, "0x"+strconv.FormatUint(k, 16))
	}
	sort.Strings(v)
	return "[" + strings.Join(v, " ") + "]"
}
