//go:build ignore

// wire.c: capture the bytes a traced process moves over TCP sockets.
//
// Syscall tracepoints (no kprobes on this class of kernel) see every
// read/write-family call of the target's threads. Enter saves the arguments
// per thread; exit, knowing how many bytes moved, copies up to capture_max
// of them into the ring buffer. Connections are keyed by (tgid, fd) and
// announced once (CONN_OPEN with role and addresses) before their first
// data, so user space never has to look at /proc to learn what a fd is.

#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpf_tracing.h"
#include "bpf_core_read.h"
#include "bpf_endian.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define CAPTURE_BUF 8192  // per-event copy limit; capture_max may lower it
#define MAX_IOV 8         // iovecs followed per readv/writev/msghdr
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define MSG_PEEK 2
#define EINPROGRESS 115

enum ev_kind { EV_DATA = 1, EV_OPEN = 2, EV_CLOSE = 3 };
enum direction { DIR_INGRESS = 0, DIR_EGRESS = 1 };
enum role { ROLE_UNKNOWN = 0, ROLE_SERVER = 1, ROLE_CLIENT = 2 };
enum buf_kind { BUF_PLAIN = 0, BUF_IOV = 1, BUF_MSG = 2 };

// Set by the loader before the program is loaded.
volatile const __u32 capture_max = 4096;
// Bytes waiting in the ring before a producer forces a wake-up; below it
// records are committed silently and the reader picks them up on its
// deadline. Batching wake-ups is most of the per-event cost saved.
volatile const __u64 wakeup_bytes = 256 * 1024;

struct conn_key {
	__u32 tgid;
	__s32 fd;
};

struct conn_info {
	__u32 seq;    // data events emitted or attempted; a jump means loss
	__u8 role;
	__u8 ignore;  // not a TCP socket: skip quickly
	__u8 _pad[2];
};

// wire_event is the one record type in the ring buffer; data follows it.
struct wire_event {
	__u64 ts;      // CLOCK_MONOTONIC ns at syscall exit
	__u32 tgid;
	__u32 tid;
	__s32 fd;
	__u32 seq;     // per connection, data events only
	__u32 size;    // bytes the syscall moved
	__u32 len;     // bytes captured after this header
	__u8 kind;     // enum ev_kind
	__u8 dir;      // enum direction
	__u8 role;     // enum role (open)
	__u8 family;   // AF_INET / AF_INET6 (open)
	__u16 lport;   // host order (open)
	__u16 rport;   // host order (open)
	__u8 laddr[16];
	__u8 raddr[16];
};
const struct wire_event *unused_wire_event __attribute__((unused));

struct scratch {
	struct wire_event ev;
	__u8 data[CAPTURE_BUF * 2]; // doubled so a masked offset + masked length always fits
};

struct inflight {
	__u64 buf;     // user pointer: buffer, iovec array or msghdr
	__s32 fd;
	__u8 kind;     // enum buf_kind
	__u8 dir;
	__u8 role;     // for accept/connect: the role the new conn gets
	__u8 _pad;
	__u32 iovcnt;
	__u32 _pad2;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);   // tgid
	__type(value, __u8);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn_info);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);   // pid_tgid
	__type(value, struct inflight);
} calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

// lost[0]: records the ring had no room for.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline bool is_target(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline void submit(void *ev, __u64 size)
{
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
			      BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, ev, size, flags) != 0)
		count_lost();
}

// sock_of returns the struct sock behind fd if it is a TCP socket.
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

// announce emits CONN_OPEN for fd with the socket's addresses.
static __always_inline void announce(struct sock *sk, __u32 tgid, __s32 fd, __u8 role)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return;
	struct wire_event *e = &s->ev;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_ns();
	e->tgid = tgid;
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->fd = fd;
	e->kind = EV_OPEN;
	e->role = role;
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (e->family == AF_INET) {
		bpf_core_read(e->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(e->raddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(e->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(e->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	submit(e, sizeof(*e));
}

// track returns the connection state for fd, learning it on first sight
// (connections open before attach, or whose accept/connect we missed).
static __always_inline struct conn_info *track(__u32 tgid, __s32 fd)
{
	struct conn_key k = { .tgid = tgid, .fd = fd };
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
	announce(sk, tgid, fd, ROLE_UNKNOWN);
	return bpf_map_lookup_elem(&conns, &k);
}

static __always_inline int enter_io(struct trace_event_raw_sys_enter *ctx, __u8 kind, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!is_target(id))
		return 0;
	__s32 fd = (__s32)ctx->args[0];
	if (!track(id >> 32, fd))
		return 0;
	struct inflight in = {
		.buf = ctx->args[1],
		.fd = fd,
		.kind = kind,
		.dir = dir,
		.iovcnt = kind == BUF_IOV ? (__u32)ctx->args[2] : 0,
	};
	bpf_map_update_elem(&calls, &id, &in, BPF_ANY);
	return 0;
}

// copy_iov appends up to MAX_IOV iovecs' bytes to data, at most want bytes.
static __always_inline __u32 copy_iov(__u8 *data, const struct iovec *iov, __u32 cnt, __u32 want)
{
	__u32 off = 0;
#pragma unroll
	for (int i = 0; i < MAX_IOV; i++) {
		if (i >= cnt || off >= want)
			break;
		struct iovec v = {};
		if (bpf_probe_read_user(&v, sizeof(v), &iov[i]))
			break;
		__u32 n = v.iov_len;
		if (n > want - off)
			n = want - off;
		off &= CAPTURE_BUF - 1;
		n &= CAPTURE_BUF - 1;
		if (n && bpf_probe_read_user(&data[off], n, v.iov_base))
			break;
		off += n;
	}
	return off;
}

static __always_inline int exit_io(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct inflight *in = bpf_map_lookup_elem(&calls, &id);
	if (!in)
		return 0;
	struct inflight call = *in;
	bpf_map_delete_elem(&calls, &id);
	long ret = ctx->ret;
	if (ret <= 0)
		return 0; // EAGAIN and EOF are the common case on a tokio socket

	struct conn_key k = { .tgid = id >> 32, .fd = call.fd };
	struct conn_info *c = bpf_map_lookup_elem(&conns, &k);
	if (!c || c->ignore)
		return 0;
	__u32 seq = c->seq++; // one fd is not read by two threads at once

	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 0;
	struct wire_event *e = &s->ev;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_ns();
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->fd = call.fd;
	e->seq = seq;
	e->size = ret;
	e->kind = EV_DATA;
	e->dir = call.dir;

	__u32 want = ret;
	__u32 limit = capture_max < CAPTURE_BUF - 1 ? capture_max : CAPTURE_BUF - 1;
	if (want > limit)
		want = limit;

	__u32 got = 0;
	if (call.kind == BUF_PLAIN) {
		want &= CAPTURE_BUF - 1;
		if (want && bpf_probe_read_user(s->data, want, (void *)call.buf) == 0)
			got = want;
	} else {
		const struct iovec *iov = (const struct iovec *)call.buf;
		__u32 cnt = call.iovcnt;
		if (call.kind == BUF_MSG) {
			struct user_msghdr msg = {};
			if (bpf_probe_read_user(&msg, sizeof(msg), (void *)call.buf))
				return 0;
			iov = msg.msg_iov;
			cnt = msg.msg_iovlen;
		}
		got = copy_iov(s->data, iov, cnt, want);
	}
	e->len = got;
	submit(s, sizeof(*e) + (got & (CAPTURE_BUF - 1)));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int enter_read(struct trace_event_raw_sys_enter *ctx) { return enter_io(ctx, BUF_PLAIN, DIR_INGRESS); }
SEC("tracepoint/syscalls/sys_exit_read")
int exit_read(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx); }

SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct trace_event_raw_sys_enter *ctx) { return enter_io(ctx, BUF_PLAIN, DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_exit_write")
int exit_write(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx); }

SEC("tracepoint/syscalls/sys_enter_readv")
int enter_readv(struct trace_event_raw_sys_enter *ctx) { return enter_io(ctx, BUF_IOV, DIR_INGRESS); }
SEC("tracepoint/syscalls/sys_exit_readv")
int exit_readv(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx); }

SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct trace_event_raw_sys_enter *ctx) { return enter_io(ctx, BUF_IOV, DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_exit_writev")
int exit_writev(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx); }

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[3] & MSG_PEEK)
		return 0; // the bytes will be read again
	return enter_io(ctx, BUF_PLAIN, DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int exit_recvfrom(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx); }

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct trace_event_raw_sys_enter *ctx) { return enter_io(ctx, BUF_PLAIN, DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx); }

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[2] & MSG_PEEK)
		return 0;
	return enter_io(ctx, BUF_MSG, DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int exit_recvmsg(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx); }

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx) { return enter_io(ctx, BUF_MSG, DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx); }

// accept/accept4 and connect: remember the role the new connection has.
static __always_inline int enter_conn(struct trace_event_raw_sys_enter *ctx, __u8 role)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!is_target(id))
		return 0;
	struct inflight in = { .fd = (__s32)ctx->args[0], .role = role };
	bpf_map_update_elem(&calls, &id, &in, BPF_ANY);
	return 0;
}

static __always_inline int exit_conn(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct inflight *in = bpf_map_lookup_elem(&calls, &id);
	if (!in)
		return 0;
	struct inflight call = *in;
	bpf_map_delete_elem(&calls, &id);
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
	announce(sk, k.tgid, fd, call.role);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int enter_accept4(struct trace_event_raw_sys_enter *ctx) { return enter_conn(ctx, ROLE_SERVER); }
SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx) { return exit_conn(ctx); }

SEC("tracepoint/syscalls/sys_enter_accept")
int enter_accept(struct trace_event_raw_sys_enter *ctx) { return enter_conn(ctx, ROLE_SERVER); }
SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx) { return exit_conn(ctx); }

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx) { return enter_conn(ctx, ROLE_CLIENT); }
SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx) { return exit_conn(ctx); }

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!is_target(id))
		return 0;
	struct conn_key k = { .tgid = id >> 32, .fd = (__s32)ctx->args[0] };
	struct conn_info *c = bpf_map_lookup_elem(&conns, &k);
	if (!c)
		return 0;
	bool ignored = c->ignore;
	bpf_map_delete_elem(&conns, &k);
	if (ignored)
		return 0;
	struct wire_event e = {};
	e.ts = bpf_ktime_get_ns();
	e.tgid = k.tgid;
	e.tid = (__u32)id;
	e.fd = k.fd;
	e.kind = EV_CLOSE;
	submit(&e, sizeof(e));
	return 0;
}
