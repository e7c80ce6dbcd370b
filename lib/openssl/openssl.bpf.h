// openssl.bpf.h: OpenSSL's plaintext, where it crosses libssl, fed to the
// connection whose socket carries its records as if the socket had
// carried it (lib/openssl).
//
// The probes (entry saves the arguments, return takes what moved):
//   SSL_read(ssl, buf, num)                   returns the bytes read, <= 0: none
//   SSL_read_ex(ssl, buf, num, &readbytes)    returns 1 and sets readbytes
//   SSL_write(ssl, buf, num)                  returns the bytes written
//   SSL_write_ex(ssl, buf, num, &written)     returns 1 and sets written
// The key is the SSL object: it is allocated once per connection and never
// moves (unlike rustls's, lib/rustls/rustls.bpf.h).
//
// OpenSSL moves records through its BIO inside these calls: a socket read
// or write of the calling thread between a call's entry and its return is
// the call's own connection's (a plain socket BIO, and rust-openssl's BIO
// over tokio's stream alike). So that nesting binds the key, both
// directions at once, to the socket, when the socket carries TLS records:
// marked so at its first bytes, or, for a connection opened before attach,
// the bytes moved begin with a record header. The first write under
// SSL_write also tells the protocol version by its first record's size.

#ifndef RUSTSCOPE_OPENSSL_BPF_H
#define RUSTSCOPE_OPENSSL_BPF_H

#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpf_tracing.h"

#include "maps.h"
#include "records.h"
#include "tls.h"

static __always_inline bool ssl_call(__u8 kind)
{
	return kind >= SSL_READ && kind <= SSL_WRITE_EX;
}

// ssl_syscall binds, at a socket call of thread id that moved bytes (ret
// > 0) over connection c, the key of the OpenSSL call the thread is in.
static __always_inline void ssl_syscall(__u64 id, struct inflight *call, long ret, struct conn_info *c)
{
	if (!c || ret <= 0)
		return;
	struct tls_call *tc = bpf_map_lookup_elem(&tls_calls, &id);
	if (!tc || !tc->live || !ssl_call(tc->kind))
		return;
	__u8 type = 0;
	__u32 len = 0;
	__u64 p = tls_first_byte(call);
	bool header = p && ret >= 5 && tls_record(p, &type, &len);
	if (!c->tls) {
		if (!header)
			return; // not records (or mid-record, before attach): no evidence
		c->tls = 1;
	}
	__u8 o = 0;
	if (call->dir == DIR_EGRESS && header && type == 23 && !(c->plain & (1 << DIR_EGRESS)) &&
	    (tc->kind == SSL_WRITE || tc->kind == SSL_WRITE_EX))
		o = tls_holds(len, tc->len < TLS_MAX_FRAGMENT ? tc->len : TLS_MAX_FRAGMENT);
	__s32 out = tls_bound(id, tc->key, DIR_EGRESS), in = tls_bound(id, tc->key, DIR_INGRESS);
	if (out != call->fd || o)
		tls_bind_one(id, tc->key, DIR_EGRESS, call->fd, out, o, 0);
	if (in != call->fd)
		tls_bind_one(id, tc->key, DIR_INGRESS, call->fd, in, o, 1);
}

static __always_inline int ssl_enter(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	if (!is_target(id))
		return 0;
	struct tls_call call = {
		.kind = bpf_get_attach_cookie(ctx),
		.key = PT_REGS_PARM1(ctx),
		.buf = PT_REGS_PARM2(ctx),
		.len = PT_REGS_PARM3(ctx),
		.out = PT_REGS_PARM4(ctx),
		.live = 1,
	};
	if (!ssl_call(call.kind) || !call.key || (__s64)call.len <= 0)
		return 0;
	if (call.kind == SSL_READ || call.kind == SSL_WRITE) {
		call.len = (__u32)call.len; // an int
		call.out = 0;
	}
	tls_call_begin(id, &call);
	return 0;
}

SEC("uprobe.multi")
int ssl_enter_prog(struct pt_regs *ctx) { return ssl_enter(ctx); }

// ssl_exit: an OpenSSL call returns; what it moved is sent, to the socket
// its key is bound to, or with its key (a read served from a record read
// before attach).
static __always_inline int ssl_exit(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	struct tls_call *tc = bpf_map_lookup_elem(&tls_calls, &id);
	if (!tc || !tc->live || !ssl_call(tc->kind))
		return 0;
	tc->live = 0;
	int rv = (int)ctx->ax;
	__u64 n = rv;
	if (tc->out) {
		if (rv != 1 || bpf_probe_read_user(&n, sizeof(n), (void *)tc->out) != 0)
			return 0;
	} else if (rv <= 0) {
		return 0; // an error, or it wants the socket readable or writable first
	}
	if (n == 0 || n > tc->len)
		return 0;
	__u8 dir = tls_kind_reads(tc->kind) ? DIR_INGRESS : DIR_EGRESS;
	tls_plain(id, tc, n, tls_bound(id, tc->key, dir));
	return 0;
}

SEC("uretprobe.multi")
int ssl_exit_prog(struct pt_regs *ctx) { return ssl_exit(ctx); }

#endif
