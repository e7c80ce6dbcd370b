//go:build ignore

// wire.c: the one BPF object. It captures the bytes a traced process moves
// over TCP sockets, and the hits of the probes in its libraries.
//
// Syscall tracepoints (no kprobes on this class of kernel) see every
// read/write-family call of the target's threads. Enter saves the arguments
// per thread; exit, knowing how many bytes moved, copies the first
// capture_max of them into the ring buffer, plus the HTTP/1 framing bytes
// and HTTP/2 frame headers that lie beyond them (capture.h). Connections
// are announced before their first data (conns.h).
//
// The headers, by concern:
//   records.h     the records user space reads from the ring
//   maps.h        settings, shared maps (targets, conns, the ring)
//   framing.h     the capture planner's state per connection direction
//   conns.h       which fds are TCP connections; open and close records
//   capture.h     the capture planner: one syscall's windows of bytes
//   plan.h        its steps, by protocol: plan_http1.h, plan_http2.h
//   data.h        one call's bytes as data records, through the planner
//   tasks.h       which tokio task a thread polls (read by data records)
//   tls.h         which connections carry TLS records; TLS plaintext bound
//                 to its socket and sent as its data
//   probe_hit.h   the library probe that reports hits (hyper, axum)
// and, in the home of each library that has programs of its own (lib/):
//   tokio.bpf.h   tokio's task poll and wake probes
//   h2.bpf.h      h2's frame, response and body probes
//   rustls.bpf.h  rustls's plaintext and its binding to sockets
//   openssl.bpf.h OpenSSL's plaintext (libssl) and its binding to sockets

#include "vmlinux.h"
#include "bpf_helpers.h"

#include "capture.h"
#include "conns.h"
#include "data.h"
#include "framing.h"
#include "maps.h"
#include "plan.h"
#include "records.h"
#include "tasks.h"
#include "tls.h"

#include "probe_hit.h"
#include "lib/h2/h2.bpf.h"
#include "lib/openssl/openssl.bpf.h"
#include "lib/rustls/rustls.bpf.h"
#include "lib/tokio/tokio.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

// exit_io captures what a read- or write-family syscall moved. kind, way
// (its direction) and peek describe the syscall, for reading its arguments
// at exit (args_at_exit); else its enter program saved them.
static __always_inline int exit_io(struct trace_event_raw_sys_exit *ctx, __u8 kind, __u8 way, __u8 peek)
{
	__u64 id = current_pid_tgid();
	struct inflight call = {};
	if (args_at_exit ? !args_from_regs(id, &call, kind, way, peek) : !take_call(id, &call))
		return 0;
	struct task_cur *tc = bpf_map_lookup_elem(&task_cur, &id);
	if (tc)
		tc->frame_stream = 0; // the thread left the frames it decoded
	long ret = ctx->ret;
	if (ret <= 0) {
		// EAGAIN and EOF are the common case on a tokio socket
		if (call.tls)
			rustls_syscall(id, &call, ret, NULL);
		return 0;
	}
	struct conn_key k = { .tgid = id >> 32, .fd = call.fd };
	struct conn_info *c = bpf_map_lookup_elem(&conns, &k);
	if (c && c->ignore)
		c = NULL;
	if (c)
		tls_detect(c, &call);
	if (call.tls) {
		ssl_syscall(id, &call, ret, c);
		rustls_syscall(id, &call, ret, c);
	}
	if (!c)
		return 0;
	if (c->tls) // its plaintext comes from the TLS library's probes, once bound
		return c->plain & (1 << (call.dir & 1)) ? 0 : capture(id, &call, ret, c, TLS_CIPHER);
	return capture(id, &call, ret, c, TLS_WIRE);
}

SEC("tracepoint/syscalls/sys_enter_read")
int enter_read(struct trace_event_raw_sys_enter *ctx) { return enter_io(ctx, BUF_PLAIN, DIR_INGRESS); }
SEC("tracepoint/syscalls/sys_exit_read")
int exit_read(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx, BUF_PLAIN, DIR_INGRESS, PEEK_NONE); }

SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct trace_event_raw_sys_enter *ctx) { return enter_io(ctx, BUF_PLAIN, DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_exit_write")
int exit_write(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx, BUF_PLAIN, DIR_EGRESS, PEEK_NONE); }

SEC("tracepoint/syscalls/sys_enter_readv")
int enter_readv(struct trace_event_raw_sys_enter *ctx) { return enter_io(ctx, BUF_IOV, DIR_INGRESS); }
SEC("tracepoint/syscalls/sys_exit_readv")
int exit_readv(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx, BUF_IOV, DIR_INGRESS, PEEK_NONE); }

SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct trace_event_raw_sys_enter *ctx) { return enter_io(ctx, BUF_IOV, DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_exit_writev")
int exit_writev(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx, BUF_IOV, DIR_EGRESS, PEEK_NONE); }

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[3] & MSG_PEEK)
		return 0; // the bytes will be read again
	return enter_io(ctx, BUF_PLAIN, DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int exit_recvfrom(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx, BUF_PLAIN, DIR_INGRESS, PEEK_ARG3); }

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct trace_event_raw_sys_enter *ctx) { return enter_io(ctx, BUF_PLAIN, DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx, BUF_PLAIN, DIR_EGRESS, PEEK_NONE); }

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[2] & MSG_PEEK)
		return 0;
	return enter_io(ctx, BUF_MSG, DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int exit_recvmsg(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx, BUF_MSG, DIR_INGRESS, PEEK_ARG2); }

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx) { return enter_io(ctx, BUF_MSG, DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct trace_event_raw_sys_exit *ctx) { return exit_io(ctx, BUF_MSG, DIR_EGRESS, PEEK_NONE); }

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
	__s32 fd = ctx->args[0];
	if (close_conn(fd))
		tls_unbind(current_pid_tgid(), fd);
	return 0;
}

// sched_process_exec: a process now runs a new executable. Every exec on
// the host is reported (they are rare), so that processes are attached as
// they start (--exe, --all) without scanning /proc. One whose executable
// user space watches (or has not judged, with exec_unknown) is a target at
// once: its first syscalls are captured while user space analyses it and
// places its probes, or releases it.
SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u64 id = current_pid_tgid();
	if (!id) // outside rustscope's PID namespace
		return 0;
	struct exec_event e = {};
	head(&e.head, id, EV_EXEC);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct inode *in = BPF_CORE_READ(task, mm, exe_file, f_inode);
	if (in) {
		struct exe_id k = { .dev = BPF_CORE_READ(in, i_sb, s_dev), .ino = BPF_CORE_READ(in, i_ino) };
		e.dev = k.dev;
		e.ino = k.ino;
		__u8 *verdict = bpf_map_lookup_elem(&exec_watch, &k);
		if (verdict ? *verdict : exec_unknown) {
			__u32 tgid = id >> 32;
			__u8 flags = TARGET;
			bpf_map_update_elem(&targets, &tgid, &flags, BPF_ANY);
			e.targeted = 1;
			bpf_probe_read_kernel_str(e.path, sizeof(e.path), (void *)ctx + (ctx->__data_loc_filename & 0xFFFF));
		}
	}
	submit(&e, sizeof(e));
	return 0;
}

