package symbols

import (
	"bytes"

	"golang.org/x/arch/x86/x86asm"
)

// How the x86-64 kernel handles a uprobe's displaced instruction. When the
// breakpoint fires, the kernel either emulates the original instruction
// (cheap: about 1 us per uprobe+uretprobe pair on this machine) or copies
// it to an out-of-line slot and single-steps it (a second trap: about
// 10 us). Some instructions make the uprobe fail to register at all.
//
// What this relies on (arch/x86/kernel/uprobes.c, Linux 6.18, the kernel of
// this project's machines; unchanged in this respect since 5.x apart from
// the nop rule noted below):
//
//   - arch_uprobe_analyze_insn first validates the instruction
//     (uprobe_init_insn): the prefixes 0x26/0x2e/0x36/0x3e (segment) and
//     0xf0 (lock) are refused, as are opcodes missing from the
//     good_insns_64 / good_2byte_insns tables (int3, int, hlt, in/out,
//     syscall, ...). Refused = the probe cannot be attached there.
//   - branch_setup_xol_ops emulates: the kernel's own nops (an exact match
//     of x86_nops[len], lengths 1..11: 90, 66 90, 0f 1f 00, 0f 1f 40 00,
//     0f 1f 44 00 00, 66 0f 1f 44 00 00, 0f 1f 80 00000000,
//     0f 1f 84 00 00000000, and the 9-11 byte forms with 2e/66 prefixes,
//     which validation refuses first because of the 2e prefix); any
//     0x90 with prefixes ("prefix* + nop"); jmp rel8/rel32 (eb, e9);
//     call rel32 (e8); jcc rel8/rel32 (70-7f, 0f 80-8f). A 0x66 prefix
//     on a branch is refused (-ENOTSUPP).
//   - push_setup_xol_ops emulates push %reg: 50-57 alone, or 41 50-57
//     (push %r8-%r15) with exactly that REX prefix. Other encodings
//     (48 50, ...) are single-stepped.
//   - Everything else is single-stepped out of line (mov, sub, lea, ...).
//
// Newer kernels only widen this: 6.19 recognises more nops (any NOPL
// 0f 1f /0, mov %reg,%reg, lea 0(%reg),%reg, jmp +0) and stops treating
// "pause" and REX.B 90 as nops; since 6.18 a 5-byte nop can be patched
// into a call to a uprobe trampoline (faster still). Jiri Olsa's series to
// emulate mov reg,reg and others in prologues was still an RFC in late
// 2025. So "emulated" here is a safe statement for 6.18 and later.

// Entry kinds (ProbeCopy.Entry).
const (
	EntryPush       = "push"        // emulated push %reg
	EntryNop        = "nop"         // emulated nop
	EntryBranch     = "branch"      // emulated jmp/call/jcc
	EntrySingleStep = "single-step" // executed out of line: slow
	EntryRefused    = "refused"     // uprobe registration fails
	EntryUnknown    = "unknown"     // not decoded (not x86-64, unreadable)
)

// x86Nops are the kernel's x86_nops[1..11] for 64-bit (asm/nops.h).
var x86Nops = [][]byte{
	{0x90},
	{0x66, 0x90},
	{0x0f, 0x1f, 0x00},
	{0x0f, 0x1f, 0x40, 0x00},
	{0x0f, 0x1f, 0x44, 0x00, 0x00},
	{0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00},
	{0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00},
	{0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
	{0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
	{0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
	{0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
}

// goodInsns64 and good2ByteInsns are the kernel's good_insns_64 and
// good_2byte_insns tables (Linux 6.x): one row of 16 per line, 1 = allowed.
var goodInsns64 = bitTable(
	"1111110011111101", // 00
	"1111110011111100", // 10
	"1111111011111110", // 20
	"1111111011111110", // 30
	"1111111111111111", // 40 (REX: decoded as a prefix before this check)
	"1111111111111111", // 50
	"0001111111110000", // 60
	"1111111111111111", // 70
	"1101111111111111", // 80
	"1111111111011111", // 90
	"1111111111111111", // a0
	"1111111111111111", // b0
	"1111111111110000", // c0
	"1111000111111111", // d0
	"1111000011010000", // e0
	"1011011111001111", // f0
)

var good2ByteInsns = bitTable(
	"0011100000101111", // 00
	"1111111111111111", // 10
	"1111111111111111", // 20
	"0111001011111111", // 30
	"1111111111111111", // 40
	"1111111111111111", // 50
	"1111111111111111", // 60
	"1111111100111111", // 70
	"1111111111111111", // 80
	"1111111111111111", // 90
	"1111111111111101", // a0
	"1111111111111111", // b0
	"1111111111111111", // c0
	"1111111111111111", // d0
	"1111111111111111", // e0
	"1111111111111111", // f0
)

func bitTable(rows ...string) (t [256]bool) {
	for r, row := range rows {
		for c := 0; c < 16; c++ {
			t[r*16+c] = row[c] == '1'
		}
	}
	return t
}

// decodedInsn is the first instruction of a function.
type decodedInsn struct {
	text     string // AT&T syntax, as objdump prints it
	length   int
	entry    string
	emulated bool
	why      string // for refused / single-step: what the kernel does
}

// classifyEntry decodes the instruction at the start of code (the first
// bytes of a function at virtual address pc) and says how a uprobe there
// behaves on x86-64 Linux 6.18+.
func classifyEntry(code []byte, pc uint64) decodedInsn {
	if bytes.HasPrefix(code, []byte{0xf3, 0x0f, 0x1e, 0xfa}) {
		// endbr64 (CET): x86asm does not know it. Allowed, not a nop for
		// the kernel (0f 1e), so single-stepped.
		return decodedInsn{text: "endbr64", length: 4, entry: EntrySingleStep,
			why: "endbr64 is executed out of line (single-stepped)"}
	}
	inst, err := x86asm.Decode(code, 64)
	if err != nil || inst.Len == 0 {
		return decodedInsn{entry: EntryUnknown, why: "cannot decode the first instruction"}
	}
	d := decodedInsn{text: x86asm.GNUSyntax(inst, pc, nil), length: inst.Len}
	b := code[:inst.Len]

	// Split prefixes, REX and opcode like the kernel's insn decoder.
	i := 0
	var prefixes []byte
	for i < len(b) && isLegacyPrefix(b[i]) {
		prefixes = append(prefixes, b[i])
		i++
	}
	var rex byte
	if i < len(b) && b[i]&0xf0 == 0x40 {
		rex = b[i]
		i++
	}
	if i >= len(b) {
		d.entry, d.why = EntryUnknown, "prefixes only"
		return d
	}
	op1 := b[i]
	var op2 byte
	twoByte := op1 == 0x0f && i+1 < len(b)
	if twoByte {
		op2 = b[i+1]
	}

	// 1. Validation (uprobe_init_insn).
	for _, p := range prefixes {
		switch p {
		case 0x26, 0x2e, 0x36, 0x3e, 0xf0:
			d.entry, d.why = EntryRefused, "the kernel refuses segment and lock prefixes"
			return d
		}
	}
	if !goodInsns64[op1] && !(twoByte && good2ByteInsns[op2]) {
		d.entry, d.why = EntryRefused, "opcode not allowed for uprobes"
		return d
	}

	// 2. branch_setup_xol_ops: nops and relative branches.
	if inst.Len <= len(x86Nops) && bytes.Equal(b, x86Nops[inst.Len-1]) || op1 == 0x90 {
		d.entry, d.emulated = EntryNop, true
		return d
	}
	isBranch := false
	switch {
	case op1 == 0xeb || op1 == 0xe9 || op1 == 0xe8:
		isBranch = true
	case op1 >= 0x70 && op1 <= 0x7f:
		isBranch = true
	case twoByte && op2 >= 0x80 && op2 <= 0x8f:
		isBranch = true
	}
	if isBranch {
		if bytes.IndexByte(prefixes, 0x66) >= 0 {
			d.entry, d.why = EntryRefused, "16-bit branch (0x66 prefix) is refused"
			return d
		}
		d.entry, d.emulated = EntryBranch, true
		return d
	}

	// 3. push_setup_xol_ops: push %reg.
	if op1 >= 0x50 && op1 <= 0x57 && len(prefixes) == 0 {
		switch {
		case inst.Len == 1:
			d.entry, d.emulated = EntryPush, true
			return d
		case inst.Len == 2 && rex == 0x41:
			d.entry, d.emulated = EntryPush, true
			return d
		}
	}

	// 4. Everything else: single-stepped out of line.
	d.entry, d.why = EntrySingleStep, "executed out of line with a second trap (about 10x slower than an emulated push/nop)"
	return d
}

func isLegacyPrefix(c byte) bool {
	switch c {
	case 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3:
		return true
	}
	return false
}
