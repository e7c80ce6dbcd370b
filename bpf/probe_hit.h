// probe_hit.h: the one program behind every library probe that only
// reports its hit: hyper's head parsers (server and client, reqwest's
// through hyper's) and axum's router lookup (tonic's router too, which is
// axum's). What is specific to each library is data in user space's probe
// table: which symbol, which register holds a string.
//
// The program only reads: the first six argument registers and, when the
// attach cookie asks for it, a string argument (ptr, len) such as the path
// axum's router is asked to match. User space ties the hit to a connection
// by the thread's last read, so the program stays small and the cost per
// hit is the uprobe itself (about 1 us at an emulated push).
//
// Cookie: bits 0..31 index of the probe point in user space's table;
// bits 32..35 the argument register holding a string pointer, plus one
// (0: none); the string's length is in the next register.

#ifndef RUSTSCOPE_PROBE_HIT_H
#define RUSTSCOPE_PROBE_HIT_H

#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpf_tracing.h"

#include "maps.h"
#include "records.h"

static __always_inline int record_hit(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	if (!is_target(id))
		return 0;
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct probe_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	__builtin_memset(&e->head, 0, sizeof(e->head));
	head(&e->head, id, EV_PROBE);
	e->probe = (__u32)cookie;
	e->args[0] = PT_REGS_PARM1(ctx);
	e->args[1] = PT_REGS_PARM2(ctx);
	e->args[2] = PT_REGS_PARM3(ctx);
	e->args[3] = PT_REGS_PARM4(ctx);
	e->args[4] = PT_REGS_PARM5(ctx);
	e->args[5] = ctx->r9; // no PT_REGS_PARM6 in these headers
	__u64 ptr = 0, len = 0;
	switch ((cookie >> 32) & 0xf) {
	case 1: ptr = e->args[0]; len = e->args[1]; break;
	case 2: ptr = e->args[1]; len = e->args[2]; break;
	case 3: ptr = e->args[2]; len = e->args[3]; break;
	case 4: ptr = e->args[3]; len = e->args[4]; break;
	case 5: ptr = e->args[4]; len = e->args[5]; break;
	}
	__u32 n = len < PROBE_STR ? (__u32)len : PROBE_STR;
	if (ptr && n > 0 && n <= PROBE_STR) {
		if (bpf_probe_read_user(e->str, n, (void *)ptr) != 0)
			n = 0;
	} else {
		n = 0;
	}
	e->str_len = n;
	bpf_ringbuf_submit(e, wakeup_flag());
	return 0;
}

// Two attach types, one body: uprobe_multi links (kernel 6.6+) attach every
// point of a binary at once; single uprobes are the fallback.
SEC("uprobe")
int probe_hit(struct pt_regs *ctx)
{
	return record_hit(ctx);
}

SEC("uprobe.multi")
int probe_hit_multi(struct pt_regs *ctx)
{
	return record_hit(ctx);
}

#endif
