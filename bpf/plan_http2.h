// plan_http2.h: the capture planner's HTTP/2 part: frame headers, DATA
// payloads passed by count, other payloads captured (capture.h).

#ifndef RUSTSCOPE_PLAN_HTTP2_H
#define RUSTSCOPE_PLAN_HTTP2_H

#include "vmlinux.h"

#include "capture.h"
#include "framing.h"
#include "maps.h"

#define H2_PREFACE 0x5448202a20495250ULL // "PRI * HT", of the 24-byte client preface
#define H2_PREFACE_LEN 24
#define H2_MAX_FRAME (1 << 20)            // larger frames are not believed

// h2_start tells whether the 8 bytes at a boundary begin an HTTP/2 frame
// header: a SETTINGS frame on stream 0 (what each side sends first), or
// any plausible frame once the direction is known to speak HTTP/2.
static __always_inline int h2_start(__u64 x, __u8 known)
{
	__u32 len = (x & 0xff) << 16 | ((x >> 8) & 0xff) << 8 | ((x >> 16) & 0xff);
	__u8 type = x >> 24, flags = x >> 32;
	__u32 stream_hi = (x >> 40) & 0xffffff; // three high bytes of the stream id
	if (type == 4 && len % 6 == 0 && len <= 16384 && (flags & ~1) == 0 && stream_hi == 0)
		return 1;
	return known && type <= 9 && len <= H2_MAX_FRAME && !(stream_hi & 0x80);
}

// h2_header gathers the frame header at pos, which may be split across
// windows and syscalls, then plans the payload: a DATA payload is passed
// by count (bodies are never copied), any other is captured whole (up to
// the capture limit) because the parser needs it: HEADERS and
// CONTINUATION carry the HPACK blocks.
static __always_inline long h2_header(struct walk *w, struct scratch *s)
{
	struct framing *f = &w->f;
	__u64 end = w->win + w->win_len;
	if (w->pos >= end) {
		if (!next_window(w, s, w->limit) || !w->win_len)
			return desync(w);
		end = w->win + w->win_len;
	}
#pragma unroll
	for (int k = 0; k < 9; k++) {
		if (f->idx < 9 && w->pos < end) {
			f->h2[f->idx & 15] = s->data[(w->pos - w->win) & (CAPTURE_BUF - 1)];
			f->idx++;
			w->pos++;
		}
	}
	if (f->idx < 9)
		return w->pos >= w->ret; // the rest comes in the next window or syscall
	f->idx = 0;
	__u32 len = (__u32)f->h2[0] << 16 | (__u32)f->h2[1] << 8 | f->h2[2];
	__u8 type = f->h2[3];
	if (type > 9 || len > H2_MAX_FRAME || (f->h2[5] & 0x80))
		return desync(w);
	f->mode = M_H2_SKIP;
	f->remain = len;
	if (type != 0 && len && w->pos + len > end && end < w->ret) {
		// Capture the payload in a window of its own.
		if (!next_window(w, s, len < w->limit ? len : w->limit))
			return desync(w);
	}
	if (!len)
		f->mode = M_H2;
	return 0;
}

#endif
