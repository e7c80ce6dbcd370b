// tls.h: TLS on the wire: which connections carry TLS records, and the
// record headers the TLS libraries' probes bind their plaintext by. Their
// records are not HTTP: the capture planner does not walk them, and once a
// direction's plaintext is bound its records are not sent at all.
//
// And what the TLS libraries' plaintext probes share (lib/rustls,
// lib/openssl): a library's object (its key) bound to the socket that
// carries its records, per direction, and its plaintext sent as that
// socket's data, or with its key while not bound (user space keeps it
// until the binding comes). How a key is bound is each library's own.

#ifndef RUSTSCOPE_TLS_H
#define RUSTSCOPE_TLS_H

#include "vmlinux.h"
#include "bpf_helpers.h"

#include "data.h"
#include "maps.h"
#include "records.h"

#define TLS_MAX_FRAGMENT 16384 // plaintext bytes a record holds at most

// tls_record reads the record header at p: its content type and payload
// length, or false when it is not a TLS 1.x record header.
static __always_inline bool tls_record(__u64 p, __u8 *type, __u32 *len)
{
	__u8 h[5];
	if (bpf_probe_read_user(h, sizeof(h), (void *)p) != 0)
		return false;
	*type = h[0];
	*len = (__u32)h[3] << 8 | h[4];
	return h[0] >= 20 && h[0] <= 23 && h[1] == 3 && h[2] <= 4 && *len > 0 && *len <= TLS_MAX_FRAGMENT + 2048;
}

// tls_holds: an application-data record of payload len holds n plaintext
// bytes; it returns the record's overhead (0: it does not), which tells
// the protocol version.
static __always_inline __u8 tls_holds(__u32 len, __u64 n)
{
	if (len == n + 17)
		return 17; // TLS 1.3: content type and tag
	if (len == n + 24)
		return 24; // TLS 1.2 AES-GCM: explicit nonce and tag
	if (len == n + 16)
		return 16; // TLS 1.2 ChaCha20-Poly1305: tag
	return 0;
}

// tls_first_byte is where the bytes of a socket call begin.
static __always_inline __u64 tls_first_byte(struct inflight *call)
{
	if (call->kind == BUF_PLAIN)
		return call->buf;
	__u64 iov = call->buf;
	if (call->kind == BUF_MSG) {
		struct user_msghdr msg = {};
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)call->buf) != 0)
			return 0;
		iov = (__u64)msg.msg_iov;
	}
	struct iovec v = {};
	if (!iov || bpf_probe_read_user(&v, sizeof(v), (void *)iov) != 0 || v.iov_len < 5)
		return 0;
	return (__u64)v.iov_base;
}

// tls_detect marks c TLS when the first bytes of its first data in a
// direction are a record header. No HTTP/1 message begins so, nor an
// HTTP/2 preface or frame (a frame's first byte is 0 below 1 MiB).
static __always_inline void tls_detect(struct conn_info *c, struct inflight *call)
{
	__u8 type;
	__u32 len;
	if (c->tls || c->seq[call->dir & 1] != 0)
		return;
	__u64 p = tls_first_byte(call);
	if (p && tls_record(p, &type, &len))
		c->tls = 1;
}

// What a plaintext probe is (its entry's cookie): rustls's calls
// (lib/rustls) and OpenSSL's (lib/openssl).
enum tls_call_kind {
	TLS_READ = 0,    // rustls CommonState::take_received_plaintext(&mut self, &Payload)
	TLS_WRITE = 1,   // rustls PlaintextSink::write(conn, buf, len)
	TLS_WRITEV = 2,  // rustls PlaintextSink::write_vectored(conn, iov, n)
	SSL_READ = 3,    // SSL_read(ssl, buf, num): int
	SSL_READ_EX = 4, // SSL_read_ex(ssl, buf, num, &readbytes): 1 and readbytes
	SSL_WRITE = 5,   // SSL_write(ssl, buf, num): int
	SSL_WRITE_EX = 6 // SSL_write_ex(ssl, buf, num, &written): 1 and written
};
const enum tls_call_kind *unused_tls_call_kind __attribute__((unused)); // for bpf2go

// tls_call is a thread's plaintext call between its entry and return,
// and a rustls write from its return to the thread's next socket call (n
// set: its evidence). Its key names the library's object for the
// connection.
struct tls_call {
	__u64 key;
	__u64 buf; // buffer or iovec array
	__u64 len; // its length or iovec count
	__u64 n;   // a rustls write waiting for its socket call: bytes written
	__u64 out; // OpenSSL's _ex calls: where the bytes moved are put
	__u8 kind; // enum tls_call_kind
	__u8 live; // entered, not returned
	__u8 _pad[6];
};

static __always_inline bool tls_kind_reads(__u8 kind)
{
	return kind == TLS_READ || kind == SSL_READ || kind == SSL_READ_EX;
}

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); // pid_tgid
	__type(value, struct tls_call);
} tls_calls SEC(".maps");

struct tls_key {
	__u32 tgid;
	__u8 dir;
	__u8 _pad[3];
	__u64 key;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_key);
	__type(value, __s32); // fd
} tls_keys SEC(".maps");

// A socket's keys per direction, so that a new key or its close unbinds
// the old one.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, __u64[2]);
} tls_socks SEC(".maps");

// tls_bind_one binds key's direction dir to socket fd of process tgid: the
// socket's old key and the key's old socket are forgotten.
static __always_inline void tls_bind_one(__u64 id, __u64 key, __u8 dir, __s32 fd, __s32 old_fd, __u8 overhead, __u8 inferred)
{
	dir &= 1;
	struct tls_key k = { .tgid = id >> 32, .dir = dir, .key = key };
	struct conn_key ck = { .tgid = id >> 32, .fd = fd };
	__u64 fresh[2] = {};
	__u64 *keys = bpf_map_lookup_elem(&tls_socks, &ck);
	if (!keys) {
		bpf_map_update_elem(&tls_socks, &ck, &fresh, BPF_NOEXIST);
		keys = bpf_map_lookup_elem(&tls_socks, &ck);
		if (!keys)
			return;
	}
	if (keys[dir] && keys[dir] != key) {
		struct tls_key ok = k;
		ok.key = keys[dir];
		__s32 *f = bpf_map_lookup_elem(&tls_keys, &ok);
		if (f && *f == fd)
			bpf_map_delete_elem(&tls_keys, &ok); // the object moved
	}
	keys[dir] = key;
	if (old_fd >= 0 && old_fd != fd) {
		struct conn_key ok = { .tgid = id >> 32, .fd = old_fd };
		__u64 *old = bpf_map_lookup_elem(&tls_socks, &ok);
		if (old && old[dir] == key)
			old[dir] = 0;
	}
	bpf_map_update_elem(&tls_keys, &k, &fd, BPF_ANY);
	struct tls_bind_event e = {};
	head(&e.head, id, EV_TLS_BIND);
	e.key = key;
	e.dir = dir;
	e.fd = fd;
	e.overhead = overhead;
	e.inferred = inferred;
	submit(&e, sizeof(e));
}

// tls_bound is the socket key's direction dir is bound to, or -1.
static __always_inline __s32 tls_bound(__u64 id, __u64 key, __u8 dir)
{
	struct tls_key k = { .tgid = id >> 32, .dir = dir & 1, .key = key };
	__s32 *fd = bpf_map_lookup_elem(&tls_keys, &k);
	return fd ? *fd : -1;
}

// tls_unbind forgets the keys of a socket the process closes.
static __always_inline void tls_unbind(__u64 id, __s32 fd)
{
	struct conn_key ck = { .tgid = id >> 32, .fd = fd };
	__u64 *keys = bpf_map_lookup_elem(&tls_socks, &ck);
	if (!keys)
		return;
	for (int d = 0; d < 2; d++) {
		struct tls_key k = { .tgid = id >> 32, .dir = d, .key = keys[d] };
		__s32 *f = k.key ? bpf_map_lookup_elem(&tls_keys, &k) : NULL;
		if (f && *f == fd)
			bpf_map_delete_elem(&tls_keys, &k);
	}
	bpf_map_delete_elem(&tls_socks, &ck);
}

// tls_plain sends the plaintext of a call: as connection fd's data (fd
// >= 0) through the capture planner, or, with its key, as plaintext of a
// connection not yet known (the first window alone: no framing state).
static __always_inline void tls_plain(__u64 id, struct tls_call *tc, __u64 n, __s32 fd)
{
	__u8 dir = tls_kind_reads(tc->kind) ? DIR_INGRESS : DIR_EGRESS;
	struct inflight call = {
		.buf = tc->buf,
		.kind = tc->kind == TLS_WRITEV ? BUF_IOV : BUF_PLAIN,
		.dir = dir,
		.iovcnt = tc->kind == TLS_WRITEV ? tc->len : 0,
		.fd = fd,
	};
	if (fd >= 0) {
		struct conn_key ck = { .tgid = id >> 32, .fd = fd };
		struct conn_info *c = bpf_map_lookup_elem(&conns, &ck);
		if (!c)
			return;
		c->plain |= 1 << dir; // its records need not be sent any more
		capture(id, &call, n, c, TLS_PLAIN);
		return;
	}
	struct scratch *s = get_scratch();
	struct walk *w = get_walk();
	if (!s || !w)
		return;
	struct data_event *e = &s->ev;
	__builtin_memset(e, 0, sizeof(*e));
	head(&e->head, id, EV_DATA);
	e->fd = -1;
	e->dir = dir;
	e->tls = TLS_PLAIN;
	e->tls_key = tc->key;
	__builtin_memset(w, 0, sizeof(*w));
	w->ret = n;
	w->limit = capture_max < CAPTURE_BUF - 1 ? capture_max : CAPTURE_BUF - 1;
	if (call.kind == BUF_PLAIN) {
		w->buf = call.buf;
	} else {
		w->iov = call.buf;
		w->iovcnt = call.iovcnt;
	}
	load_window(w, s, w->limit);
	emit(w, s, w->ret);
}

// tls_call_begin keeps call as thread id's plaintext call under way (a
// rustls write waiting for its socket call is no evidence any more).
static __always_inline void tls_call_begin(__u64 id, struct tls_call *call)
{
	struct tls_call *cur = bpf_map_lookup_elem(&tls_calls, &id);
	if (cur)
		*cur = *call;
	else
		bpf_map_update_elem(&tls_calls, &id, call, BPF_ANY);
}

#endif
