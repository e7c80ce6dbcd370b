package tracer

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rustscope/rustscope/probe"
	"github.com/rustscope/rustscope/symbols"
)

// Shared libraries a library's probes go in (probe.Want.Object, OpenSSL's
// libssl): the executable itself where it links the library statically
// and names its functions; else the file the process maps, read through its root so that a
// process in a container is served the file it runs. A process attached
// as it starts may not have mapped it yet: then the file its loader will
// map, by the executable's DT_NEEDED name in the usual directories. A
// uprobe is placed on the file, so it applies once the file is mapped.

// libDirs are where the loader looks for a library with no path, on the
// distributions rustscope meets (ld.so.cache names the same files).
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"}

// sharedPoints finds wants, those of the shared library whose file name
// begins with obj, in the one tg maps (or will map), or in its executable:
// the file to place them in, where that is for people, and the points.
func sharedPoints(tg *Target, obj string, wants []probe.Want) (file, where string, points []symbols.ProbePoint, err error) {
	path, err := mappedObject(tg.PID, obj)
	if err != nil {
		return "", "", nil, err
	}
	var own []probe.Want
	for _, w := range wants {
		if w.Object == obj {
			own = append(own, w)
		}
	}
	if path == "" && staticallyLinked(tg.Analysis, own) {
		// Linked into the executable, with its symbols.
		exe := fmt.Sprintf("/proc/%d/exe", tg.PID)
		points, err := symbols.SharedPoints(exe, own)
		return exe, obj + " linked into the executable", points, err
	}
	if path == "" {
		name, ok := tg.Analysis.Loads(obj)
		if !ok {
			return "", "", nil, fmt.Errorf("%s is linked statically without its symbols (its functions are not named)", obj)
		}
		for _, d := range libDirs {
			if _, err := os.Stat(procPath(tg.PID, filepath.Join(d, name))); err == nil {
				path = filepath.Join(d, name)
				break
			}
		}
		if path == "" {
			return "", "", nil, fmt.Errorf("%s is neither mapped nor in %s", name, strings.Join(libDirs, ", "))
		}
	}
	points, err = symbols.SharedPoints(procPath(tg.PID, path), own)
	return procPath(tg.PID, path), path, points, err
}

// staticallyLinked says whether the executable analysed as a defines every
// required one of wants itself.
func staticallyLinked(a *symbols.Analysis, wants []probe.Want) bool {
	for _, w := range wants {
		if w.Required && !slices.ContainsFunc(w.Match, func(n string) bool { return slices.Contains(a.Defines, n) }) {
			return false
		}
	}
	return len(a.Defines) > 0
}

// mappedObject is the path of the file pid maps whose name begins with
// prefix, "" when none.
func mappedObject(pid uint32, prefix string) (string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return "", fmt.Errorf("read mappings: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// address perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.HasPrefix(fields[5], "/") {
			continue
		}
		path := strings.Join(fields[5:], " ")
		if strings.HasPrefix(filepath.Base(path), prefix) && !strings.HasSuffix(path, "(deleted)") {
			return path, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read mappings: %w", err)
	}
	return "", nil
}

// procPath is path as process pid sees it, through its root.
func procPath(pid uint32, path string) string {
	return fmt.Sprintf("/proc/%d/root%s", pid, path)
}
