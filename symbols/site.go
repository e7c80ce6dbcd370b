package symbols

import (
	"slices"

	"golang.org/x/arch/x86/x86asm"
)

// A uprobe at an instruction the kernel single-steps costs about ten times
// one at an instruction it emulates (insn.go). When a function starts with
// such an instruction (sub $n,%rsp, mov), a probe that only reads argument
// registers can go instead at a later instruction the kernel emulates,
// provided that every call passes it exactly once before returning and
// that the registers it reads still hold what the caller passed.
// tokio's wake_by_ref is one: its prologue is sub/mov/lea, its CAS loop
// follows, and the conditional jump after the loop is taken once per wake.

// maxSiteCode bounds the bytes of a function searched for a site.
const maxSiteCode = 4096

// argRegs are the System V x86-64 argument registers, in order, each with
// the narrower names of the same register.
var argRegs = [][]x86asm.Reg{
	{x86asm.RDI, x86asm.EDI, x86asm.DI, x86asm.DIB},
	{x86asm.RSI, x86asm.ESI, x86asm.SI, x86asm.SIB},
	{x86asm.RDX, x86asm.EDX, x86asm.DX, x86asm.DL, x86asm.DH},
	{x86asm.RCX, x86asm.ECX, x86asm.CX, x86asm.CL, x86asm.CH},
	{x86asm.R8, x86asm.R8L, x86asm.R8W, x86asm.R8B},
	{x86asm.R9, x86asm.R9L, x86asm.R9W, x86asm.R9B},
}

// site is an instruction of a function, decoded.
type site struct {
	off  int
	inst x86asm.Inst
	succ []int // indices of the instructions that may run next
	exit bool  // may leave the function (ret, tail jump, unknown flow)
}

// emulatedSite finds, in the code of a function at pc, the first
// instruction other than the entry that the kernel emulates and that
// every path from the entry to a return passes exactly once (paths that
// end in a trap, a panic, are not counted). args is how many leading
// argument registers no instruction before it can have changed. ok is
// false when there is no such instruction or the code cannot be followed.
func emulatedSite(code []byte, pc uint64) (off int, d decodedInsn, args int, ok bool) {
	if len(code) > maxSiteCode {
		return 0, d, 0, false
	}
	insts, ok := decodeFunc(code)
	if !ok {
		return 0, d, 0, false
	}
	for c := 1; c < len(insts); c++ {
		d = classifyEntry(code[insts[c].off:], pc+uint64(insts[c].off))
		if !d.emulated {
			continue
		}
		before, ok := reachAvoiding(insts, 0, c)
		if !ok || reaches(insts, insts[c].succ, c) {
			continue // a return without passing it, or passed again
		}
		on := leadingTo(insts, before, c)
		if !on[0] {
			continue // not reached
		}
		return insts[c].off, d, intactArgs(insts, on), true
	}
	return 0, d, 0, false
}

// decodeFunc decodes code linearly and links each instruction to those
// that may follow it.
func decodeFunc(code []byte) ([]site, bool) {
	var insts []site
	at := map[int]int{} // offset -> index
	for off := 0; off < len(code); {
		inst, err := x86asm.Decode(code[off:], 64)
		if err != nil || inst.Len == 0 {
			return nil, false
		}
		at[off] = len(insts)
		insts = append(insts, site{off: off, inst: inst})
		off += inst.Len
	}
	for i := range insts {
		s := &insts[i]
		next := s.off + s.inst.Len
		fall := func() {
			switch j, ok := at[next]; {
			case ok:
				s.succ = append(s.succ, j)
			case s.inst.Op != x86asm.CALL:
				s.exit = true
			} // a call last in the function does not return (a panic)
		}
		target := func() {
			rel, isRel := s.inst.Args[0].(x86asm.Rel)
			j, inside := at[next+int(rel)]
			if isRel && inside {
				s.succ = append(s.succ, j)
			} else {
				s.exit = true // a tail call, or a jump we cannot follow
			}
		}
		switch op := s.inst.Op; {
		case op == x86asm.RET || op == x86asm.LRET || op == x86asm.IRET:
			s.exit = true
		case op == x86asm.INT || op == x86asm.UD1 || op == x86asm.UD2 || op == x86asm.HLT:
			// A trap: the end of a panic path.
		case op == x86asm.JMP:
			target()
		case isCondJump(op):
			target()
			fall()
		default:
			fall()
		}
	}
	return insts, true
}

func isCondJump(op x86asm.Op) bool {
	switch op {
	case x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JCXZ, x86asm.JE, x86asm.JECXZ, x86asm.JG, x86asm.JGE,
		x86asm.JL, x86asm.JLE, x86asm.JNE, x86asm.JNO, x86asm.JNP, x86asm.JNS, x86asm.JO, x86asm.JP, x86asm.JRCXZ,
		x86asm.JS, x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE:
		return true
	}
	return false
}

// reachAvoiding returns the instructions reachable from start without
// passing avoid; ok is false when one of them may leave the function
// (avoid is then not on every path to a return).
func reachAvoiding(insts []site, start, avoid int) (seen []bool, ok bool) {
	seen = make([]bool, len(insts))
	stack := []int{start}
	seen[start] = true
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if insts[i].exit {
			return nil, false
		}
		for _, j := range insts[i].succ {
			if j != avoid && !seen[j] {
				seen[j] = true
				stack = append(stack, j)
			}
		}
	}
	return seen, true
}

// reaches says whether c can be reached from any of from.
func reaches(insts []site, from []int, c int) bool {
	seen := make([]bool, len(insts))
	stack := slices.Clone(from)
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i == c {
			return true
		}
		if seen[i] {
			continue
		}
		seen[i] = true
		stack = append(stack, insts[i].succ...)
	}
	return false
}

// leadingTo returns which instructions of set lie on a path to c: the
// ones whose writes matter there (a panic path's do not).
func leadingTo(insts []site, set []bool, c int) []bool {
	on := make([]bool, len(insts))
	for changed := true; changed; {
		changed = false
		for i, in := range set {
			if !in || on[i] {
				continue
			}
			for _, j := range insts[i].succ {
				if j == c || on[j] {
					on[i], changed = true, true
					break
				}
			}
		}
	}
	return on
}

// intactArgs is how many leading argument registers no instruction of set
// writes.
func intactArgs(insts []site, set []bool) int {
	n := len(argRegs)
	for i, in := range set {
		if in {
			n = min(n, firstWritten(insts[i].inst))
		}
	}
	return n
}

// regIndex is the index of the argument register a is (or a part of),
// len(argRegs) when it is none (another register, memory).
func regIndex(a x86asm.Arg) int {
	r, ok := a.(x86asm.Reg)
	if !ok {
		return len(argRegs)
	}
	for k, names := range argRegs {
		if slices.Contains(names, r) {
			return k
		}
	}
	return len(argRegs)
}

// firstWritten is the index of the first argument register inst may
// write, len(argRegs) if none. Unsure means written.
func firstWritten(inst x86asm.Inst) int {
	switch inst.Op {
	case x86asm.CMP, x86asm.TEST, x86asm.PUSH, x86asm.BT, x86asm.NOP, x86asm.JMP:
		return len(argRegs)
	case x86asm.XCHG, x86asm.XADD:
		return min(regIndex(inst.Args[0]), regIndex(inst.Args[1]))
	case x86asm.MOV, x86asm.MOVZX, x86asm.MOVSX, x86asm.MOVSXD, x86asm.LEA, x86asm.ADD, x86asm.SUB, x86asm.AND,
		x86asm.OR, x86asm.XOR, x86asm.POP, x86asm.INC, x86asm.DEC, x86asm.NEG, x86asm.NOT, x86asm.SHL, x86asm.SHR,
		x86asm.SAR, x86asm.ROL, x86asm.ROR, x86asm.IMUL, x86asm.SETE, x86asm.SETNE, x86asm.CMOVE, x86asm.CMOVNE,
		x86asm.MOVUPS, x86asm.MOVAPS, x86asm.MOVQ, x86asm.MOVD, x86asm.CMPXCHG:
		if inst.Op == x86asm.IMUL && inst.Args[1] == nil {
			return 0 // one operand: writes rdx
		}
		return regIndex(inst.Args[0]) // cmpxchg also writes rax: not an argument
	}
	if isCondJump(inst.Op) && inst.Op != x86asm.LOOP && inst.Op != x86asm.LOOPE && inst.Op != x86asm.LOOPNE {
		return len(argRegs)
	}
	return 0 // calls, string operations, anything else: assume the worst
}
