// tokio.bpf.h: tokio's probes: which task each thread polls (tasks.h),
// and which task woke it.

#ifndef RUSTSCOPE_TOKIO_BPF_H
#define RUSTSCOPE_TOKIO_BPF_H

#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpf_tracing.h"

#include "maps.h"
#include "records.h"
#include "tasks.h"

// A wake that a task's next poll has not yet taken, by task.
struct task_key {
	__u32 tgid;
	__u32 _pad;
	__u64 task;
};

struct task_wake {
	__u64 by;
	__u64 at;
	__u64 origin_task;
	__u64 origin_at;
	__u32 origin_stream;
	__u8 origin_hop;
	__u8 _pad[3];
	__u64 resp[2]; // the waker's ResponseFuture (0: none or several)
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct task_key);
	__type(value, struct task_wake);
} task_wakes SEC(".maps");

// Task polls seen, by process: user space keeps the probes' hits under a
// budget (tracer/tasks.go). It makes each target's entry; a hit only adds.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32); // tgid
	__type(value, __u64);
} task_polls SEC(".maps");

// tokio::runtime::task::raw::poll(ptr: NonNull<Header>): a thread starts
// polling a task. Its first instruction is a jmp, which the kernel
// emulates. A poll that a client call's response scheduled (an HTTP/1
// read, an HTTP/2 frame) is reported (EV_TASK): user space links the call's
// span to the server request that task handles.
SEC("uprobe.multi")
int task_poll(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	if (!is_target(id))
		return 0;
	__u32 tgid = id >> 32;
	__u64 *polls = bpf_map_lookup_elem(&task_polls, &tgid);
	if (polls)
		__sync_fetch_and_add(polls, 1);
	struct task_cur c = { .task = PT_REGS_PARM1(ctx) };
	struct task_key k = { .tgid = tgid, .task = c.task };
	struct task_wake *w = bpf_map_lookup_elem(&task_wakes, &k);
	__u64 resp0 = 0, resp1 = 0;
	if (w && w->by) {
		c.woken_by = w->by;
		c.woken_at = w->at;
		c.origin_task = w->origin_task;
		c.origin_at = w->origin_at;
		c.origin_stream = w->origin_stream;
		c.origin_hop = w->origin_hop;
		resp0 = w->resp[0];
		resp1 = w->resp[1];
		w->by = 0; // taken: kept in place (cheaper than a delete), the next wake overwrites it
	}
	// The thread's entry is rewritten in place: an LRU hash update (or
	// delete) per poll costs several times a lookup.
	struct task_cur *cur = bpf_map_lookup_elem(&task_cur, &id);
	if (cur)
		*cur = c;
	else
		bpf_map_update_elem(&task_cur, &id, &c, BPF_ANY);
	if (c.origin_task > ORIGIN_SEVERAL || resp0) {
		struct task_event e = {
			.task = c.task,
			.woken_by = c.woken_by,
			.origin = c.origin_task,
			.origin_at = c.origin_at,
			.resp = { resp0, resp1 },
			.stream = c.origin_stream,
			.hop = c.origin_hop,
		};
		head(&e.head, id, EV_TASK);
		submit(&e, sizeof(e));
	}
	return 0;
}

// The poll returned: what the thread does next is not that task's. The
// entry is cleared, not deleted: a zero task means "not polling".
SEC("uretprobe.multi")
int task_poll_ret(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	struct task_cur *cur = bpf_map_lookup_elem(&task_cur, &id);
	if (cur)
		__builtin_memset(cur, 0, sizeof(*cur));
	return 0;
}

// tokio::runtime::task::waker::wake_by_val / wake_by_ref(ptr): a task is
// woken; OwnedTasks::bind_inner(&self, task, notified): a task is spawned,
// its first poll to come. Recorded only when the waker (spawner) is itself
// a task being polled. Cookie: the argument register holding the task.
//
// The wake also carries an HTTP/2 origin: the frame the waker has just
// decoded (hop 0), or else the frame that scheduled the waker's own poll
// (hop 1: hyper hands a response from the task that polls the stream to
// the caller's task through a channel). Never further.
SEC("uprobe.multi")
int task_wake(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	struct task_cur *c = polling(id);
	if (!c)
		return 0;
	// Both registers read before choosing: the verifier refuses a ctx
	// pointer the compiler offsets by a computed amount.
	__u64 arg1 = PT_REGS_PARM1(ctx), arg2 = PT_REGS_PARM2(ctx);
	asm volatile("" : "+r"(arg1), "+r"(arg2));
	__u64 woken = bpf_get_attach_cookie(ctx) == 2 ? arg2 : arg1;
	if (woken == c->task)
		return 0; // a task waking itself (yield)
	__u64 now = bpf_ktime_get_ns();
	struct task_wake nw = { .by = c->task, .at = now };
	if (c->frame_stream) {
		nw.origin_task = c->task;
		nw.origin_stream = c->frame_stream;
		nw.origin_at = now;
	} else if (c->origin_task > ORIGIN_SEVERAL && c->origin_hop == 0) {
		nw.origin_task = c->origin_task;
		nw.origin_stream = c->origin_stream;
		nw.origin_at = c->origin_at;
		nw.origin_hop = 1;
	}
	if (c->resp_n == 1) {
		nw.resp[0] = c->resp[0];
		nw.resp[1] = c->resp[1];
	}
	// A task woken by several tasks before its poll has no single caller:
	// user space gets "several" (1) and links nothing to that poll. So for
	// origins: frames of two streams leave none.
	struct task_key k = { .tgid = id >> 32, .task = woken };
	struct task_wake *w = bpf_map_lookup_elem(&task_wakes, &k);
	if (w && !w->by) { // taken by a poll: a first wake again
		*w = nw;
		return 0;
	}
	if (w) {
		if (w->by != c->task)
			w->by = 1;
		if (nw.origin_task) {
			if (!w->origin_task) {
				w->origin_task = nw.origin_task;
				w->origin_stream = nw.origin_stream;
				w->origin_at = nw.origin_at;
				w->origin_hop = nw.origin_hop;
			} else if (w->origin_task != nw.origin_task || w->origin_stream != nw.origin_stream) {
				w->origin_task = ORIGIN_SEVERAL;
			}
		}
		if (w->resp[0] != nw.resp[0] || w->resp[1] != nw.resp[1]) {
			w->resp[0] = 0;
			w->resp[1] = 0;
		}
		return 0;
	}
	bpf_map_update_elem(&task_wakes, &k, &nw, BPF_ANY);
	return 0;
}

#endif
