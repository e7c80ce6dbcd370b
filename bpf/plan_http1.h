// plan_http1.h: the capture planner's HTTP/1 part: heads followed byte by
// byte (or a line at a time where nothing in it matters), chunk-size lines
// and trailers, so that it knows where a message's body ends (capture.h).

#ifndef RUSTSCOPE_PLAN_HTTP1_H
#define RUSTSCOPE_PLAN_HTTP1_H

#include "vmlinux.h"

#include "capture.h"
#include "framing.h"
#include "maps.h"

// Header names M_NAME may still be matching (framing.cand).
#define CAND_CL 1
#define CAND_TE 2

// Lower-case header names and tokens, little-endian, 8 bytes per word.
#define CL_0 0x2d746e65746e6f63ULL // "content-"
#define CL_1 0x3a6874676e656cULL   // "length:"
#define CL_LEN 15
#define TE_0 0x726566736e617274ULL // "transfer"
#define TE_1 0x6e69646f636e652dULL // "-encodin"
#define TE_2 0x3a67ULL             // "g:"
#define TE_LEN 18
#define CHUNKED 0x64656b6e756863ULL // "chunked"
// Message starts: "HTTP/1." and request methods followed by a space.
#define HTTP1 0x2e312f50545448ULL
#define GET_ 0x20544547ULL
#define PUT_ 0x20545550ULL
#define POST_ 0x2054534f50ULL
#define HEAD_ 0x2044414548ULL
#define PATCH_ 0x204843544150ULL
#define TRACE_ 0x204543415254ULL
#define DELETE_ 0x204554454c4544ULL
#define OPTIONS_ 0x20534e4f4954504fULL
#define CONNECT_ 0x205443454e4e4f43ULL

static __always_inline void chunk_line(struct framing *f)
{
	f->mode = M_SIZE;
	f->remain = 0;
	f->idx = 0;
}

static __always_inline long head_end(struct walk *w, struct framing *f)
{
	__u16 code = f->code;
	if ((f->flags & F_RESP) && (code < 200 || code == 204 || code == 304))
		return msg_end(w); // interim, no content, not modified: no body
	if (f->flags & F_CHUNKED) {
		chunk_line(f);
		return 0;
	}
	if ((f->flags & F_CL) && f->cl) {
		f->mode = M_BODY;
		f->remain = f->cl;
		return 0;
	}
	return msg_end(w); // no body, or one delimited by close
}

static __always_inline long chunk_size_end(struct framing *f)
{
	f->mode = f->remain ? M_DATA : M_TLSTART;
	return 0;
}

static __always_inline __u8 name_byte(__u64 w0, __u64 w1, __u64 w2, __u32 i)
{
	if (i < 8)
		return w0 >> (i * 8);
	if (i < 16)
		return w1 >> ((i - 8) * 8);
	return w2 >> ((i - 16) * 8);
}

// byte advances the framing by one byte of a head, chunk line or trailer.
static __always_inline long byte(struct walk *w, struct framing *f, __u8 ch)
{
	__u8 lc = ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
	if (f->mode <= M_HEAD_CR && ++f->head > MAX_HEAD)
		return desync(w);
	switch (f->mode) {
	case M_LINE1:
		if ((f->flags & F_RESP) && f->idx >= 9 && f->idx <= 11) {
			if (ch < '0' || ch > '9')
				return desync(w);
			f->code = f->code * 10 + (ch - '0');
		}
		if (f->idx < 255)
			f->idx++;
		if (ch == '\n')
			f->mode = M_LSTART;
		return 0;
	case M_LSTART:
		if (ch == '\r') {
			f->mode = M_HEAD_CR;
			return 0;
		}
		if (ch == '\n')
			return head_end(w, f);
		f->cand = (lc == 'c' ? CAND_CL : 0) | (lc == 't' ? CAND_TE : 0);
		f->idx = 1;
		f->mode = f->cand ? M_NAME : M_SKIP;
		return 0;
	case M_NAME:
		if ((f->cand & CAND_CL) && (f->idx >= CL_LEN || lc != name_byte(CL_0, CL_1, 0, f->idx)))
			f->cand &= ~CAND_CL;
		if ((f->cand & CAND_TE) && (f->idx >= TE_LEN || lc != name_byte(TE_0, TE_1, TE_2, f->idx)))
			f->cand &= ~CAND_TE;
		if (!f->cand) {
			f->mode = ch == '\n' ? M_LSTART : M_SKIP;
			return 0;
		}
		f->idx++;
		if ((f->cand & CAND_CL) && f->idx == CL_LEN) {
			f->mode = M_CL;
			f->flags |= F_CL;
			f->cl = 0;
			f->idx = 0;
		} else if ((f->cand & CAND_TE) && f->idx == TE_LEN) {
			f->mode = M_TE;
			f->flags &= ~F_CHUNKED;
			f->idx = 0;
		}
		return 0;
	case M_CL:
		if (ch >= '0' && ch <= '9') {
			if (f->idx >= 18) {
				f->flags &= ~F_CL;
				f->mode = M_SKIP;
				return 0;
			}
			f->cl = f->cl * 10 + (ch - '0');
			f->idx++;
		} else if (ch == '\n') {
			f->mode = M_LSTART;
		} else if (ch != ' ' && ch != '\t' && ch != '\r') {
			if (ch != ',') // "n, n" repeats the value; anything else: unknown length
				f->flags &= ~F_CL;
			f->mode = M_SKIP;
		}
		return 0;
	case M_TE: // is "chunked" the last coding?
		if (ch == '\n') {
			if (f->idx == 7)
				f->flags |= F_CHUNKED;
			else
				f->flags &= ~F_CHUNKED;
			f->mode = M_LSTART;
		} else if (ch == ' ' || ch == '\t' || ch == '\r') {
			if (f->idx != 7)
				f->idx = 0;
		} else if (f->idx < 7 && lc == (__u8)(CHUNKED >> (f->idx * 8))) {
			f->idx++;
		} else {
			f->idx = lc == 'c' ? 1 : 0;
		}
		return 0;
	case M_SKIP:
		if (ch == '\n')
			f->mode = M_LSTART;
		return 0;
	case M_HEAD_CR:
		if (ch == '\n')
			return head_end(w, f);
		f->mode = M_SKIP;
		return 0;
	case M_CRLF:
		if (ch == '\r') {
			f->mode = M_CRLF_LF;
			return 0;
		}
		if (ch == '\n') {
			chunk_line(f);
			return 0;
		}
		return desync(w);
	case M_CRLF_LF:
		if (ch != '\n')
			return desync(w);
		chunk_line(f);
		return 0;
	case M_SIZE: {
		__u8 d;
		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (lc >= 'a' && lc <= 'f')
			d = lc - 'a' + 10;
		else if (ch == '\n')
			return f->idx ? chunk_size_end(f) : desync(w);
		else if (ch == '\r')
			return 0;
		else if ((ch == ';' || ch == ' ' || ch == '\t') && f->idx) {
			f->mode = M_EXT;
			return 0;
		} else
			return desync(w);
		if (f->idx >= 15)
			return desync(w);
		f->remain = f->remain << 4 | d;
		f->idx++;
		return 0;
	}
	case M_EXT:
		if (ch == '\n')
			return chunk_size_end(f);
		return 0;
	case M_TLSTART:
		if (ch == '\r')
			f->mode = M_TCR;
		else if (ch == '\n')
			return msg_end(w);
		else
			f->mode = M_TSKIP;
		return 0;
	case M_TCR:
		if (ch == '\n')
			return msg_end(w);
		f->mode = M_TSKIP;
		return 0;
	case M_TSKIP:
		if (ch == '\n')
			f->mode = M_TLSTART;
		return 0;
	}
	return desync(w);
}

static __always_inline int has_lf(__u64 x)
{
	__u64 y = x ^ 0x0a0a0a0a0a0a0a0aULL;
	return ((y - 0x0101010101010101ULL) & ~y & 0x8080808080808080ULL) != 0;
}

// lf_index is the index of the first LF in x, which has one.
static __always_inline __u32 lf_index(__u64 x)
{
#pragma unroll
	for (int k = 0; k < 7; k++)
		if (((x >> (8 * k)) & 0xff) == '\n')
			return k;
	return 7;
}

static __always_inline __u64 load8(struct scratch *s, __u32 at)
{
	return *(__u64 *)&s->data[at & (CAPTURE_BUF - 1)];
}

// ORing 0x20 lower-cases letters and keeps '-' and ':' (a CR or 0x1a in a
// header name could pass for them: harmless in a hint).
#define LOWER 0x2020202020202020ULL

// line_start handles the start of a header line whose whole name is in the
// window: it compares the name with the two that matter at once.
static __always_inline long line_start(struct walk *w, struct scratch *s, __u32 at)
{
	struct framing *f = &w->f;
	__u64 w0 = load8(s, at) | LOWER;
	__u64 w1 = load8(s, at + 8) | LOWER;
	if (w0 == CL_0 && (w1 & 0xffffffffffffffULL) == CL_1) {
		w->pos += CL_LEN;
		f->head += CL_LEN;
		f->mode = M_CL;
		f->flags |= F_CL;
		f->cl = 0;
		f->idx = 0;
		return 0;
	}
	if (w0 == TE_0 && w1 == TE_1 && ((load8(s, at + 16) | LOWER) & 0xffff) == TE_2) {
		w->pos += TE_LEN;
		f->head += TE_LEN;
		f->mode = M_TE;
		f->flags &= ~F_CHUNKED;
		f->idx = 0;
		return 0;
	}
	__u8 ch = s->data[at & (CAPTURE_BUF - 1)];
	if (ch == '\r' || ch == '\n')
		return -1; // the empty line: byte by byte
	w->pos++;
	f->head++;
	f->mode = M_SKIP;
	return 0;
}

static __always_inline int is_method(__u64 x)
{
	__u64 x4 = x & 0xffffffffULL, x5 = x & 0xffffffffffULL, x6 = x & 0xffffffffffffULL,
	      x7 = x & 0xffffffffffffffULL;
	return x4 == GET_ || x4 == PUT_ || x5 == POST_ || x5 == HEAD_ || x6 == PATCH_ ||
	       x6 == TRACE_ || x7 == DELETE_ || x == OPTIONS_ || x == CONNECT_;
}

#endif
