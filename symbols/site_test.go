package symbols

import (
	"encoding/hex"
	"testing"
)

// TestEmulatedSite: where a probe on a function whose first instruction is
// single-stepped can go instead.
func TestEmulatedSite(t *testing.T) {
	for _, tc := range []struct {
		name string
		code string // hex
		off  int
		args int
		ok   bool
	}{
		{
			// tokio::runtime::task::waker::wake_by_ref, release axum test
			// app (tokio 1.x, rustc 1.95): sub/mov/lea, a CAS loop, then
			// "test %sil,%sil; je" once per wake; a panic path writes rdi
			// and ends the function with a call that does not return.
			name: "tokio wake_by_ref",
			code: "4883ec18488b07488d4c2408488d5424106666666666662e0f1f840000000000a806741c31f64989c94531c04d8901837c240801743aeb440f1f840000000000a801400f94c6750b4885c078444c8d4044eb074989c04983c80448c7442408010000004989d14d8901837c240801750c4c8b442410f04c0fb10775a44084f6740b488b47104883c418ff60084883c418c3488d3d3281d4ff488d15a9130800be2f000000ff156e490800",
			off:  0x7f, args: 1, ok: true,
		},
		{
			// sub; loop: dec %rax; jne loop; add; ret: the only emulated
			// instruction runs once per iteration.
			name: "only in a loop",
			code: "4883ec0848ffc875fb4883c408c3",
		},
		{
			// sub; xor %rdi,%rdi; nop; add; ret
			name: "first argument overwritten",
			code: "4883ec084831ff904883c408c3",
			off:  7, args: 0, ok: true,
		},
		{
			// sub; test %rdi,%rdi; je L; add; ret; L: nop; add; ret
			name: "a branch every call passes",
			code: "4883ec084885ff74054883c408c3904883c408c3",
			off:  7, args: 6, ok: true,
		},
		{
			// sub; jmp *%rax (a tail call); nop; ret: nothing emulated on
			// the way out.
			name: "tail call first",
			code: "4883ec08ffe090c3",
		},
		{
			// sub; call f; nop; ret: the call is emulated, registers as
			// they were before it.
			name: "a call",
			code: "4883ec08e80000000090c3",
			off:  4, args: 6, ok: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, err := hex.DecodeString(tc.code)
			if err != nil {
				t.Fatal(err)
			}
			off, d, args, ok := emulatedSite(code, 0x1000)
			if ok != tc.ok || ok && (off != tc.off || args != tc.args) {
				t.Errorf("emulatedSite = %#x (%s), %d args, %v; want %#x, %d args, %v", off, d.text, args, ok, tc.off, tc.args, tc.ok)
			}
		})
	}
}
