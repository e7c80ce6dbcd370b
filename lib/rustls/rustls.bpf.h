// rustls.bpf.h: rustls's plaintext, where it crosses the library, fed to
// the connection whose socket carries its records as if the socket had
// carried it (lib/rustls).
//
// The probes:
//   CommonState::take_received_plaintext(&mut self, Payload)   at entry
//     a record's plaintext, just decrypted, as the connection's buffer
//     takes it: one call per application-data record, in order, whatever
//     the reader's buffer sizes; one trap. Payload (24 bytes) comes by
//     reference: a Vec<u8> (cap, ptr, len) whose cap's niche 1<<63 marks
//     the Borrowed(&[u8]) variant (0.23), or a Vec (0.21); the order of
//     cap and ptr is the compiler's, told apart per call (rustls_take).
//   <ConnectionCommon as PlaintextSink>::write(conn, buf, len)
//   <ConnectionCommon as PlaintextSink>::write_vectored(conn, iov, n)
//     entry saves the arguments, return takes what moved: io::Result<usize>
//     in two registers, rax 0 (Ok) and rdx the bytes.
// A call's key is what names its connection there: the ConnectionCommon
// for writes, its CommonState for reads. A key is not the connection for life: the library's
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
//   read: records are decrypted right after the thread's read of their
//     socket (tokio-rustls, as rustls's own Stream, calls read_tls and
//     then process_new_packets, no socket call between): a record's
//     plaintext is the socket's the thread read last, when that was a TLS
//     connection and nothing else of the thread came since, and binds its
//     key there. When the read's whole records hold exactly the plaintext
//     decrypted since (its last application-data records), that also
//     tells the version, and binds the write key where the binary's offset
//     between the two is known.
// An AEAD record's payload is its plaintext plus 17 bytes (TLS 1.3: the
// content type and a 16-byte tag), 24 (TLS 1.2 GCM: explicit nonce and
// tag) or 16 (TLS 1.2 ChaCha20). A binding (tls_bind_event) replaces what
// either the key or the socket was bound to. A write without evidence
// follows its key's binding (tokio may keep a write's records for later:
// a socket it saw full is not tried until the reactor says it is
// writable); a call of a key not bound goes to user space with its key,
// which keeps it until the binding comes. A read always has its socket
// when the thread's last read is known (LRU: a thread silent for long may
// be forgotten; it then follows its key's binding).

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

// A thread's last socket call was a read from a TLS connection, for the
// records it decrypts next: tokio-rustls (as rustls's own Stream) decrypts
// right after each read of the socket (read_tls, then process_new_packets),
// with no other socket call between, so what the thread decrypts next is
// that socket's. Per thread: one that runs on another CPU keeps it. The
// record lengths are kept when the read holds whole records: the evidence
// of the protocol version, and of the key's socket where that is all there
// is (a key that moved, seen once again).
struct tls_read {
	__u64 key; // the key of the records' plaintext since
	__u64 n;   // its bytes
	__s32 fd;
	__u8 live; // nothing else of the thread since
	__u8 nrec; // records whose lengths are kept; 0: not whole
	__u8 _pad[2];
	__u32 rec[TLS_RECORDS]; // payload lengths; 0: not application data
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); // pid_tgid
	__type(value, struct tls_read);
} tls_reads SEC(".maps");

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
// a read from a TLS connection for the records decrypted next.
static __always_inline void rustls_syscall(__u64 id, struct inflight *call, long ret, struct conn_info *c)
{
	struct tls_read *r = bpf_map_lookup_elem(&tls_reads, &id);
	if (r && r->live && !(call->dir == DIR_INGRESS && ret <= 0 && call->fd == r->fd))
		r->live = 0; // the EAGAIN or EOF that ends rustls's reads of a socket keeps it
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
	if (!c || !c->tls || call->dir != DIR_INGRESS || ret <= 0)
		return;
	if (!r) {
		struct tls_read fresh = {};
		bpf_map_update_elem(&tls_reads, &id, &fresh, BPF_ANY);
		r = bpf_map_lookup_elem(&tls_reads, &id);
		if (!r)
			return;
	}
	r->live = 1;
	r->fd = call->fd;
	r->key = 0;
	r->n = 0;
	r->nrec = 0;
	if (call->kind != BUF_PLAIN)
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
	if (at == (__u64)ret)
		r->nrec = nrec; // else more records than followed, or one cut short
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
	if (!call.key || call.key & 7)
		return 0; // not an object's address
	tls_call_begin(id, &call);
	return 0;
}

SEC("uprobe.multi")
int tls_enter_prog(struct pt_regs *ctx) { return tls_enter(ctx); }

// tls_exit: a plaintext write returns. It is sent now, while the caller's
// buffers surely hold it (tokio may flush its records much later, when they
// hold other bytes): to its key's socket, or with its key. Its socket call
// is the evidence that binds the key (rustls_syscall).
static __always_inline int tls_exit(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	struct tls_call *tc = bpf_map_lookup_elem(&tls_calls, &id);
	if (!tc || !tc->live || (tc->kind != TLS_WRITE && tc->kind != TLS_WRITEV))
		return 0;
	tc->live = 0;
	__u64 n = ctx->dx;
	if (ctx->ax != 0 || n == 0 || n > (1 << 30) || (tc->kind != TLS_WRITEV && n > tc->len))
		return 0; // an error, nothing moved, or not this ABI
	tc->n = n;
	tls_plain(id, tc, n, tls_bound(id, tc->key, DIR_EGRESS));
	return 0;
}

SEC("uretprobe.multi")
int tls_exit_prog(struct pt_regs *ctx) { return tls_exit(ctx); }

#define PAYLOAD_NICHE (1ULL << 63) // Payload::Borrowed, in the Vec's cap
#define PAYLOAD_CAP_MAX (1ULL << 20) // a record's Vec holds far less; a heap pointer is above

// rustls_take: a record's plaintext as its connection's buffer takes it
// (take_received_plaintext, at entry): Payload's three words are read and
// told apart, (cap, ptr, len) or (ptr, cap, len); anything else is not
// this ABI and is refused. Sent now, to the key's socket or with its key.
static __always_inline int rustls_take(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	if (!is_target(id))
		return 0;
	__u64 key = PT_REGS_PARM1(ctx), w[3];
	if (!key || key & 7 || bpf_probe_read_user(w, sizeof(w), (void *)PT_REGS_PARM2(ctx)) != 0)
		return 0;
	__u64 n = w[2], ptr;
	if (w[0] == PAYLOAD_NICHE || (w[0] <= PAYLOAD_CAP_MAX && w[0] >= n))
		ptr = w[1];
	else if (w[1] == PAYLOAD_NICHE || (w[1] <= PAYLOAD_CAP_MAX && w[1] >= n))
		ptr = w[0];
	else
		return 0;
	if (n == 0 || n > TLS_MAX_FRAGMENT || ptr <= PAYLOAD_CAP_MAX || ptr >= (1ULL << 47))
		return 0;
	struct tls_call tc = { .kind = TLS_READ, .buf = ptr, .len = n, .key = key };
	__s32 bound = tls_bound(id, key, DIR_INGRESS), fd = bound;
	struct tls_read *r = bpf_map_lookup_elem(&tls_reads, &id);
	if (r && r->live && (!r->key || r->key == key)) {
		// Records of the socket the thread read last, decrypted by one
		// object: that socket's. Another key's since (records another
		// connection left: not seen with tokio-rustls) follow their key's
		// binding. The records' sizes, when they hold the plaintext, give
		// the version, and bind the other direction's key where the
		// binary's offset between the keys is known.
		fd = r->fd;
		r->key = key;
		r->n += n;
		__u8 o = r->nrec ? tls_read_binds(r, r->n) : 0;
		if (o) {
			tls_bind(id, key, DIR_INGRESS, fd, bound, o);
			r->nrec = 0;
		} else if (bound != fd) {
			tls_bind_one(id, key, DIR_INGRESS, fd, bound, 0, 0);
		}
	}
	tls_plain(id, &tc, n, fd);
	return 0;
}

SEC("uprobe.multi")
int tls_take_prog(struct pt_regs *ctx) { return rustls_take(ctx); }

#endif
