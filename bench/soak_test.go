package main

import (
	"strings"
	"testing"
)

// The full bench and the soak share docs/performance.md: each rewrites
// its own part and keeps the other's.
func TestSoakSection(t *testing.T) {
	bench1 := "# Performance\n\nthroughput 1\n"
	bench2 := "# Performance\n\nthroughput 2\n"
	soak1 := soakBegin + "\n## Soak\n\nrun 1\n" + soakEnd + "\n"
	soak2 := soakBegin + "\n## Soak\n\nrun 2\n" + soakEnd + "\n"

	doc := withSoak(bench1, soak1) // first soak: appended
	if want := bench1 + "\n" + soak1; doc != want {
		t.Fatalf("soak into a bench report:\n%q\nwant\n%q", doc, want)
	}
	doc = withSoak(doc+"after\n", soak2) // a second soak replaces the first, text around it stays
	if want := bench1 + "\n" + soak2 + "after\n"; doc != want {
		t.Fatalf("soak again:\n%q\nwant\n%q", doc, want)
	}
	if got := soakSection(doc); got != soak2 {
		t.Fatalf("soakSection = %q, want %q", got, soak2)
	}
	doc = withSoak(bench2, soakSection(doc)) // make bench rewrites its part
	if !strings.Contains(doc, "throughput 2") || strings.Contains(doc, "throughput 1") || soakSection(doc) != soak2 {
		t.Fatalf("bench after a soak:\n%s", doc)
	}
	if got := withSoak(bench2, soakSection(bench2)); got != bench2 { // no soak yet: nothing added
		t.Fatalf("bench without a soak section:\n%q", got)
	}
	if got := withSoak("", soak1); got != soak1 {
		t.Fatalf("soak into no file: %q", got)
	}
}
