package lib

import (
	"testing"

	"github.com/rustscope/rustscope/probe"
)

// The declarations hold together: IDs are unique, every probe names
// points its library wants, every want has a function to match and a
// purpose, and every probe says what it gives.
func TestDeclarations(t *testing.T) {
	ids := map[string]string{}
	shared := 0 // wants in a shared library, not the executable's manifest
	for _, l := range All {
		own := map[string]bool{}
		objects := map[string]bool{}
		for _, w := range l.Wants {
			if w.Object != "" {
				shared++
			}
			objects[w.Object] = true
			if prev, ok := ids[w.ID]; ok {
				t.Errorf("%s: want %s already declared by %s", l.Crate, w.ID, prev)
			}
			ids[w.ID], own[w.ID] = l.Crate, true
			if len(objects) > 1 {
				t.Errorf("%s: want %s: a library's wants are all in its executable or all in one shared library", l.Crate, w.ID)
			}
			if len(w.Match) == 0 || w.Purpose == "" || w.Group == "" || w.Crate == "" {
				t.Errorf("%s: want %s lacks a match, purpose, group or crate", l.Crate, w.ID)
			}
		}
		for i, u := range l.Uprobes {
			if len(u.Points) == 0 || u.Gives == "" || u.Program == 0 {
				t.Errorf("%s: uprobe %d lacks points, a program or what it gives", l.Crate, i)
			}
			for _, p := range u.Points {
				if !own[p] {
					t.Errorf("%s: uprobe %d names %s, which %s does not want", l.Crate, i, p, l.Crate)
				}
			}
			if (u.Program == probe.ProgHit) != (u.Hit != 0) {
				t.Errorf("%s: uprobe %d: a hit kind goes with the hit program, and only with it", l.Crate, i)
			}
		}
	}
	// Unless refers to a hit a library earlier in All gives.
	given := map[probe.Hit]bool{}
	for _, l := range All {
		for i, u := range l.Uprobes {
			if u.Unless != 0 && !given[u.Unless] {
				t.Errorf("%s: uprobe %d: Unless %d, which no library before %s gives", l.Crate, i, u.Unless, l.Crate)
			}
		}
		for _, u := range l.Uprobes {
			given[u.Hit] = true
		}
	}
	if got := len(Manifest()); got != len(ids)-shared {
		t.Errorf("Manifest has %d wants, the libraries %d in executables", got, len(ids)-shared)
	}
	for _, c := range []string{"axum", "hyper", "h2", "tonic", "reqwest"} {
		found := false
		for _, x := range Crates() {
			found = found || x == c
		}
		if !found {
			t.Errorf("Crates() %v lacks %s", Crates(), c)
		}
	}
}
