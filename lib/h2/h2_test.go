package h2

import "testing"

func TestStreamRef(t *testing.T) {
	const id = 7
	lo, hi := uint64(0xdead<<32|id), uint64(id<<32|0xbeef)
	for _, tc := range []struct {
		name    string
		keys    []uint64
		half    int
		trusted bool
	}{
		{"low half, enough samples", []uint64{lo, lo, lo, lo}, 0, true},
		{"high half, enough samples", []uint64{hi, hi, hi, hi}, 1, true},
		{"too few samples", []uint64{lo, lo, lo}, 0, false},
		{"halves disagree", []uint64{lo, lo, lo, lo, hi}, 0, false},
		{"a key that names no half", []uint64{lo, lo, lo, lo, 0x1234}, 0, false},
		{"both halves name it: no evidence", []uint64{id<<32 | id, id<<32 | id, id<<32 | id, id<<32 | id}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r StreamRef
			for _, k := range tc.keys {
				r.Learn(k, id)
			}
			half, _, ok := r.Trusted()
			if ok != tc.trusted || ok && half != tc.half {
				t.Fatalf("Trusted() = half %d, %v; want %d, %v", half, ok, tc.half, tc.trusted)
			}
			if ok && StreamID(tc.keys[0], half) != id {
				t.Fatalf("StreamID(%#x, %d) = %d, want %d", tc.keys[0], half, StreamID(tc.keys[0], half), id)
			}
		})
	}
}
