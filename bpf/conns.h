// conns.h: which file descriptors of a target are TCP connections, and
// their announcement (EV_OPEN) before their first data.
//
// Connections are keyed by (tgid, fd) and announced once, with role and
// addresses, so user space never has to look at /proc to learn what a fd
// is. Syscall enters save their arguments per thread (calls) for the exit.

#ifndef RUSTSCOPE_CONNS_H
#define RUSTSCOPE_CONNS_H

#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpf_core_read.h"
#include "bpf_endian.h"

#include "maps.h"

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define MSG_PEEK 2
#define EINPROGRESS 115

// tcp_sock_of returns the struct sock behind fd if it is a TCP socket.
static __always_inline struct sock *tcp_sock_of(__s32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	if (BPF_CORE_READ(sk, sk_type) != SOCK_STREAM || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return NULL;
	return sk;
}

// announce emits EV_OPEN for thread id's fd with the socket's addresses.
static __always_inline void announce(struct sock *sk, __u64 id, __s32 fd, __u8 role)
{
	struct open_event e = {};
	head(&e.head, id, EV_OPEN);
	e.fd = fd;
	e.role = role;
	e.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e.lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e.rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (e.family == AF_INET) {
		bpf_core_read(e.laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(e.raddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(e.laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(e.raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	submit(&e, sizeof(e));
}

// track returns the connection state for thread id's fd, learning it on
// first sight (connections open before attach, or whose accept/connect we
// missed).
static __always_inline struct conn_info *track(__u64 id, __s32 fd)
{
	struct conn_key k = { .tgid = id >> 32, .fd = fd };
	struct conn_info *c = bpf_map_lookup_elem(&conns, &k);
	if (c)
		return c->ignore ? NULL : c;
	struct conn_info fresh = {};
	struct sock *sk = tcp_sock_of(fd);
	if (!sk)
		fresh.ignore = 1;
	bpf_map_update_elem(&conns, &k, &fresh, BPF_ANY);
	if (!sk)
		return NULL;
	announce(sk, id, fd, ROLE_UNKNOWN);
	return bpf_map_lookup_elem(&conns, &k);
}

// put_call saves a syscall thread id enters for its exit. Each thread's
// entry is rewritten in place: an LRU hash update and delete per syscall
// cost several times a lookup.
static __always_inline void put_call(__u64 id, struct inflight *in)
{
	in->live = 1;
	struct inflight *cur = bpf_map_lookup_elem(&calls, &id);
	if (cur)
		*cur = *in;
	else
		bpf_map_update_elem(&calls, &id, in, BPF_ANY);
}

// enter_io saves a read- or write-family call on a connection for its exit.
static __always_inline int enter_io(struct trace_event_raw_sys_enter *ctx, __u8 kind, __u8 dir)
{
	__u64 id = current_pid_tgid();
	__u8 tf = target_flags(id);
	if (!tf)
		return 0;
	__s32 fd = (__s32)ctx->args[0];
	if (!track(id, fd))
		return 0;
	struct inflight in = {
		.buf = ctx->args[1],
		.fd = fd,
		.kind = kind,
		.dir = dir,
		.iovcnt = kind == BUF_IOV ? (__u32)ctx->args[2] : 0,
		.tls = tf & TARGET_TLS,
	};
	put_call(id, &in);
	return 0;
}

// take_call moves the syscall thread id entered out of calls into call.
// The entry stays for the thread's next syscall, marked not live.
static __always_inline bool take_call(__u64 id, struct inflight *call)
{
	struct inflight *in = bpf_map_lookup_elem(&calls, &id);
	if (!in || !in->live)
		return false;
	*call = *in;
	in->live = 0;
	return true;
}

// Where a syscall's flags argument is, for the MSG_PEEK check.
enum peek_arg { PEEK_NONE = 0, PEEK_ARG2 = 2, PEEK_ARG3 = 3 };

// args_from_regs fills call from the arguments the thread passed to the
// syscall now exiting: x86-64 keeps them in the saved user registers,
// which the kernel only changes in rax (the return value). False for a
// peek (its bytes will be read again) or a thread not traced.
static __always_inline bool args_from_regs(__u64 id, struct inflight *call, __u8 kind, __u8 dir, __u8 peek)
{
	__u8 tf = target_flags(id);
	if (!tf)
		return false;
	call->tls = tf & TARGET_TLS;
	struct pt_regs *r = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!r)
		return false;
	if ((peek == PEEK_ARG2 && (r->dx & MSG_PEEK)) || (peek == PEEK_ARG3 && (r->r10 & MSG_PEEK)))
		return false;
	call->fd = (__s32)r->di;
	call->buf = r->si;
	call->kind = kind;
	call->dir = dir;
	call->iovcnt = kind == BUF_IOV ? (__u32)r->dx : 0;
	return track(id, call->fd) != NULL;
}

// accept/accept4 and connect: remember the role the new connection has.
static __always_inline int enter_conn(struct trace_event_raw_sys_enter *ctx, __u8 role)
{
	__u64 id = current_pid_tgid();
	if (!is_target(id))
		return 0;
	struct inflight in = { .fd = (__s32)ctx->args[0], .role = role };
	put_call(id, &in);
	return 0;
}

static __always_inline int exit_conn(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = current_pid_tgid();
	struct inflight call;
	if (!take_call(id, &call))
		return 0;
	long ret = ctx->ret;
	__s32 fd;
	if (call.role == ROLE_SERVER) {
		if (ret < 0)
			return 0;
		fd = ret; // accept returns the new connection's fd
	} else {
		if (ret != 0 && ret != -EINPROGRESS)
			return 0;
		fd = call.fd;
	}
	struct sock *sk = tcp_sock_of(fd);
	if (!sk)
		return 0; // unix socket, UDP connect: not ours
	struct conn_key k = { .tgid = id >> 32, .fd = fd };
	struct conn_info fresh = { .role = call.role };
	bpf_map_update_elem(&conns, &k, &fresh, BPF_ANY);
	announce(sk, id, fd, call.role);
	return 0;
}

// close_conn forgets a connection the target closes and says so
// (EV_CLOSE). It returns whether it carried TLS (its plaintext bindings
// go with it).
static __always_inline bool close_conn(__s32 fd)
{
	__u64 id = current_pid_tgid();
	if (!is_target(id))
		return 0;
	struct conn_key k = { .tgid = id >> 32, .fd = fd };
	struct conn_info *c = bpf_map_lookup_elem(&conns, &k);
	if (!c)
		return 0;
	bool ignored = c->ignore, tls = c->tls;
	bpf_map_delete_elem(&conns, &k);
	if (ignored)
		return false;
	struct close_event e = {};
	head(&e.head, id, EV_CLOSE);
	e.fd = fd;
	submit(&e, sizeof(e));
	return tls;
}

#endif
