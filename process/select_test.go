package process

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rustscope/rustscope/symbols"
)

// matching lists the PIDs under proc that sel selects.
func matching(t *testing.T, proc string, sel *Selector) []int {
	t.Helper()
	ents, err := os.ReadDir(proc)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && sel.Match(filepath.Join(proc, e.Name())) != nil {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

// TestSelectorExe: the exe link names the path, also with " (deleted)";
// another executable does not match; the link may be the path as a
// container sees it, found through /proc/PID/root. A glob matches the
// link's path.
func TestSelectorExe(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "bin", "app")
	os.MkdirAll(filepath.Dir(app), 0o755)
	os.WriteFile(app, []byte("x"), 0o755)
	other := filepath.Join(dir, "bin", "other")
	os.WriteFile(other, []byte("y"), 0o755)

	proc := filepath.Join(dir, "proc")
	mk := func(pid, link string, root string) {
		d := filepath.Join(proc, pid)
		os.MkdirAll(d, 0o755)
		if err := os.Symlink(link, filepath.Join(d, "exe")); err != nil {
			t.Fatal(err)
		}
		if root != "" {
			os.Symlink(root, filepath.Join(d, "root"))
		}
	}
	mk("10", app, "")
	mk("11", app+" (deleted)", "")
	mk("12", other, "")
	// A container: it sees the binary as /bin/app under its root (dir).
	mk("13", "/bin/app", dir)
	os.MkdirAll(filepath.Join(proc, "self-not-a-pid"), 0o755)
	os.MkdirAll(filepath.Join(proc, "14"), 0o755) // no exe link: kernel thread

	for _, tc := range []struct {
		exe  string
		want []int
	}{
		{app, []int{10, 11, 13}},
		{filepath.Join(dir, "bin", "*"), []int{10, 11, 12}},
		{filepath.Join(dir, "*", "app"), []int{10, 11}},
		{"/bin/ap?", []int{13}},
		{filepath.Join(dir, "bin", "[o]*"), []int{12}},
	} {
		if got := matching(t, proc, newSelector(t, nil, Target{Exe: tc.exe})); !slices.Equal(got, tc.want) {
			t.Errorf("exe %s: selected %v, want %v", tc.exe, got, tc.want)
		}
	}
}

// TestSelectorRealProc finds the test binary itself in /proc, by path and
// by glob; --all does not select it (Go, not Rust).
func TestSelectorRealProc(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	self := filepath.Join("/proc", strconv.Itoa(os.Getpid()))
	for _, sel := range []*Selector{newSelector(t, nil, Target{Exe: exe}), newSelector(t, nil, Target{Exe: filepath.Join(filepath.Dir(exe), "*")})} {
		if sel.Match(self) == nil {
			t.Errorf("%s: own process not selected", sel)
		}
	}
	cache := symbols.NewCache(4, symbols.Options{})
	if newSelector(t, cache.Analyze, Target{}).Match(self) != nil {
		t.Errorf("--all selected the Go test binary")
	}
}

// fakeProc builds a /proc tree under dir: each process has an exe link,
// a cmdline, a mount namespace and, when given, cgroup and mountinfo
// files. "self" is rustscope's mount namespace.
type fakeProcess struct {
	pid       string
	exe       string
	cmdline   []string
	mntNS     string
	cgroup    string
	mountinfo string
}

func fakeProc(t *testing.T, selfNS string, procs ...fakeProcess) string {
	t.Helper()
	proc := filepath.Join(t.TempDir(), "proc")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(old, new string) {
		os.MkdirAll(filepath.Dir(new), 0o755)
		if err := os.Symlink(old, new); err != nil {
			t.Fatal(err)
		}
	}
	link(selfNS, filepath.Join(proc, "self", "ns", "mnt"))
	for _, p := range procs {
		d := filepath.Join(proc, p.pid)
		link(p.exe, filepath.Join(d, "exe"))
		link(p.mntNS, filepath.Join(d, "ns", "mnt"))
		write(filepath.Join(d, "cmdline"), strings.Join(p.cmdline, "\x00")+"\x00")
		if p.cgroup != "" {
			write(filepath.Join(d, "cgroup"), p.cgroup)
		}
		if p.mountinfo != "" {
			write(filepath.Join(d, "mountinfo"), p.mountinfo)
		}
	}
	return proc
}

// rustApps returns the paths of release test apps (appPath).
func rustApps(t *testing.T, apps ...string) []string {
	t.Helper()
	var paths []string
	for _, a := range apps {
		paths = append(paths, appPath(t, "release", a))
	}
	return paths
}

const (
	idDocker = "4f1c0e6b9a2d8c7e5f3a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e"
	idK8s    = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"
	idMount  = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
)

// TestSelectorTargets: each selector of a configuration file's targets,
// alone and together, on a fake /proc whose executables are the real
// test apps (so crate selectors read real binaries), and the first
// matching target wins.
func TestSelectorTargets(t *testing.T) {
	apps := rustApps(t, "axum-server", "hyper-server", "tonic-client")
	goBin, err := os.Executable() // not Rust
	if err != nil {
		t.Fatal(err)
	}
	proc := fakeProc(t, "mnt:[1]",
		fakeProcess{pid: "20", exe: apps[0], cmdline: []string{apps[0], "--listen", "127.0.0.1:0"}, mntNS: "mnt:[2]",
			cgroup: "0::/system.slice/docker-" + idDocker + ".scope\n"},
		fakeProcess{pid: "21", exe: apps[1], cmdline: []string{"hyper-server", "--port", "80"}, mntNS: "mnt:[3]",
			cgroup: "12:memory:/kubepods/burstable/pod0b6e7a52-1c3d-4e5f-8a9b-0c1d2e3f4a5b/" + idK8s + "\n0::/\n"},
		fakeProcess{pid: "22", exe: apps[2], cmdline: []string{apps[2], "--addr", "http://127.0.0.1:50051"}, mntNS: "mnt:[1]",
			cgroup: "0::/user.slice\n"},
		fakeProcess{pid: "23", exe: goBin, cmdline: []string{"go-service", "--addr", "x"}, mntNS: "mnt:[4]",
			cgroup: "0::/system.slice/docker-" + idDocker + ".scope\n"},
		fakeProcess{pid: "24", exe: apps[1], cmdline: []string{"hyper-server"}, mntNS: "mnt:[5]", cgroup: "0::/\n",
			mountinfo: "612 600 8:1 /var/lib/docker/containers/" + idMount + "/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw\n"},
	)
	cache := symbols.NewCache(8, symbols.Options{})
	for _, tc := range []struct {
		name string
		t    Target
		want []int
	}{
		{"all: Rust with an instrumented crate", Target{}, []int{20, 21, 22, 24}},
		{"crate", Target{Crate: "axum"}, []int{20}},
		{"crate in several", Target{Crate: "tonic"}, []int{20, 22}}, // the axum app links tonic too
		{"crate absent", Target{Crate: "rocket"}, nil},
		{"crate spelt with _", Target{Crate: "axum_core"}, []int{20}}, // axum-core
		{"cmdline", Target{Cmdline: `\s--addr\s`}, []int{22}},         // 23 too, but it is not Rust
		{"cmdline anchored", Target{Cmdline: `^hyper-server( |$)`}, []int{21, 24}},
		{"cmdline and crate", Target{Cmdline: `--listen`, Crate: "tonic"}, []int{20}},
		{"exe takes any program", Target{Exe: goBin, Cmdline: `--addr`}, []int{23}},
		{"exe glob", Target{Exe: filepath.Join(filepath.Dir(apps[0]), "*-server")}, []int{20, 21, 24}},
		{"in a container", Target{Container: &Container{Other: true}}, []int{20, 21, 24}},
		{"outside containers", Target{Container: &Container{}}, []int{22}},
		{"docker ID prefix", Target{Container: &Container{ID: idDocker[:12]}}, []int{20}},
		{"docker ID and exe", Target{Exe: goBin, Container: &Container{ID: idDocker}}, []int{23}},
		{"kubernetes ID", Target{Container: &Container{ID: idK8s[:5]}}, []int{21}},
		{"ID from mounts", Target{Container: &Container{ID: idMount}}, []int{24}},
		{"ID no match", Target{Container: &Container{ID: "ffff"}}, nil},
		{"all selectors", Target{Exe: apps[1], Cmdline: `80`, Crate: "hyper", Container: &Container{ID: idK8s}}, []int{21}},
	} {
		if got := matching(t, proc, newSelector(t, cache.Analyze, tc.t)); !slices.Equal(got, tc.want) {
			t.Errorf("%s (%s): selected %v, want %v", tc.name, tc.t, got, tc.want)
		}
	}

	// The first target that matches names the service.
	sel := newSelector(t, cache.Analyze, Target{Crate: "tonic", ServiceName: "grpc"}, Target{Container: &Container{Other: true}, ServiceName: "boxed"}, Target{ServiceName: "rest"})
	got := map[string]string{}
	for _, pid := range []string{"20", "21", "22", "23", "24"} {
		if m := sel.Match(filepath.Join(proc, pid)); m != nil {
			got[pid] = m.ServiceName
		}
	}
	if want := map[string]string{"20": "grpc", "21": "boxed", "22": "grpc", "24": "boxed"}; !maps.Equal(got, want) {
		t.Errorf("services by pid %v, want %v", got, want)
	}
}

// TestContainerID: the ID as each runtime writes it in /proc/PID/cgroup,
// the innermost when nested, else from the mounts; none for a host process.
func TestContainerID(t *testing.T) {
	for _, tc := range []struct{ name, cgroup, mountinfo, want string }{
		{"docker cgroup v2", "0::/system.slice/docker-" + idDocker + ".scope\n", "", idDocker},
		{"docker cgroup v1", "12:pids:/docker/" + idDocker + "\n11:memory:/docker/" + idDocker + "\n", "", idDocker},
		{"kubernetes containerd", "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-" + idK8s + ".scope\n", "", idK8s},
		{"cri-o", "0::/kubepods/burstable/pod0b6e7a52-1c3d-4e5f-8a9b-0c1d2e3f4a5b/crio-" + idK8s + ".scope\n", "", idK8s},
		{"podman", "0::/machine.slice/libpod-" + idK8s + ".scope/container\n", "", idK8s},
		{"nested: innermost", "0::/docker/" + idDocker + "/docker/" + idK8s + "\n", "", idK8s},
		{"private cgroup namespace: mounts", "0::/\n", "1 0 8:1 /var/lib/docker/containers/" + idMount + "/resolv.conf /etc/resolv.conf rw - ext4 /dev/sda1 rw\n", idMount},
		{"podman mounts", "0::/\n", "1 0 0:5 /containers/storage/overlay-containers/" + idMount + "/userdata/hostname /etc/hostname rw - tmpfs tmpfs rw\n", idMount},
		{"host", "0::/user.slice/user-0.slice/session-1.scope\n", "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n", ""},
		{"short hex is no ID", "4:memory:/process_api/7b9231cfa245aa79a43922fda0f6215c\n", "", ""},
	} {
		proc := fakeProc(t, "mnt:[1]", fakeProcess{pid: "1", exe: "/bin/x", mntNS: "mnt:[2]", cgroup: tc.cgroup, mountinfo: tc.mountinfo})
		if got := containerID(filepath.Join(proc, "1")); got != tc.want {
			t.Errorf("%s: container ID %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestSelectorRealProcesses: crate, cmdline and container selectors on
// real processes: the axum app, and the hyper app in a mount namespace of
// its own (unshare -m), as a container has.
func TestSelectorRealProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root and the Rust test apps: skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (unshare -m) in CI")
		}
		t.Skip("needs root (unshare -m)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) not installed")
	}
	apps := rustApps(t, "axum-server", "hyper-server")
	axum := exec.Command(apps[0], "--listen", "127.0.0.1:0")
	boxed := exec.Command("unshare", "--mount", "--propagation", "private", apps[1], "--listen", "127.0.0.1:0")
	for _, c := range []*exec.Cmd{axum, boxed} {
		startWait(t, c, "listening on")
	}
	dir := func(c *exec.Cmd) string { return "/proc/" + strconv.Itoa(c.Process.Pid) }
	cache := symbols.NewCache(4, symbols.Options{})
	for _, tc := range []struct {
		t          Target
		axum, hypr bool
	}{
		{Target{}, true, true},
		{Target{Crate: "axum"}, true, false},
		{Target{Crate: "hyper"}, true, true},
		{Target{Container: &Container{Other: true}}, false, true},
		{Target{Container: &Container{Other: false}, Crate: "hyper"}, true, false},
		{Target{Cmdline: `hyper-server --listen 127\.0\.0\.1:0$`}, false, true},
		{Target{Cmdline: `^\S+/axum-server --listen`, Container: &Container{}}, true, false},
	} {
		sel := newSelector(t, cache.Analyze, tc.t)
		if got := sel.Match(dir(axum)) != nil; got != tc.axum {
			t.Errorf("%s: axum app selected %v, want %v", tc.t, got, tc.axum)
		}
		if got := sel.Match(dir(boxed)) != nil; got != tc.hypr {
			t.Errorf("%s: hyper app in its own mount namespace selected %v, want %v", tc.t, got, tc.hypr)
		}
	}
}

// newSelector is NewSelector of targets, which must compile.
func newSelector(t *testing.T, analyze func(string) (*symbols.Analysis, error), targets ...Target) *Selector {
	t.Helper()
	s, err := NewSelector(targets, analyze)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
