// plan.h: the capture planner's steps: where a message starts, and one
// step through the syscall's bytes in whichever protocol the direction
// speaks (capture.h).

#ifndef RUSTSCOPE_PLAN_H
#define RUSTSCOPE_PLAN_H

#include "vmlinux.h"
#include "bpf_helpers.h"

#include "capture.h"
#include "framing.h"
#include "maps.h"
#include "plan_http1.h"
#include "plan_http2.h"

#define CHUNK_WIN 64      // bytes captured at a chunk boundary: CRLF, size line, extension
#define WALK_STEPS (1 << 17) // planner steps per syscall

// idle looks for a message start at pos, a message boundary.
static __always_inline long idle(struct walk *w, struct scratch *s)
{
	if (!w->boundary)
		return 1;
	__u64 end = w->win + w->win_len;
	if (w->pos + 8 > end && end < w->ret) {
		if (!next_window(w, s, w->limit))
			return desync(w);
		end = w->win + w->win_len;
	}
	__u64 avail = end > w->pos ? end - w->pos : 0;
	if (avail < 4)
		return desync(w);
	__u32 at = (w->pos - w->win) & (CAPTURE_BUF - 1);
	__u64 x = *(__u64 *)&s->data[at];
	if (avail < 8)
		x &= (1ULL << (avail * 8)) - 1;
	__u8 flags;
	if ((x & 0xffffffffffffffULL) == HTTP1)
		flags = F_RESP;
	else if (is_method(x))
		flags = 0;
	else if (avail >= 8 && x == H2_PREFACE) {
		// The client's connection preface: HTTP/2 frames follow it.
		__builtin_memset(&w->f, 0, sizeof(w->f));
		w->f.flags = F_H2;
		w->f.mode = M_H2;
		w->pos += H2_PREFACE_LEN;
		return 0;
	} else if (avail >= 8 && h2_start(x, w->f.flags & F_H2)) {
		__builtin_memset(&w->f, 0, sizeof(w->f));
		w->f.flags = F_H2;
		w->f.mode = M_H2;
		return 0;
	} else
		return desync(w);
	__builtin_memset(&w->f, 0, sizeof(w->f));
	w->f.mode = M_LINE1;
	w->f.flags = flags;
	return 0;
}

// walk_step advances the planner: a jump over body bytes, a message start
// check, eight bytes of a line skipped at once, or one byte.
static long walk_step(__u32 i, void *unused)
{
	struct walk *w = get_walk();
	if (!w || w->pos >= w->ret)
		return 1;
	struct framing *f = &w->f;
	__u8 mode = f->mode;
	if (mode == M_BODY || mode == M_DATA || mode == M_H2_SKIP) {
		__u64 n = w->ret - w->pos;
		if (n > f->remain)
			n = f->remain;
		w->pos += n;
		f->remain -= n;
		if (f->remain == 0) {
			if (mode == M_BODY)
				return msg_end(w);
			f->mode = mode == M_H2_SKIP ? M_H2 : M_CRLF;
		}
		return 0;
	}
	struct scratch *s = get_scratch();
	if (!s)
		return desync(w);
	if (mode == M_IDLE)
		return idle(w, s);
	if (mode == M_H2)
		return h2_header(w, s);
	if (w->pos >= w->win + w->win_len) {
		if (!next_window(w, s, mode >= M_CRLF ? CHUNK_WIN : w->limit) || !w->win_len)
			return desync(w);
	}
	__u32 at = (w->pos - w->win) & (CAPTURE_BUF - 1);
	if (mode == M_LSTART && at + 24 <= w->win_len) {
		long r = line_start(w, s, at);
		if (r >= 0)
			return r;
	}
	if (mode == M_SKIP || mode == M_EXT || mode == M_TSKIP ||
	    (mode == M_LINE1 && (!(f->flags & F_RESP) || f->idx >= 12))) {
		// Up to 64 bytes of the line at once, to just before its LF.
		__u32 from = at;
#pragma unroll
		for (int k = 0; k < 8; k++) {
			if (at + 8 > w->win_len)
				break;
			__u64 x = load8(s, at);
			if (has_lf(x)) {
				at += lf_index(x);
				break;
			}
			at += 8;
		}
		if (at != from) {
			__u32 n = at - from;
			w->pos += n;
			if (mode <= M_HEAD_CR) {
				f->head += n;
				if (f->head > MAX_HEAD)
					return desync(w);
			}
			if (mode == M_LINE1)
				f->idx = 255;
			return 0;
		}
	}
	__u8 ch = s->data[at & (CAPTURE_BUF - 1)];
	w->pos++;
	return byte(w, f, ch);
}

#endif
