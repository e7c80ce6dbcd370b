package symbols

import (
	"bytes"
	"strconv"
	"strings"
)

// rustcReleases maps the commit of each stable rustc release (the hash in
// /rustc/<hash>/ paths that std's panic locations embed) to its version.
// Stripped binaries keep those paths even when .comment is gone.
//
// Every entry was checked: 1.93.1 and 1.95.0 against the toolchains on the
// build machine (rustc -vV, and the .comment of rustup's own binary); the
// others against published `rustc -vV` output (commit-hash line next to the
// release line) or, for 1.71.0/1.71.1/1.72.1/1.74.0, the short hash printed
// by `rustc --version` together with /rustc/<full hash>/ paths. A release
// missing here leaves the version unknown but the commit reported. To add
// one: `rustc +1.xx.y -vV | grep commit-hash`.
var rustcReleases = map[string]string{
	"90c541806f23a127002de5b4038be731ba1458ca": "1.70.0",
	"8ede3aae28fe6e4d52b38157d7bfe0d3bceef225": "1.71.0",
	"eb26296b556cef10fb713a38f3d16b9886080f26": "1.71.1",
	"5680fa18feaa87f3ff04063800aec256c3d4b4be": "1.72.0",
	"d5c2e9c342b358556da91d61ed4133f6f50fc0c3": "1.72.1",
	"cc66ad468955717ab92600c770da8c1601a4ff33": "1.73.0",
	"79e9716c980570bfd1f666e3b16ac583f0168962": "1.74.0",
	"a28077b28a02b92985b3a3faecf92813155f1ea1": "1.74.1",
	"82e1608dfa6e0b5569232559e3d385fea5a93112": "1.75.0",
	"07dca489ac2d933c78d3c5158e3f43beefeb02ce": "1.76.0",
	"aedd173a2c086e558c2b66d3743b344f977621a7": "1.77.0",
	"7cf61ebde7b22796c69757901dd346d0fe70bd97": "1.77.1",
	"25ef9e3d85d934b27d9dada2f9dd52b1dc63bb04": "1.77.2",
	"9b00956e56009bab2aa15d7bff10916599e3d6d6": "1.78.0",
	"129f3b9964af4d4a709d1383930ade12dfe7c081": "1.79.0",
	"051478957371ee0084a7c0913941d2a8c4757bb9": "1.80.0",
	"3f5fd8dd41153bc5fdca9427e9e05be2c767ba23": "1.80.1",
	"eeb90cda1969383f56a2637cbd3037bdf598841c": "1.81.0",
	"f6e511eec7342f59a25f7c0534f1dbea00d01b14": "1.82.0",
	"90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf": "1.83.0",
	"9fc6b43126469e3858e2fe86cafb4f0fd5068869": "1.84.0",
	"e71f9a9a98b0faf423844bf0ba7438f29dc27d58": "1.84.1",
	"4d91de4e48198da2e33413efdcd9cd2cc0c46688": "1.85.0",
	"4eb161250e340c8f48f66e2b929ef4a5bed7c181": "1.85.1",
	"05f9846f893b09a1be1fc8560e33fc3c815cfecb": "1.86.0",
	"17067e9ac6d7ecb70e50f92c1944e545188d2359": "1.87.0",
	"6b00bc3880198600130e1cf62b8f8a93494488cc": "1.88.0",
	"29483883eed69d5fb4db01964cdf2af4d86e9cb2": "1.89.0",
	"1159e78c4747b02ef996e55082b704c09b970588": "1.90.0",
	"f8297e351a40c1439a467bbbb6879088047f50b3": "1.91.0",
	"ed61e7d7e242494fb7057f2657300d9e77bb4fcb": "1.91.1",
	"ded5c06cf21d2b93bffd5d884aa6e96934ee4234": "1.92.0",
	"254b59607d4417e9dffbc307138ae5c86280fe4c": "1.93.0",
	"01f6ddf7588f42ae2d7eb0a2f21d44e8e96674cf": "1.93.1",
	"4a4ef493e3a1488c6e321570238084b38948f6db": "1.94.0",
	"e408947bfd200af42db322daf0fadfe7e26d3bd1": "1.94.1",
	"59807616e1fa2540724bfbac14d7976d7e4a3860": "1.95.0",
}

// RustcVersionForCommit returns the stable release built from commit.
func RustcVersionForCommit(commit string) (string, bool) {
	v, ok := rustcReleases[strings.ToLower(commit)]
	return v, ok
}

// rustcFromComment finds "rustc version 1.95.0 (59807616e 2026-04-14)" in
// .comment and returns the version and the short commit hash (Debian's
// rustc writes no hash: "rustc version 1.85.0").
func rustcFromComment(b []byte) (version, shortHash string) {
	const marker = "rustc version "
	i := bytes.Index(b, []byte(marker))
	if i < 0 {
		return "", ""
	}
	rest := b[i+len(marker):]
	if j := bytes.IndexByte(rest, 0); j >= 0 {
		rest = rest[:j]
	}
	s := string(rest)
	v := s
	if j := strings.IndexByte(s, ' '); j >= 0 {
		v = s[:j]
	}
	if !isVersion(v) {
		return "", ""
	}
	if j := strings.Index(s, " ("); j >= 0 {
		h := s[j+2:]
		if k := strings.IndexAny(h, " )"); k >= 0 {
			h = h[:k]
		}
		if len(h) >= 7 && isHex(h) {
			shortHash = h
		}
	}
	return v, shortHash
}

// isVersion accepts "1.95.0" and "1.96.0-nightly" / "1.85.0-beta.2".
func isVersion(v string) bool {
	core, _, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || !isDigits(p) {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// scanStrings finds compiler and crate paths in b (.rodata). Panic
// locations are stored without separators, so each "/src/" is walked back
// to the directory name before it: ".../hyper-1.5.2/src/proto/h1/role.rs"
// whatever the prefix (~/.cargo/registry/src/index.crates.io-*/, vendor/,
// /usr/share/cargo/registry/).
func scanStrings(b []byte, a *Analysis) {
	seen := map[Crate]bool{}
	for _, c := range a.Crates {
		seen[c] = true
	}
	src := []byte("/src/")
	for i := 0; ; {
		j := bytes.Index(b[i:], src)
		if j < 0 {
			break
		}
		at := i + j
		i = at + len(src)
		// Walk back over the directory name; whatever precedes it (a '/',
		// the end of the previous string, a length byte) ends it.
		start := at - 1
		for start >= 0 && at-start <= 96 && isCrateDirByte(b[start]) {
			start--
		}
		if at-start > 96 || start == at-1 {
			continue
		}
		// A Rust source file must follow: ".../src/proto/h1/role.rs".
		if !rsFileFollows(b[at+len(src):]) {
			continue
		}
		if name, version, ok := splitCrateDir(string(b[start+1 : at])); ok {
			c := Crate{Name: name, Version: version, Source: "path"}
			if !seen[c] {
				seen[c] = true
				a.Crates = append(a.Crates, c)
			}
		}
	}
	if k := bytes.Index(b, []byte("/rustc/")); k >= 0 {
		for k >= 0 {
			h := b[k+len("/rustc/"):]
			if len(h) >= 41 && h[40] == '/' && isHex(string(h[:40])) {
				a.RustcCommit = string(h[:40])
				break
			}
			n := bytes.Index(b[k+1:], []byte("/rustc/"))
			if n < 0 {
				break
			}
			k += 1 + n
		}
	}
	if k := bytes.Index(b, []byte("/usr/src/rustc-")); k >= 0 {
		rest := b[k+len("/usr/src/rustc-"):]
		if e := bytes.IndexByte(rest, '/'); e > 0 && e < 32 && isVersion(string(rest[:e])) {
			a.debianRustc = string(rest[:e])
			if a.RustcVersion == "" {
				a.RustcVersion = a.debianRustc
			}
		}
	}
}

func isCrateDirByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '+'
}

// rsFileFollows reports whether b starts with a relative path to a Rust
// file ("proto/h1/role.rs"): path characters up to the first '.', which
// must start ".rs" (strings in .rodata are not NUL-separated, so anything
// may follow).
func rsFileFollows(b []byte) bool {
	for i := 0; i < len(b) && i < 160; i++ {
		c := b[i]
		if c == '.' {
			return i > 0 && i+2 < len(b) && b[i+1] == 'r' && b[i+2] == 's'
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '/') {
			return false
		}
	}
	return false
}

// splitCrateDir splits "hyper-util-0.1.10" into ("hyper-util", "0.1.10").
// The version is the last "-<digit>..." that parses as semver (with an
// optional -pre/+build suffix).
func splitCrateDir(dir string) (name, version string, ok bool) {
	if dir == "" || len(dir) > 96 {
		return "", "", false
	}
	for i := 0; i < len(dir); i++ {
		c := dir[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '+') {
			return "", "", false
		}
	}
	for i := 1; i < len(dir)-1; i++ {
		if dir[i] != '-' || dir[i+1] < '0' || dir[i+1] > '9' {
			continue
		}
		name, version = dir[:i], dir[i+1:]
		core := version
		if j := strings.IndexAny(core, "-+"); j >= 0 {
			core = core[:j]
		}
		parts := strings.Split(core, ".")
		if len(parts) != 3 || !isDigits(parts[0]) || !isDigits(parts[1]) || !isDigits(parts[2]) {
			continue
		}
		if strings.ContainsAny(name, ".+") || name[0] == '-' || name[len(name)-1] == '-' {
			return "", "", false
		}
		return name, version, true
	}
	return "", "", false
}

// compareVersions orders semver-ish strings numerically ("0.4.13" < "0.5.2",
// "" first). Pre-release suffixes sort before the release.
func compareVersions(x, y string) int {
	if x == y {
		return 0
	}
	xc, xpre, _ := strings.Cut(x, "-")
	yc, ypre, _ := strings.Cut(y, "-")
	xs, ys := strings.Split(xc, "."), strings.Split(yc, ".")
	for i := 0; i < max(len(xs), len(ys)); i++ {
		var xv, yv int
		if i < len(xs) {
			xv, _ = strconv.Atoi(xs[i])
		}
		if i < len(ys) {
			yv, _ = strconv.Atoi(ys[i])
		}
		if xv != yv {
			if xv < yv {
				return -1
			}
			return 1
		}
	}
	switch {
	case xpre == ypre:
		return strings.Compare(x, y)
	case xpre == "":
		return 1
	case ypre == "":
		return -1
	}
	return strings.Compare(xpre, ypre)
}

// versionMatches checks a version against a constraint: "" (any), ">=1",
// "<1", ">=0.14,<1" (comma = and).
func versionMatches(version, constraint string) bool {
	if constraint == "" {
		return true
	}
	if version == "" {
		return true // unknown version: do not rule the crate out
	}
	for _, c := range strings.Split(constraint, ",") {
		c = strings.TrimSpace(c)
		var op string
		for _, o := range []string{">=", "<=", ">", "<", "="} {
			if strings.HasPrefix(c, o) {
				op = o
				break
			}
		}
		want := strings.TrimSpace(c[len(op):])
		// Constraints compare release numbers only: 1.0.0-rc.1 is a 1.x.
		core, _, _ := strings.Cut(version, "-")
		core, _, _ = strings.Cut(core, "+")
		cmp := compareVersions(core, want)
		ok := false
		switch op {
		case ">=":
			ok = cmp >= 0
		case "<=":
			ok = cmp <= 0
		case ">":
			ok = cmp > 0
		case "<":
			ok = cmp < 0
		default:
			ok = cmp == 0
		}
		if !ok {
			return false
		}
	}
	return true
}
