// capture.h: the capture planner's state for one syscall and the windows
// of bytes it captures.
//
// Copying the first capture_max bytes of each syscall is enough for the
// HTTP/1 parser as long as everything it needs lies there. Two things do
// not: the rest of a head longer than capture_max, and the chunk-size lines
// of a chunked body read or written in large pieces (a 64 KiB read of a
// chunked upload holds several). Without them the parser loses sync, the
// span is lost or its body size is wrong. HTTP/2 is alike: frame headers
// and the HPACK blocks lie between DATA payloads.
//
// So exit walks the syscall's bytes with the direction's framing state
// (plan.h): it follows heads byte by byte (plan_http1.h: end,
// Content-Length, Transfer-Encoding, status code), jumps over bodies and
// chunk data by count, and reads chunk-size lines, trailers and HTTP/2
// frame headers (plan_http2.h). Where it needs bytes beyond what is
// captured it captures another window. The records of one syscall cover it
// back to back: each accounts for `size` bytes from where the previous one
// ended, of which the first `len` are captured. User space feeds them in
// order as it always did (captured bytes, then a count of uncaptured ones),
// so it needs no notion of windows, and skips bodies by count exactly.

#ifndef RUSTSCOPE_CAPTURE_H
#define RUSTSCOPE_CAPTURE_H

#include "vmlinux.h"
#include "bpf_helpers.h"

#include "framing.h"
#include "maps.h"

#define MAX_IOV 64        // iovecs followed per readv/writev/msghdr (hyper writes up to 64)
#define MAX_RECORDS 512   // records one syscall may emit

// walk is one syscall's planning state. It lives in a per-CPU map, not on
// the stack: the verifier does not track map contents, so the bpf_loop
// callbacks that advance it verify once instead of once per state.
struct walk {
	__u64 buf;      // plain buffer, or 0
	__u64 iov;      // iovec array, or 0
	__u64 cur_at;   // iovec cursor: stream offset of iovec cur,
	__u64 cur_base; // its base
	__u64 cur_len;  // and length
	__u64 ret;      // bytes the syscall moved
	__u64 pos;      // planner position
	__u64 win;      // start of the pending record
	__u64 cp_off;   // copy in progress: stream offset,
	__u32 cp_n;     // bytes wanted
	__u32 cp_got;   // and copied
	__u32 win_len;  // bytes captured for the pending record
	__u32 iovcnt;
	__u32 cur;      // index of the cursor's iovec
	__u32 seq;      // sequence number of the next record
	__u32 limit;    // capture_max
	__u32 records;  // records emitted
	__u8 boundary;  // M_IDLE: a message may start at pos
	__u8 loaded;    // the cursor holds an iovec
	__u8 lazy;      // the syscalls before were captured whole (M_LAZY)
	__u8 _pad[5];
	struct framing f;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk);
} walk_map SEC(".maps");

static __always_inline struct walk *get_walk(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&walk_map, &zero);
}

// copy_step moves the iovec cursor one iovec on, or copies from the
// cursor's iovec into the scratch data. Windows start at increasing offsets
// except when one is cut short and restarted, which rewinds the cursor.
static long copy_step(__u32 i, void *unused)
{
	struct walk *w = get_walk();
	if (!w || w->cp_got >= w->cp_n)
		return 1;
	if (w->loaded && w->cp_off < w->cur_at) {
		w->loaded = 0;
		w->cur_at = 0;
		w->cur_len = 0;
		return 0;
	}
	if (!w->loaded || w->cp_off >= w->cur_at + w->cur_len) {
		__u32 next = w->loaded ? w->cur + 1 : 0;
		if (next >= w->iovcnt || next >= MAX_IOV)
			return 1;
		struct iovec v = {};
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(w->iov + (__u64)next * sizeof(struct iovec))))
			return 1;
		if (w->loaded)
			w->cur_at += w->cur_len;
		w->cur = next;
		w->cur_base = (__u64)v.iov_base;
		w->cur_len = v.iov_len;
		w->loaded = 1;
		return 0;
	}
	struct scratch *s = get_scratch();
	if (!s)
		return 1;
	__u64 in = w->cp_off - w->cur_at;
	__u64 take = w->cur_len - in;
	if (take > w->cp_n - w->cp_got)
		take = w->cp_n - w->cp_got;
	__u32 at = w->cp_got & (CAPTURE_BUF - 1);
	__u32 t = take & (CAPTURE_BUF - 1);
	if (t && bpf_probe_read_user(&s->data[at], t, (void *)(w->cur_base + in)))
		return 1;
	w->cp_got += t;
	w->cp_off += t;
	return 0;
}

// load_window captures up to size bytes at pos as the pending record.
static __always_inline void load_window(struct walk *w, struct scratch *s, __u32 size)
{
	__u64 n = w->ret - w->pos;
	if (n > size)
		n = size;
	if (n > w->limit)
		n = w->limit;
	n &= CAPTURE_BUF - 1;
	w->win = w->pos;
	w->win_len = 0;
	if (!n)
		return;
	if (!w->iov) {
		if (bpf_probe_read_user(s->data, n, (void *)(w->buf + w->pos)) == 0)
			w->win_len = n;
		return;
	}
	w->cp_off = w->pos;
	w->cp_n = n;
	w->cp_got = 0;
	bpf_loop(2 * MAX_IOV + 2, copy_step, NULL, 0);
	w->win_len = w->cp_got;
}

// emit sends the pending record, covering the syscall up to end.
static __always_inline void emit(struct walk *w, struct scratch *s, __u64 end)
{
	__u64 size = end - w->win;
	__u32 len = w->win_len;
	if (len > size)
		len = size;
	s->ev.seq = w->seq++;
	s->ev.size = size;
	s->ev.len = len;
	w->records++;
	submit(s, sizeof(s->ev) + (len & (CAPTURE_BUF - 1)));
}

// next_window ends the pending record at pos and captures a new one there.
static __always_inline int next_window(struct walk *w, struct scratch *s, __u32 size)
{
	if (w->records >= MAX_RECORDS - 1)
		return 0;
	if (w->pos > w->win)
		emit(w, s, w->pos);
	load_window(w, s, size);
	return 1;
}

// desync gives up on the framing until a message start at a syscall start.
static __always_inline long desync(struct walk *w)
{
	w->f.mode = M_IDLE;
	w->boundary = 0;
	return 1;
}

// msg_end: a message ended at pos; the next may start there.
static __always_inline long msg_end(struct walk *w)
{
	w->f.mode = M_IDLE;
	w->boundary = 1;
	return 0;
}

#endif
