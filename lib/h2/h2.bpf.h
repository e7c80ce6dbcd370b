// h2.bpf.h: h2's probes: which stream a frame a task decodes belongs to,
// and which stream's response or body a task waits for (tasks.h).

#ifndef RUSTSCOPE_H2_BPF_H
#define RUSTSCOPE_H2_BPF_H

#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpf_tracing.h"

#include "maps.h"
#include "records.h"
#include "tasks.h"

// h2::codec::framed_read::decode_frame(.., bytes: BytesMut): h2 decodes one
// frame of a connection it has read; the next wakes of this poll deliver
// it. Only the frame's 9-byte header is read, the wire format, which no h2
// version changes. The BytesMut ({ptr, len, ..}) is passed by reference in
// one of the last argument registers, which depends on h2's version: each
// candidate is believed only when the header's length field plus 9 is the
// buffer's length. Frames that deliver to a stream's reader (DATA, HEADERS,
// CONTINUATION, RST_STREAM) set the stream; others clear it.
static __always_inline __u32 frame_stream(__u64 reg)
{
	struct { __u64 ptr, len; } b;
	__u8 h[9];
	if (bpf_probe_read_user(&b, sizeof(b), (void *)reg) != 0 || b.len < 9 || b.len > (16 << 20) + 9)
		return 0;
	if (bpf_probe_read_user(h, sizeof(h), (void *)b.ptr) != 0)
		return 0;
	__u64 n = (__u64)h[0] << 16 | (__u64)h[1] << 8 | h[2];
	if (n + 9 != b.len)
		return 0;
	switch (h[3]) {
	case 0: case 1: case 3: case 9: // DATA, HEADERS, RST_STREAM, CONTINUATION
		return ((__u32)(h[5] & 0x7f) << 24 | (__u32)h[6] << 16 | (__u32)h[7] << 8 | h[8]);
	}
	return 0;
}

SEC("uprobe.multi")
int h2_frame(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	struct task_cur *c = polling(id);
	if (!c)
		return 0;
	__u32 st = frame_stream(ctx->r9);
	if (!st)
		st = frame_stream(PT_REGS_PARM5(ctx));
	if (!st)
		st = frame_stream(PT_REGS_PARM4(ctx));
	c->frame_stream = st;
	return 0;
}

// <h2::client::ResponseFuture as Future>::poll(self, cx) (cookie 0): the
// polling task waits for the response of one stream (hyper's per-request
// response task does); h2::share::RecvStream::poll_data(self, cx) (cookie
// 1): the polling task reads a stream's body (the caller itself, through
// hyper's and tonic's body types). Both first instructions are pushes,
// emulated. Both types begin with h2's OpaqueStreamRef (h2 0.4: the
// connection's stream store Arc, then the stream's slab key with its id).
// A ResponseFuture's 16 bytes travel with the task's next wakes: the one
// that hands the response to the caller then names the call even when the
// response came before the task first polled, so that no frame woke it. A
// body read is reported once per poll and stream (EV_BODY): it
// names the call even when the response and its body came before the
// caller polled, so that nobody woke it for them. Which bytes hold what is
// Rust layout, so user space learns it from the wakes that name the stream
// by frame too, and refuses until they agree.
SEC("uprobe.multi")
int h2_resp(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	struct task_cur *c = polling(id);
	if (!c)
		return 0;
	__u64 r[2];
	if (bpf_probe_read_user(r, sizeof(r), (void *)PT_REGS_PARM2(ctx)) != 0 || !r[0])
		return 0;
	if (bpf_get_attach_cookie(ctx) == 1) {
		if (c->body[0] == r[0] && c->body[1] == r[1])
			return 0;
		c->body[0] = r[0];
		c->body[1] = r[1];
		struct body_event e = {
			.task = c->task,
			.recv = { r[0], r[1] },
		};
		head(&e.head, id, EV_BODY);
		submit(&e, sizeof(e));
		return 0;
	}
	if (c->resp_n == 0) {
		c->resp[0] = r[0];
		c->resp[1] = r[1];
		c->resp_n = 1;
	} else if (c->resp[0] != r[0] || c->resp[1] != r[1]) {
		c->resp_n = 2;
	}
	return 0;
}

#endif
