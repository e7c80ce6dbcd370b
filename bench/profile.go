// Where rustscope's own CPU goes: a Go CPU profile of the zero-loss phase
// (headless at the highest rate the bench drives), summed by what the
// code does, so the report can say where the time per span goes.

package main

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// profileArea is a share of rustscope's CPU profile.
type profileArea struct {
	name  string
	share float64 // of all samples, 0..1
}

// areas name what a sample's stack is doing, in the order they are tried:
// the first whose rule matches any frame (leaf first) takes the sample.
// Allocation and the collector come first: they are what the rest costs
// beyond its own work, wherever it allocates.
var areas = []struct {
	name string
	in   func(fn string) bool
}{
	{"garbage collection (background marking and sweeping, assists)", func(fn string) bool {
		return strings.HasPrefix(fn, "runtime.gc") || strings.HasPrefix(fn, "runtime.bgsweep") || strings.HasPrefix(fn, "runtime.bgscavenge") ||
			strings.HasPrefix(fn, "runtime.markroot") || strings.HasPrefix(fn, "runtime.scanobject")
	}},
	{"memory allocation", func(fn string) bool { return fn == "runtime.mallocgc" || strings.HasPrefix(fn, "runtime.growslice") }},
	{"OTLP protobuf encoding", func(fn string) bool { return strings.HasPrefix(fn, "google.golang.org/protobuf/") }},
	{"OTLP sending (gRPC, HTTP/2, compression)", func(fn string) bool {
		return strings.HasPrefix(fn, "google.golang.org/grpc") || strings.HasPrefix(fn, "golang.org/x/net/http2") || strings.HasPrefix(fn, "compress/")
	}},
	{"OTLP messages built from spans", func(fn string) bool { return strings.Contains(fn, "rustscope/export.") }},
	{"reading the ring buffer (epoll, copies)", func(fn string) bool { return strings.HasPrefix(fn, "github.com/cilium/ebpf/ringbuf") }},
	{"HTTP/1 and HTTP/2 parsing", func(fn string) bool {
		return strings.Contains(fn, "rustscope/tracer/http1.") || strings.Contains(fn, "rustscope/tracer/http2.") || strings.HasPrefix(fn, "golang.org/x/net/http2/hpack")
	}},
	{"events to spans (connections, exchanges, links)", func(fn string) bool { return strings.Contains(fn, "rustscope/tracer.") }},
	{"scheduler and idle", func(fn string) bool {
		return strings.HasPrefix(fn, "runtime.schedule") || strings.HasPrefix(fn, "runtime.findRunnable") || strings.HasPrefix(fn, "runtime.mcall") ||
			strings.HasPrefix(fn, "runtime.park_m") || strings.HasPrefix(fn, "runtime.netpoll")
	}},
}

// readProfileAreas sums the CPU profile at path by area; what no area
// takes is "other".
func readProfileAreas(path string) ([]profileArea, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("parse cpu profile: %w", err)
	}
	return profileAreas(p), nil
}

// profileAreas sums p's CPU samples by area, largest first.
func profileAreas(p *profile.Profile) []profileArea {
	vi := len(p.SampleType) - 1 // cpu nanoseconds, after the sample count
	sums := make([]float64, len(areas)+1)
	var total float64
	for _, s := range p.Sample {
		v := float64(s.Value[vi])
		total += v
		sums[sampleArea(s)] += v
	}
	if total == 0 {
		return nil
	}
	var out []profileArea
	for i, v := range sums {
		name := "other (runtime, the log, the stop watch)"
		if i < len(areas) {
			name = areas[i].name
		}
		if v > 0 {
			out = append(out, profileArea{name: name, share: v / total})
		}
	}
	slices.SortStableFunc(out, func(a, b profileArea) int { return cmp.Compare(b.share, a.share) })
	return out
}

// sampleArea is the index in areas of the first area any of s's frames
// is in, len(areas) for none.
func sampleArea(s *profile.Sample) int {
	for i, a := range areas {
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				if l.Function != nil && a.in(l.Function.Name) {
					return i
				}
			}
		}
	}
	return len(areas)
}
