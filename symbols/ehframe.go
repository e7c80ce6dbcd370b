package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Function boundaries from .eh_frame: every function that can unwind (all
// Rust functions do; panic=abort builds keep tables by default too) has a
// Frame Description Entry with its start address and length. This works on
// fully stripped binaries, where .symtab is gone; a split debug file then
// names the functions, and the FDEs confirm the addresses.

// funcRange is one function: [Start, Start+Size).
type funcRange struct {
	Start, Size uint64
}

// DWARF exception-header pointer encodings (LSB 10.6.1.1).
const (
	pePtr     = 0x00 // absptr: native pointer size
	peULEB128 = 0x01
	peUdata2  = 0x02
	peUdata4  = 0x03
	peUdata8  = 0x04
	peSLEB128 = 0x09
	peSdata2  = 0x0a
	peSdata4  = 0x0b
	peSdata8  = 0x0c

	pePCRel   = 0x10
	peTextRel = 0x20
	peDataRel = 0x30
	peFuncRel = 0x40
	peAligned = 0x50

	peIndirect = 0x80
	peOmit     = 0xff
)

var errEHFrame = errors.New("bad .eh_frame")

// ehReader decodes values at offsets inside one section.
type ehReader struct {
	b    []byte
	addr uint64 // virtual address of b[0]
	text uint64 // .text address, for DW_EH_PE_textrel
	data uint64 // base for DW_EH_PE_datarel (.eh_frame_hdr: its own address)
}

// uleb reads an unsigned LEB128, which is what encoding/binary calls a
// uvarint.
func (r *ehReader) uleb(p int) (uint64, int, error) {
	if p < 0 || p >= len(r.b) {
		return 0, p, errEHFrame
	}
	v, n := binary.Uvarint(r.b[p:])
	if n <= 0 {
		return 0, p, errEHFrame
	}
	return v, p + n, nil
}

func (r *ehReader) sleb(p int) (int64, int, error) {
	var v int64
	var shift uint
	for i := 0; i < 10; i++ {
		if p >= len(r.b) {
			return 0, p, errEHFrame
		}
		c := r.b[p]
		p++
		v |= int64(c&0x7f) << shift
		shift += 7
		if c < 0x80 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, p, nil
		}
	}
	return 0, p, errEHFrame
}

func (r *ehReader) fixed(p, n int) (uint64, error) {
	if p < 0 || p+n > len(r.b) {
		return 0, errEHFrame
	}
	switch n {
	case 2:
		return uint64(binary.LittleEndian.Uint16(r.b[p:])), nil
	case 4:
		return uint64(binary.LittleEndian.Uint32(r.b[p:])), nil
	case 8:
		return binary.LittleEndian.Uint64(r.b[p:]), nil
	}
	return 0, errEHFrame
}

// pointer decodes an encoded pointer at p. applyBase=false decodes only the
// value format (FDE pc_range uses the format of the pc_begin encoding but
// is never relative).
func (r *ehReader) pointer(p int, enc byte, applyBase bool) (uint64, int, error) {
	if enc == peOmit {
		return 0, p, nil
	}
	start := p
	var v uint64
	var err error
	switch enc & 0x0f {
	case pePtr, peUdata8, peSdata8:
		v, err = r.fixed(p, 8)
		p += 8
	case peUdata4:
		v, err = r.fixed(p, 4)
		p += 4
	case peSdata4:
		v, err = r.fixed(p, 4)
		v = uint64(int64(int32(uint32(v))))
		p += 4
	case peUdata2:
		v, err = r.fixed(p, 2)
		p += 2
	case peSdata2:
		v, err = r.fixed(p, 2)
		v = uint64(int64(int16(uint16(v))))
		p += 2
	case peULEB128:
		v, p, err = r.uleb(p)
	case peSLEB128:
		var s int64
		s, p, err = r.sleb(p)
		v = uint64(s)
	default:
		return 0, p, fmt.Errorf("%w: pointer encoding %#x", errEHFrame, enc)
	}
	if err != nil || !applyBase {
		return v, p, err
	}
	switch enc & 0x70 {
	case 0:
	case pePCRel:
		v += r.addr + uint64(start)
	case peTextRel:
		if r.text == 0 {
			return 0, p, fmt.Errorf("%w: textrel without .text", errEHFrame)
		}
		v += r.text
	case peDataRel:
		if r.data == 0 {
			return 0, p, fmt.Errorf("%w: datarel without a base", errEHFrame)
		}
		v += r.data
	default: // funcrel, aligned: not used for FDE pc_begin
		return 0, p, fmt.Errorf("%w: pointer application %#x", errEHFrame, enc&0x70)
	}
	if enc&peIndirect != 0 {
		return 0, p, fmt.Errorf("%w: indirect pointer", errEHFrame)
	}
	return v, p, nil
}

// cieInfo is what FDEs need from their CIE.
type cieInfo struct {
	fdeEnc byte
	augZ   bool // augmentation data length precedes FDE instructions
}

// parseEHFrame returns the function ranges described by the FDEs of an
// .eh_frame section loaded at addr.
func parseEHFrame(b []byte, addr, text uint64) ([]funcRange, error) {
	r := &ehReader{b: b, addr: addr, text: text}
	cies := map[int]cieInfo{}
	var out []funcRange
	for off := 0; off+4 <= len(b); {
		length := uint64(binary.LittleEndian.Uint32(b[off:]))
		if length == 0 { // terminator
			break
		}
		hdr, idSize := 4, 4
		if length == 0xffffffff {
			if off+12 > len(b) {
				return out, fmt.Errorf("%w: truncated 64-bit length at %#x", errEHFrame, off)
			}
			length = binary.LittleEndian.Uint64(b[off+4:])
			hdr, idSize = 12, 8
		}
		start := off + hdr
		if length > uint64(len(b)-start) || length < uint64(idSize) {
			return out, fmt.Errorf("%w: entry at %#x overruns the section", errEHFrame, off)
		}
		end := start + int(length)
		id, _ := r.fixed(start, idSize)
		if id == 0 { // CIE
			if _, ok := cies[off]; !ok {
				ci, err := parseCIE(r, start+idSize, end)
				if err != nil {
					return out, fmt.Errorf("CIE at %#x: %w", off, err)
				}
				cies[off] = ci
			}
			off = end
			continue
		}
		// FDE: the CIE pointer is relative to its own position.
		cieOff := start - int(id)
		ci, ok := cies[cieOff]
		if !ok {
			ci2, err := cieAt(r, cieOff)
			if err != nil {
				return out, fmt.Errorf("FDE at %#x: %w", off, err)
			}
			cies[cieOff] = ci2
			ci = ci2
		}
		p := start + idSize
		pcBegin, p, err := r.pointer(p, ci.fdeEnc, true)
		if err != nil {
			return out, fmt.Errorf("FDE at %#x: %w", off, err)
		}
		pcRange, _, err := r.pointer(p, ci.fdeEnc&0x0f, false)
		if err != nil {
			return out, fmt.Errorf("FDE at %#x: %w", off, err)
		}
		if pcBegin != 0 && pcRange != 0 && pcRange < 1<<32 {
			out = append(out, funcRange{Start: pcBegin, Size: pcRange})
		}
		off = end
	}
	return out, nil
}

// cieAt parses the CIE whose length field is at off (CIEs normally come
// before their FDEs; this handles the rest).
func cieAt(r *ehReader, off int) (cieInfo, error) {
	if off < 0 || off+8 > len(r.b) {
		return cieInfo{}, fmt.Errorf("%w: CIE pointer out of range", errEHFrame)
	}
	length := uint64(binary.LittleEndian.Uint32(r.b[off:]))
	hdr, idSize := 4, 4
	if length == 0xffffffff {
		if off+12 > len(r.b) {
			return cieInfo{}, errEHFrame
		}
		length = binary.LittleEndian.Uint64(r.b[off+4:])
		hdr, idSize = 12, 8
	}
	start := off + hdr
	if length > uint64(len(r.b)-start) || length < uint64(idSize) {
		return cieInfo{}, errEHFrame
	}
	if id, _ := r.fixed(start, idSize); id != 0 {
		return cieInfo{}, fmt.Errorf("%w: CIE pointer does not point at a CIE", errEHFrame)
	}
	return parseCIE(r, start+idSize, start+int(length))
}

func parseCIE(r *ehReader, p, end int) (cieInfo, error) {
	ci := cieInfo{fdeEnc: pePtr}
	if p >= end {
		return ci, errEHFrame
	}
	version := r.b[p]
	p++
	augStart := p
	for p < end && r.b[p] != 0 {
		p++
	}
	if p >= end {
		return ci, fmt.Errorf("%w: unterminated augmentation", errEHFrame)
	}
	aug := string(r.b[augStart:p])
	p++
	if len(aug) >= 2 && aug[:2] == "eh" {
		p += 8
	}
	var err error
	if _, p, err = r.uleb(p); err != nil { // code alignment
		return ci, err
	}
	if _, p, err = r.sleb(p); err != nil { // data alignment
		return ci, err
	}
	if version == 1 {
		p++ // return address register
	} else if _, p, err = r.uleb(p); err != nil {
		return ci, err
	}
	if len(aug) == 0 || aug[0] != 'z' {
		return ci, nil
	}
	ci.augZ = true
	augLen, p, err := r.uleb(p)
	if err != nil {
		return ci, err
	}
	augEnd := p + int(augLen)
	if augLen > uint64(end) || augEnd > end {
		return ci, fmt.Errorf("%w: augmentation data overruns CIE", errEHFrame)
	}
	for _, c := range aug[1:] {
		if p >= augEnd {
			break
		}
		switch c {
		case 'L': // LSDA encoding
			p++
		case 'P': // personality: encoding + pointer
			enc := r.b[p]
			p++
			if _, p, err = r.pointer(p, enc&0x0f, false); err != nil {
				return ci, err
			}
		case 'R':
			ci.fdeEnc = r.b[p]
			p++
		case 'S', 'B', 'G':
		default:
			// Unknown augmentation: the length lets us skip the rest, and
			// 'R' (the only one we need) normally comes before.
			p = augEnd
		}
	}
	return ci, nil
}

// parseEHFrameHdr reads the binary search table of .eh_frame_hdr: function
// start addresses only (no sizes). Used when .eh_frame cannot be parsed.
func parseEHFrameHdr(b []byte, addr uint64) ([]uint64, error) {
	if len(b) < 4 || b[0] != 1 {
		return nil, fmt.Errorf("%w: bad .eh_frame_hdr version", errEHFrame)
	}
	r := &ehReader{b: b, addr: addr, data: addr}
	framePtrEnc, countEnc, tableEnc := b[1], b[2], b[3]
	_, p, err := r.pointer(4, framePtrEnc, true)
	if err != nil {
		return nil, err
	}
	count, p, err := r.pointer(p, countEnc, true)
	if err != nil || countEnc == peOmit || tableEnc == peOmit {
		return nil, fmt.Errorf("%w: no search table", errEHFrame)
	}
	if count > uint64(len(b)) {
		return nil, fmt.Errorf("%w: fde_count %d too large", errEHFrame, count)
	}
	starts := make([]uint64, 0, count)
	for i := uint64(0); i < count; i++ {
		var loc uint64
		if loc, p, err = r.pointer(p, tableEnc, true); err != nil {
			return starts, err
		}
		if _, p, err = r.pointer(p, tableEnc, true); err != nil {
			return starts, err
		}
		starts = append(starts, loc)
	}
	return starts, nil
}

// functionsFromEHFrame lists distinct functions (by start address) in the
// executable segments, from .eh_frame, or .eh_frame_hdr as a fallback.
func functionsFromEHFrame(img *elfImage) ([]funcRange, error) {
	var text uint64
	if s := img.f.Section(".text"); s != nil {
		text = s.Addr
	}
	s, b, err := img.section(".eh_frame")
	if err != nil {
		return nil, err
	}
	var fdes []funcRange
	var perr error
	if b != nil {
		fdes, perr = parseEHFrame(b, s.Addr, text)
	}
	if len(fdes) == 0 {
		if hs, hb, err := img.section(".eh_frame_hdr"); err == nil && hb != nil {
			starts, herr := parseEHFrameHdr(hb, hs.Addr)
			for _, st := range starts {
				fdes = append(fdes, funcRange{Start: st})
			}
			if perr == nil {
				perr = herr
			}
		}
	}
	out := fdes[:0]
	for _, fr := range fdes {
		if img.executable(fr.Start) {
			out = append(out, fr)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	uniq := out[:0]
	for i, fr := range out {
		if i > 0 && fr.Start == out[i-1].Start {
			continue
		}
		uniq = append(uniq, fr)
	}
	if len(uniq) == 0 {
		return nil, perr
	}
	return uniq, nil
}
