// rustls.bpf.h: rustls's plaintext, where it crosses the library, fed to
// the connection whose socket carries its records as if the socket had
// carried it (lib/rustls).
//
// The probes (entry saves the arguments, return takes what moved):
//   <Reader as io::Read>::read(&Reader, buf, len)          plaintext read
//   <ConnectionCommon as PlaintextSink>::write(conn, buf, len)
//   <ConnectionCommon as PlaintextSink>::write_vectored(conn, iov, n)
// return io::Result<usize> in two registers: rax 0 (Ok) and rdx the bytes.
// A call's key is what names its connection there: the ConnectionCommon
// for writes, the address of its plaintext buffer (the Reader's first
// field) for reads. A key is not the connection for life: the library's
// object lives inside the future that owns the stream, which is moved
// until it is pinned (hyper-util's version sniffing, h2's handshake), and
// a later connection may reuse an address an earlier one left.
//
// So each call is tied to its socket by what its thread does around it,
// in the same poll (tokio-rustls), never by guessing:
//   write: the thread's next socket call is a write to a TLS connection
//     whose first record is application data holding exactly the call's
//     min(n, 16 KiB) plaintext bytes. Its bytes are captured at return,
//     while the caller's buffers surely hold them (tokio may flush much
//     later, when they hold other bytes): to the key's socket, or with the
//     key, kept in user space until the binding comes.
//   read: the thread's last socket call before plaintext reads of n bytes
//     in all (one key, nothing else between) was a read from a TLS
//     connection of whole records whose last application-data records hold
//     exactly n plaintext bytes.
// An AEAD record's payload is its plaintext plus 17 bytes (TLS 1.3: the
// content type and a 16-byte tag), 24 (TLS 1.2 GCM: explicit nonce and
// tag) or 16 (TLS 1.2 ChaCha20). Such evidence binds the key to the socket
// (tls_bind_event), replacing what either was bound to. A call without
// evidence follows its key's binding (tokio may keep a write's records
// for later: a socket it saw full is not tried until the reactor says it
// is writable); a call of a key not bound goes to user space with its
// key, which keeps it until the binding comes.

#ifndef RUSTSCOPE_RUSTLS_BPF_H
#define RUSTSCOPE_RUSTLS_BPF_H

#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpf_tracing.h"

#include "data.h"
#include "maps.h"
#include "records.h"
#include "tls.h"

#define TLS_RECORDS 8 // records of one socket read followed

// A thread's last socket call was a read of whole records, for the
// plaintext reads that follow. Per CPU with the thread's id: between them
// nothing else of the thread runs; another thread on the CPU does not
// match, a thread that moved finds nothing (no evidence this time).
struct tls_read {
	__u64 id;
	__u64 key;  // the key of the plaintext reads since
	__u64 key0; // the key before, if the object moved between them
	__u64 n;    // their bytes
	__s32 fd;
	__u8 nrec;
	__u8 _pad[3];
	__u32 rec[TLS_RECORDS]; // payload lengths; 0: not application data
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tls_read);
} tls_reads SEC(".maps");

static __always_inline struct tls_read *tls_read_state(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&tls_reads, &zero);
}

// A binary's rustls keeps a connection's plaintext buffer (the read key) at
// a fixed offset from the connection (the write key), per connection type
// (server, client: enum role). User space learns it from sockets whose two
// keys were both bound by evidence, and sets it here once enough agree:
// evidence for one direction then binds the other as well. Reads need it
// where their evidence comes late: a client's first bytes arrive with its
// handshake, before the server's stream has settled (HTTP/2).
struct tls_offset_key {
	__u32 tgid;
	__u32 role;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__type(key, struct tls_offset_key);
	__type(value, __s64); // read key - write key
} tls_offsets SEC(".maps");

// tls_bind binds key by evidence (tls_bind_one, unless it is bound to fd
// already), and the socket's key of the other direction where the
// binary's offset between them is known and it is not bound yet.
static __always_inline void tls_bind(__u64 id, __u64 key, __u8 dir, __s32 fd, __s32 old_fd, __u8 overhead)
{
	if (old_fd != fd)
		tls_bind_one(id, key, dir, fd, old_fd, overhead, 0);
	__u8 od = dir == DIR_EGRESS ? DIR_INGRESS : DIR_EGRESS;
	struct conn_key ck = { .tgid = id >> 32, .fd = fd };
	struct conn_info *c = bpf_map_lookup_elem(&conns, &ck);
	if (!c || (c->plain & (1 << od)))
		return;
	struct tls_offset_key ok = { .tgid = id >> 32, .role = c->role };
	__s64 *off = bpf_map_lookup_elem(&tls_offsets, &ok);
	if (!off)
		return;
	__u64 other = dir == DIR_EGRESS ? key + *off : key - *off;
	__s32 was = tls_bound(id, other, od);
	if (was != fd)
		tls_bind_one(id, other, od, fd, was, overhead, 1);
}

// rustls_syscall weighs, at a socket call of thread id (any result, any
// connection; c: the connection, NULL when not one or ret <= 0), the
// thread's last plaintext write as evidence of its key's socket, and notes
// a read of whole records for the plaintext reads that follow.
static __always_inline void rustls_syscall(__u64 id, struct inflight *call, long ret, struct conn_info *c)
{
	struct tls_read *r = tls_read_state();
	if (r && r->id == id && !(call->dir == DIR_INGRESS && ret <= 0 && call->fd == r->fd))
		r->id = 0; // the EAGAIN that ends rustls's reads of a socket keeps it
	struct tls_call *w = bpf_map_lookup_elem(&tls_calls, &id);
	if (w && w->n) {
		__u64 n = w->n;
		w->n = 0;
		__s32 bound = tls_bound(id, w->key, DIR_EGRESS);
		__u8 type, o = 0;
		__u32 len;
		if (call->dir == DIR_EGRESS && c && c->tls && ret > 5) {
			__u64 p = tls_first_byte(call);
			if (p && tls_record(p, &type, &len) && type == 23 && len + 5 <= ret)
				o = tls_holds(len, n < TLS_MAX_FRAGMENT ? n : TLS_MAX_FRAGMENT);
		}
		if (o && (bound != call->fd || !(c->plain & (1 << DIR_INGRESS))))
			tls_bind(id, w->key, DIR_EGRESS, call->fd, bound, o);
	}
	if (!c || !c->tls || call->dir != DIR_INGRESS || ret <= 5 || call->kind != BUF_PLAIN || !r)
		return;
	// A read of records: keep their lengths if they are all whole.
	__u64 at = 0;
	__u8 nrec = 0;
	for (int i = 0; i < TLS_RECORDS; i++) {
		if (at == (__u64)ret)
			break;
		__u8 type;
		__u32 len;
		if (at + 5 > (__u64)ret || !tls_record(call->buf + at, &type, &len))
			return;
		r->rec[i & (TLS_RECORDS - 1)] = type == 23 ? len : 0;
		at += 5 + len;
		nrec++;
	}
	if (at != (__u64)ret)
		return; // more records than followed, or a record cut short
	r->id = id;
	r->fd = call->fd;
	r->nrec = nrec;
	r->key = 0;
	r->key0 = 0;
	r->n = 0;
}

// tls_read_binds: the last application-data records of the read r noted
// hold n plaintext bytes. It returns their overhead (tls_holds), 0: no.
static __always_inline __u8 tls_read_binds(struct tls_read *r, __u64 n)
{
	__u32 overhead[3] = { 17, 24, 16 };
	for (int o = 0; o < 3; o++) {
		__u64 sum = 0;
		for (int j = 0; j < TLS_RECORDS; j++) {
			int i = (int)r->nrec - 1 - j;
			if (i < 0)
				break;
			__u32 len = r->rec[i & (TLS_RECORDS - 1)];
			if (len <= overhead[o])
				break;
			sum += len - overhead[o];
			if (sum == n)
				return overhead[o];
			if (sum > n)
				break;
		}
	}
	return 0;
}

static __always_inline int tls_enter(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	if (!is_target(id))
		return 0;
	struct tls_call call = {
		.kind = bpf_get_attach_cookie(ctx),
		.buf = PT_REGS_PARM2(ctx),
		.len = PT_REGS_PARM3(ctx),
		.key = PT_REGS_PARM1(ctx),
		.live = 1,
	};
	if (call.kind == TLS_READ && bpf_probe_read_user(&call.key, sizeof(call.key), (void *)call.key) != 0)
		return 0;
	if (!call.key || call.key & 7)
		return 0; // not an object's address
	tls_call_begin(id, &call);
	return 0;
}

SEC("uprobe.multi")
int tls_enter_prog(struct pt_regs *ctx) { return tls_enter(ctx); }

// tls_exit: a plaintext call returns. A write waits for the thread's next
// socket call (rustls_syscall); a read is sent now.
static __always_inline int tls_exit(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	struct tls_call *tc = bpf_map_lookup_elem(&tls_calls, &id);
	if (!tc || !tc->live || tc->kind > TLS_WRITEV)
		return 0;
	tc->live = 0;
	__u64 n = ctx->dx;
	if (ctx->ax != 0 || n == 0 || n > (1 << 30) || (tc->kind != TLS_WRITEV && n > tc->len))
		return 0; // an error, nothing moved, or not this ABI
	if (tc->kind != TLS_READ) {
		// A write is sent now, while the caller's buffers surely hold it
		// (tokio may flush its records much later, when they hold other
		// bytes): to its key's socket, or with its key. Its socket call is
		// the evidence that binds the key (rustls_syscall).
		tc->n = n;
		tls_plain(id, tc, n, tls_bound(id, tc->key, DIR_EGRESS));
		return 0;
	}
	__s32 bound = tls_bound(id, tc->key, DIR_INGRESS), fd = bound;
	struct tls_read *r = tls_read_state();
	if (r && r->id == id) {
		// The plaintext of the records the thread read last, maybe in
		// several reads, and maybe of an object that moved between them
		// (hyper-util's server reads 24 bytes first, to tell HTTP/2, then
		// hands the stream on: followed once, to a key not bound to
		// another socket). Another key's read is another connection's
		// (its plaintext left from an earlier poll): not evidence.
		bool moved = r->key && r->key != tc->key;
		if (!moved || (!r->key0 && (bound < 0 || bound == r->fd))) {
			if (moved)
				r->key0 = r->key;
			r->key = tc->key;
			r->n += n;
			__u8 o = tls_read_binds(r, r->n);
			if (o) {
				if (r->key0)
					tls_bind_one(id, r->key0, DIR_INGRESS, r->fd, tls_bound(id, r->key0, DIR_INGRESS), o, 0);
				tls_bind(id, tc->key, DIR_INGRESS, r->fd, r->key0 ? -1 : bound, o);
				fd = r->fd;
				r->id = 0;
			}
		}
	}
	tls_plain(id, tc, n, fd);
	return 0;
}

SEC("uretprobe.multi")
int tls_exit_prog(struct pt_regs *ctx) { return tls_exit(ctx); }

#endif
