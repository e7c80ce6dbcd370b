// elfImage: an ELF file read defensively (damaged headers clipped to the
// file), its sections, load segments and build-id.

package symbols

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// elfImage is an opened ELF file with the pieces the analysis needs.
type elfImage struct {
	r     io.ReaderAt
	f     *elf.File
	loads []elf.ProgHeader
	size  int64 // file size, -1 if unknown
}

// readerSize finds the size of r when it can tell.
func readerSize(r io.ReaderAt) int64 {
	switch v := r.(type) {
	case interface{ Size() int64 }:
		return v.Size()
	case *os.File:
		if st, err := v.Stat(); err == nil && st.Mode().IsRegular() {
			return st.Size()
		}
	}
	return -1
}

func openELF(r io.ReaderAt) (img *elfImage, err error) {
	// debug/elf panics on some malformed inputs; a bad file must be an
	// error, never a crash.
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("%w: %v", ErrMalformed, p)
		}
	}()
	var ident [elf.EI_NIDENT]byte
	if _, err := r.ReadAt(ident[:], 0); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: file too short for an ELF header", ErrNotELF)
		}
		return nil, fmt.Errorf("read ELF header: %w", err)
	}
	if !bytes.Equal(ident[:4], []byte(elf.ELFMAG)) {
		return nil, fmt.Errorf("%w: bad magic %q", ErrNotELF, ident[:4])
	}
	switch elf.Class(ident[elf.EI_CLASS]) {
	case elf.ELFCLASS64:
	case elf.ELFCLASS32:
		return nil, fmt.Errorf("%w: 32-bit ELF (ELFCLASS32); only 64-bit executables are supported", ErrUnsupported)
	default:
		return nil, fmt.Errorf("%w: unknown ELF class %d", ErrMalformed, ident[elf.EI_CLASS])
	}
	if elf.Data(ident[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return nil, fmt.Errorf("%w: big-endian ELF", ErrUnsupported)
	}
	f, err := elf.NewFile(r)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return nil, fmt.Errorf("parse ELF: %w", err)
	}
	img = &elfImage{r: r, f: f, size: readerSize(r)}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		h := p.ProgHeader
		// A segment's file bytes are only what the file holds: a damaged
		// header must not map addresses to offsets past its end (probes
		// would be placed there).
		if img.size >= 0 {
			if h.Off >= uint64(img.size) {
				continue
			}
			h.Filesz = min(h.Filesz, uint64(img.size)-h.Off)
		}
		img.loads = append(img.loads, h)
	}
	return img, nil
}

// section returns the contents of the named section, nil if absent or NOBITS.
func (img *elfImage) section(name string) (*elf.Section, []byte, error) {
	s := img.f.Section(name)
	if s == nil || s.Type == elf.SHT_NOBITS || s.Size == 0 {
		return s, nil, nil
	}
	b, err := img.sectionData(s)
	if err != nil {
		return s, nil, fmt.Errorf("%w: read %s: %v", ErrMalformed, name, err)
	}
	return s, b, nil
}

// sectionData reads a section after checking it lies inside the file (a
// corrupt header must not make us allocate what the file cannot hold).
func (img *elfImage) sectionData(s *elf.Section) ([]byte, error) {
	if img.size >= 0 && s.Flags&elf.SHF_COMPRESSED == 0 && (s.Offset > uint64(img.size) || s.Size > uint64(img.size)-s.Offset) {
		return nil, fmt.Errorf("section %s [%#x, +%#x) beyond the end of the file (%d bytes)", s.Name, s.Offset, s.Size, img.size)
	}
	return sectionData(s)
}

// maxSection bounds what one section may make us allocate (fuzzed headers
// can claim terabytes).
const maxSection = 1 << 30

func sectionData(s *elf.Section) ([]byte, error) {
	if s.Flags&elf.SHF_COMPRESSED != 0 {
		if s.Size > 64<<20 {
			return nil, fmt.Errorf("compressed section %s too large", s.Name)
		}
		return s.Data()
	}
	if s.Size > maxSection {
		return nil, fmt.Errorf("section %s too large (%d bytes)", s.Name, s.Size)
	}
	b := make([]byte, s.Size)
	n, err := s.ReadAt(b, 0)
	if n == len(b) {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}

// fileOffset converts a virtual address to the file offset uprobes want:
// st_value - p_vaddr + p_offset of the PT_LOAD segment containing it.
func (img *elfImage) fileOffset(vaddr uint64) (uint64, bool) {
	for _, p := range img.loads {
		if vaddr >= p.Vaddr && vaddr < p.Vaddr+p.Filesz {
			return vaddr - p.Vaddr + p.Off, true
		}
	}
	return 0, false
}

func (img *elfImage) executable(vaddr uint64) bool {
	for _, p := range img.loads {
		if p.Flags&elf.PF_X != 0 && vaddr >= p.Vaddr && vaddr < p.Vaddr+p.Filesz {
			return true
		}
	}
	return false
}

func (img *elfImage) buildID() string {
	// The note section first; PT_NOTE segments when section headers lie.
	if s := img.f.Section(".note.gnu.build-id"); s != nil && s.Type == elf.SHT_NOTE && s.Size <= 4096 {
		if b, err := img.sectionData(s); err == nil {
			if id := parseBuildIDNote(b); id != "" {
				return id
			}
		}
	}
	for _, p := range img.f.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > 1<<16 {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := img.r.ReadAt(b, int64(p.Off)); err != nil {
			continue
		}
		if id := parseBuildIDNote(b); id != "" {
			return id
		}
	}
	return ""
}

// parseBuildIDNote finds an NT_GNU_BUILD_ID note ("GNU\0", type 3).
func parseBuildIDNote(b []byte) string {
	for len(b) >= 12 {
		namesz := binary.LittleEndian.Uint32(b[0:])
		descsz := binary.LittleEndian.Uint32(b[4:])
		typ := binary.LittleEndian.Uint32(b[8:])
		b = b[12:]
		nameEnd := align4(uint64(namesz))
		descEnd := nameEnd + align4(uint64(descsz))
		if nameEnd > uint64(len(b)) || descEnd > uint64(len(b)) {
			return ""
		}
		name := b[:namesz]
		desc := b[nameEnd : nameEnd+uint64(descsz)]
		if typ == 3 && string(bytes.TrimRight(name, "\x00")) == "GNU" && len(desc) > 0 {
			return fmt.Sprintf("%x", desc)
		}
		b = b[descEnd:]
	}
	return ""
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }
