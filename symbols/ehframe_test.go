package symbols

import (
	"encoding/binary"
	"errors"
	"testing"
)

// ehBuilder assembles .eh_frame sections for tests.
type ehBuilder struct{ b []byte }

func (e *ehBuilder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }

// cie appends a CIE with augmentation "zR" (fdeEnc) or "zPLR"; returns its offset.
func (e *ehBuilder) cie(fdeEnc byte, withPersonality bool, version byte) int {
	off := len(e.b)
	var body []byte
	body = binary.LittleEndian.AppendUint32(body, 0) // CIE id
	body = append(body, version)
	if withPersonality {
		body = append(body, "zPLR\x00"...)
	} else {
		body = append(body, "zR\x00"...)
	}
	body = append(body, 1, 0x78) // code align 1, data align -8
	if version == 1 {
		body = append(body, 16) // return address register (byte)
	} else {
		body = append(body, 16) // (uleb)
	}
	if withPersonality {
		body = append(body, 7)                                    // aug length
		body = append(body, 0x9b)                                 // P: indirect|pcrel|sdata4
		body = binary.LittleEndian.AppendUint32(body, 0x11223344) // personality
		body = append(body, 0x1b, fdeEnc)                         // L, R
	} else {
		body = append(body, 1, fdeEnc)
	}
	body = append(body, 0x0c, 7, 8) // DW_CFA_def_cfa rsp+8
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	e.u32(uint32(len(body)))
	e.b = append(e.b, body...)
	return off
}

// fde appends an FDE; pc is written by enc (pcrel relative to sectionAddr).
func (e *ehBuilder) fde(cieOff int, enc byte, sectionAddr, pc, size uint64, augData bool) {
	start := len(e.b) + 4
	var body []byte
	body = binary.LittleEndian.AppendUint32(body, uint32(start-cieOff))
	fieldAddr := sectionAddr + uint64(start+4)
	val := pc
	if enc&0x70 == pePCRel {
		val = pc - fieldAddr
	}
	switch enc & 0x0f {
	case peSdata4, peUdata4:
		body = binary.LittleEndian.AppendUint32(body, uint32(val))
		body = binary.LittleEndian.AppendUint32(body, uint32(size))
	case pePtr, peUdata8, peSdata8:
		body = binary.LittleEndian.AppendUint64(body, val)
		body = binary.LittleEndian.AppendUint64(body, size)
	case peULEB128:
		body = appendULEB(body, val)
		body = appendULEB(body, size)
	}
	if augData {
		body = append(body, 0)
	}
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	e.u32(uint32(len(body)))
	e.b = append(e.b, body...)
}

func appendULEB(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func TestParseEHFrameEncodings(t *testing.T) {
	const addr = 0x10000
	for _, tc := range []struct {
		name    string
		enc     byte
		version byte
		pers    bool
	}{
		{"pcrel sdata4 (what rustc/LLVM emit)", pePCRel | peSdata4, 1, false},
		{"absptr", pePtr, 1, false},
		{"udata4", peUdata4, 3, false},
		{"sdata8", peSdata8, 1, true},
		{"uleb128", peULEB128, 1, false},
		{"pcrel sdata4 with personality and LSDA", pePCRel | peSdata4, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e ehBuilder
			c := e.cie(tc.enc, tc.pers, tc.version)
			e.fde(c, tc.enc, addr, 0x401000, 0x40, true)
			e.fde(c, tc.enc, addr, 0x401040, 0x1c, true)
			e.fde(c, tc.enc, addr, 0, 0x10, true) // discarded function: pc 0
			e.u32(0)                              // terminator
			got, err := parseEHFrame(e.b, addr, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := []funcRange{{0x401000, 0x40}, {0x401040, 0x1c}}
			if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}

	// 64-bit DWARF length format.
	var e ehBuilder
	c := e.cie(pePCRel|peSdata4, false, 1)
	fdeStart := len(e.b)
	e.fde(c, pePCRel|peSdata4, addr, 0x500000, 0x20, true)
	// Rewrite that FDE with the 0xffffffff escape: length 8 bytes, id 8 bytes.
	body := e.b[fdeStart+8:]
	var b64 []byte
	b64 = append(b64, e.b[:fdeStart]...)
	b64 = binary.LittleEndian.AppendUint32(b64, 0xffffffff)
	idPos := len(b64) + 8
	var rest []byte
	rest = binary.LittleEndian.AppendUint64(rest, uint64(idPos-c))
	pcField := addr + uint64(idPos+8)
	rest = binary.LittleEndian.AppendUint32(rest, uint32(0x500000-pcField))
	rest = binary.LittleEndian.AppendUint32(rest, 0x20)
	rest = append(rest, body[8:]...)
	b64 = binary.LittleEndian.AppendUint64(b64, uint64(len(rest)))
	b64 = append(b64, rest...)
	got, err := parseEHFrame(b64, addr, 0)
	if err != nil || len(got) != 1 || got[0] != (funcRange{0x500000, 0x20}) {
		t.Errorf("64-bit FDE: %+v %v", got, err)
	}

	// Corrupt: a length running past the end, an FDE whose CIE pointer is
	// wrong, datarel without a base.
	bad := append([]byte(nil), e.b...)
	binary.LittleEndian.PutUint32(bad[0:], 0x7fffffff)
	if _, err := parseEHFrame(bad, addr, 0); !errors.Is(err, errEHFrame) {
		t.Errorf("overrun: %v", err)
	}
	var e2 ehBuilder
	c2 := e2.cie(pePCRel|peSdata4, false, 1)
	e2.fde(c2+4, pePCRel|peSdata4, addr, 0x1000, 0x10, true)
	if _, err := parseEHFrame(e2.b, addr, 0); err == nil {
		t.Error("bad CIE pointer accepted")
	}
	var e3 ehBuilder
	c3 := e3.cie(peDataRel|peSdata4, false, 1)
	e3.fde(c3, peDataRel|peSdata4, addr, 0x1000, 0x10, true)
	if _, err := parseEHFrame(e3.b, addr, 0); err == nil {
		t.Error("datarel without base accepted")
	}
}

func TestParseEHFrameHdr(t *testing.T) {
	const addr = 0x2000
	b := []byte{1, pePCRel | peSdata4, peUdata4, peDataRel | peSdata4}
	b = binary.LittleEndian.AppendUint32(b, 0x100) // eh_frame_ptr
	b = binary.LittleEndian.AppendUint32(b, 2)     // fde_count
	for _, loc := range []uint64{0x3000, 0x3100} {
		b = binary.LittleEndian.AppendUint32(b, uint32(loc-addr))
		b = binary.LittleEndian.AppendUint32(b, 0)
	}
	starts, err := parseEHFrameHdr(b, addr)
	if err != nil || len(starts) != 2 || starts[0] != 0x3000 || starts[1] != 0x3100 {
		t.Errorf("starts %x, %v", starts, err)
	}
	b[8] = 0xff // absurd count
	if _, err := parseEHFrameHdr(b, addr); err == nil {
		t.Error("absurd fde_count accepted")
	}
}
