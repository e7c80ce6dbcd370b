package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/pprof/profile"
)

// cpuProfile is a CPU profile whose samples have the given stacks (leaf
// first) and nanoseconds.
func cpuProfile(samples map[int64][]string) *profile.Profile {
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}}}
	fns := map[string]*profile.Function{}
	for ns, stack := range samples {
		s := &profile.Sample{Value: []int64{1, ns}}
		for _, name := range stack {
			fn := fns[name]
			if fn == nil {
				fn = &profile.Function{ID: uint64(len(fns) + 1), Name: name}
				fns[name] = fn
				p.Function = append(p.Function, fn)
			}
			loc := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: fn}}}
			p.Location = append(p.Location, loc)
			s.Location = append(s.Location, loc)
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

func TestProfileAreas(t *testing.T) {
	p := cpuProfile(map[int64][]string{
		// Allocation inside the encoder is allocation; the encoder inside
		// the export is encoding; the collector wherever it runs.
		40: {"google.golang.org/protobuf/internal/impl.(*MessageInfo).marshal", "github.com/rustscope/rustscope/export.(*otlpExporter).export"},
		30: {"runtime.mallocgc", "google.golang.org/protobuf/proto.MarshalOptions.marshal", "github.com/rustscope/rustscope/export.(*otlpExporter).export"},
		20: {"runtime.gcDrain", "runtime.gcBgMarkWorker"},
		5:  {"github.com/rustscope/rustscope/tracer/http1.(*Parser).Feed", "github.com/rustscope/rustscope/tracer.(*assembler).handle", "github.com/rustscope/rustscope/tracer.(*Tracer).Run"},
		3:  {"syscall.Syscall6", "github.com/cilium/ebpf/ringbuf.(*Reader).ReadInto", "github.com/rustscope/rustscope/tracer.(*Tracer).Run"},
		2:  {"log/slog.(*Logger).Info"},
	})
	want := map[string]float64{
		"OTLP protobuf encoding": 0.40,
		"memory allocation":      0.30,
		"garbage collection (background marking and sweeping, assists)": 0.20,
		"HTTP/1 and HTTP/2 parsing":                                     0.05,
		"reading the ring buffer (epoll, copies)":                       0.03,
		"other (runtime, the log, the stop watch)":                      0.02,
	}
	// Through the encoded form, as the bench reads rustscope's file.
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cpu.prof")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readProfileAreas(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("areas %+v, want %v", got, want)
	}
	for i, a := range got {
		if w, ok := want[a.name]; !ok || math.Abs(a.share-w) > 1e-9 {
			t.Errorf("area %q share %v, want %v", a.name, a.share, w)
		}
		if i > 0 && a.share > got[i-1].share {
			t.Errorf("areas not largest first: %+v", got)
		}
	}
}
