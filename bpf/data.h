// data.h: one call's bytes as data records (EV_DATA), through the capture
// planner: a read- or write-family syscall's, or the plaintext a TLS
// library moved over a connection (lib/rustls/rustls.bpf.h).

#ifndef RUSTSCOPE_DATA_H
#define RUSTSCOPE_DATA_H

#include "vmlinux.h"
#include "bpf_helpers.h"

#include "capture.h"
#include "maps.h"
#include "plan.h"
#include "records.h"
#include "tasks.h"

// capture sends the bytes a call moved over connection c (EV_DATA): a
// read- or write-family syscall, or a TLS library's plaintext read or
// write of the connection (tls says which). Of call it needs the fd, the
// direction and where the bytes are; ret is how many moved.
static __always_inline int capture(__u64 id, struct inflight *call, long ret, struct conn_info *c, __u8 tls)
{
	struct task_cur *tc = bpf_map_lookup_elem(&task_cur, &id);
	if (tc && call->dir == DIR_INGRESS && c->role == ROLE_CLIENT)
		tc->frame_stream = H1_READ; // an HTTP/2 connection's frames say which stream
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct data_event *e = &s->ev;
	__builtin_memset(e, 0, sizeof(*e));
	head(&e->head, id, EV_DATA);
	e->fd = call->fd;
	e->dir = call->dir;
	e->tls = tls;
	if (tc) {
		e->task = tc->task;
		e->woken_by = tc->woken_by;
		e->woken_at = tc->woken_at;
	}

	// One direction of a socket is not read (or written) by two threads at
	// once, so its sequence number and framing are ours until we return.
	__u8 dir = call->dir & 1;
	struct walk *w = get_walk();
	if (!w)
		return 0;
	__builtin_memset(w, 0, sizeof(*w));
	w->ret = ret;
	w->seq = c->seq[dir];
	w->limit = capture_max < CAPTURE_BUF - 1 ? capture_max : CAPTURE_BUF - 1;
	if (tls == TLS_CIPHER)
		w->limit = 16; // a record header says enough
	if (call->kind == BUF_PLAIN) {
		w->buf = call->buf;
	} else if (call->kind == BUF_IOV) {
		w->iov = call->buf;
		w->iovcnt = call->iovcnt;
	} else {
		struct user_msghdr msg = {};
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)call->buf) == 0) {
			w->iov = (__u64)msg.msg_iov;
			w->iovcnt = msg.msg_iovlen;
		}
		if (!w->iov)
			w->iov = 1; // unreadable: no bytes are captured, all are counted
	}
	w->f = c->fr[dir];
	w->boundary = 1; // a call may start a message
	load_window(w, s, w->limit);
	if (tls == TLS_CIPHER) {
		emit(w, s, w->ret); // records are not HTTP: not walked
		c->seq[dir] = w->seq;
		return 0;
	}
	if (captured_whole(w, s, dir)) {
		// User space sees every byte, so it needs no framing hint
		// (plan.h): no walk, 0.2-0.4 us saved per small request or
		// response here.
		emit(w, s, w->ret);
		c->seq[dir] = w->seq;
		c->fr[dir].mode = M_LAZY;
		return 0;
	}
	if (w->f.mode == M_LAZY) {
		w->f.mode = M_IDLE; // after calls captured whole: look for a message start
		w->lazy = 1;
	}
	// A response head at the start of a write or read while a body is
	// expected: the body was not there (a response to HEAD).
	if (w->f.mode == M_BODY && (w->f.flags & F_RESP) && w->win_len >= 7 &&
	    (*(__u64 *)s->data & 0xffffffffffffffULL) == HTTP1)
		w->f.mode = M_IDLE;
	bpf_loop(WALK_STEPS, walk_step, NULL, 0);
	emit(w, s, w->ret);
	c->seq[dir] = w->seq;
	c->fr[dir] = w->f;
	return 0;
}

#endif
