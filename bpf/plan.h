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

// chunk_start tells whether the 8 bytes at a syscall's start begin a chunk
// line: hex digits, then CR or ';'.
static __always_inline bool chunk_start(__u64 x, __u64 avail)
{
#pragma unroll
	for (int i = 0; i < 8; i++) {
		if (i >= avail)
			return false;
		__u8 c = x >> (i * 8);
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		if (!hex)
			return i > 0 && (c == '\r' || c == ';');
	}
	return false;
}

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
	} else if (w->lazy && w->pos == 0 && chunk_start(x, avail)) {
		// A long syscall after HTTP/1 bytes captured whole (M_LAZY): a
		// chunked body's next chunk, as hyper writes them.
		__builtin_memset(&w->f, 0, sizeof(w->f));
		chunk_line(&w->f);
		return 0;
	} else
		return desync(w);
	__builtin_memset(&w->f, 0, sizeof(w->f));
	w->f.mode = M_LINE1;
	w->f.flags = flags;
	return 0;
}

// captured_whole tells whether the window holds the whole syscall and its
// framing may be left to user space, which sees every byte: no walk. The
// state it leaves is M_LAZY: the framing is taken to be at a message
// boundary, which is what matters should a long syscall come next. So each direction takes the
// shortcut only where that holds or costs nothing:
//
// - Reads end where the peer's writes and TCP's segments did: only a
//   message that visibly ends with the syscall (a GET or HEAD head) is
//   left unwalked. A POST whose head and first bytes of a chunked body
//   fit in a read is walked, so that the long reads after it find their
//   chunk lines.
// - Writes are the traced process's own, and hyper writes each chunk with
//   its size line first: any HTTP/1 message start, and what follows HTTP/1
//   bytes captured whole, is left unwalked, except a head alone that a
//   body may follow. A long write after them that does not start a message
//   is taken to start a chunk where it starts with a chunk-size line
//   (idle); else its bytes beyond the first window are counted, not
//   captured, as after any lost framing (Content-Length bodies are counted
//   exactly by user space).
//
// Mid-body and HTTP/2 directions are always walked.
static __always_inline bool captured_whole(struct walk *w, struct scratch *s, __u8 dir)
{
	__u32 n = w->win_len;
	if (n != w->ret || (w->f.flags & F_H2) || (w->f.mode != M_IDLE && w->f.mode != M_LAZY) || n < 4)
		return false;
	__u64 x = *(__u64 *)s->data;
	if (n < 8)
		x &= (1ULL << (n * 8)) - 1;
	bool resp = (x & 0xffffffffffffffULL) == HTTP1;
	if (!resp && !is_method(x))
		return dir == DIR_EGRESS && w->f.mode == M_LAZY;
	__u64 x4 = x & 0xffffffffULL, x5 = x & 0xffffffffffULL;
	bool bodiless = !resp && (x4 == GET_ || x5 == HEAD_);
	__u32 end = *(__u32 *)&s->data[(n - 4) & (CAPTURE_BUF - 1)];
	if (end != 0x0a0d0a0d) // "\r\n\r\n"
		return dir == DIR_EGRESS;
	return bodiless;
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
