// tls.h: TLS on the wire: which connections carry TLS records, and the
// record headers the TLS libraries' probes bind their plaintext by
// (lib/rustls/rustls.bpf.h). Their records are not HTTP: the capture
// planner does not walk them, and once a direction's plaintext is bound
// its records are not sent at all.

#ifndef RUSTSCOPE_TLS_H
#define RUSTSCOPE_TLS_H

#include "vmlinux.h"
#include "bpf_helpers.h"

#include "maps.h"

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

#endif
