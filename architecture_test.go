package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestArchitecture holds docs/architecture.md's package map against the
// code: every package is drawn, every import between two drawn nodes is an
// arrow, and every arrow is an import. A node whose folder ends in "/..."
// stands for the folder and every package below it.
func TestArchitecture(t *testing.T) {
	doc, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := bytes.Cut(doc, []byte("<!-- package map -->\n```mermaid\n"))
	if !ok {
		t.Fatal("docs/architecture.md: no mermaid block after <!-- package map -->")
	}
	block, _, _ = bytes.Cut(block, []byte("```"))
	nodeRE := regexp.MustCompile(`(\w+)\["([^"]+)"\]`)
	edgeRE := regexp.MustCompile(`^\s*(\w+)(?:\["[^"]*"\])?\s*-->\s*(\w+)`)
	folders := map[string]string{} // node id -> folder
	drawn := map[[2]string]bool{}
	for _, line := range strings.Split(string(block), "\n") {
		for _, m := range nodeRE.FindAllStringSubmatch(line, -1) {
			folders[m[1]] = m[2]
		}
		if m := edgeRE.FindStringSubmatch(line); m != nil {
			drawn[[2]string{m[1], m[2]}] = true
		}
	}
	node := func(pkg string) string {
		best, bestLen := "", -1
		for id, f := range folders {
			tree, sub := strings.CutSuffix(f, "/...")
			if (pkg == f || sub && (pkg == tree || strings.HasPrefix(pkg, tree+"/"))) && len(f) > bestLen {
				best, bestLen = id, len(f)
			}
		}
		return best
	}

	const module = "github.com/rustscope/rustscope"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	used := map[[2]string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		rel := func(p string) string {
			if p == module {
				return "."
			}
			return strings.TrimPrefix(p, module+"/")
		}
		from := node(rel(f[0]))
		if from == "" {
			t.Errorf("package %s is not in the package map", rel(f[0]))
			continue
		}
		for _, imp := range f[1:] {
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := node(rel(imp))
			if to == "" || to == from {
				continue
			}
			used[[2]string{from, to}] = true
			if !drawn[[2]string{from, to}] {
				t.Errorf("%s imports %s: draw %s --> %s", rel(f[0]), rel(imp), from, to)
			}
		}
	}
	for e := range drawn {
		if !used[e] {
			t.Errorf("the map draws %s --> %s, but %s imports nothing of %s", e[0], e[1], folders[e[0]], folders[e[1]])
		}
	}
}
