package session

import (
	"fmt"
	"testing"

	"github.com/rustscope/rustscope/tracer"
)

// TestSessionBatches: spans come out in batches in the order they were
// pushed, the oldest dropped and counted past the buffer.
func TestSessionBatches(t *testing.T) {
	tests := []struct {
		name        string
		cap         int
		pushes      []int // spans pushed before each take
		want        [][]uint32
		wantDropped uint64
	}{
		{"one batch", 10, []int{3}, [][]uint32{{0, 1, 2}}, 0},
		{"batches keep order", 10, []int{2, 0, 3}, [][]uint32{{0, 1}, nil, {2, 3, 4}}, 0},
		{"past the buffer the oldest go", 2, []int{4, 1}, [][]uint32{{2, 3}, {4}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &session{cap: tt.cap}
			next := uint32(0)
			for i, n := range tt.pushes {
				for range n {
					s.push(tracer.Span{PID: next})
					next++
				}
				var got []uint32
				for _, sp := range s.take() {
					got = append(got, sp.PID)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want[i]) {
					t.Errorf("batch %d: %v, want %v", i, got, tt.want[i])
				}
			}
			if s.dropped != tt.wantDropped {
				t.Errorf("dropped %d, want %d", s.dropped, tt.wantDropped)
			}
		})
	}
}

// BenchmarkSessionBatch is the UI path's cost of one span between the
// tracer and the UI: pushed into a session, taken with its 100 ms batch
// (500 spans: 5,000/s).
func BenchmarkSessionBatch(b *testing.B) {
	s := &session{cap: 10000}
	sp := tracer.Span{Name: "GET /users/:id"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.push(sp)
		if i%500 == 499 {
			s.take()
		}
	}
}
