// tasks.h: which tokio task each thread is polling, kept by tokio's probes
// (lib/tokio/tokio.bpf.h), added to by h2's (lib/h2/h2.bpf.h) and read by the syscall
// capture, whose data records carry the task.
//
// A handler's client call hands its request to the client connection's
// task through a channel; the send wakes that task, whose next poll writes
// the request. The wake names the caller: a task-to-task wake (X wakes C)
// travels with C's next poll into the data events it makes. Wakes outside
// any task poll (the I/O driver, timers) name no caller.

#ifndef RUSTSCOPE_TASKS_H
#define RUSTSCOPE_TASKS_H

#include "vmlinux.h"
#include "bpf_helpers.h"

#define ORIGIN_SEVERAL 1 // origin_task of a wake whose frames named different streams
#define H1_READ 0x80000000 // "stream" of a read from an HTTP/1 client connection (h2 ids are 31 bits)

struct task_cur {
	__u64 task;     // header pointer of the task being polled
	__u64 woken_by; // the task whose wake came before this poll; 1: several
	__u64 woken_at;
	// The HTTP/2 stream whose frame this poll decoded last (H1_READ: the
	// poll read a response from an HTTP/1 client connection), until the
	// thread's next socket call: wakes in between deliver it.
	__u32 frame_stream;
	// This poll was scheduled by such a read (origin_task read stream
	// origin_stream), directly (hop 0) or through one task (hop 1).
	__u32 origin_stream;
	__u64 origin_task;
	__u64 origin_at;
	__u8 origin_hop;
	// The h2 client stream handle this poll polled (its first 16 bytes),
	// resp_n 1; 2: several different ones, which name nothing.
	__u8 resp_n;
	__u8 _pad[6];
	__u64 resp[2];
	__u64 body[2]; // the h2 stream handle whose body this poll last reported reading
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); // pid_tgid
	__type(value, struct task_cur);
} task_cur SEC(".maps");

// polling returns what thread id is polling, or NULL outside a task poll.
static __always_inline struct task_cur *polling(__u64 id)
{
	struct task_cur *c = bpf_map_lookup_elem(&task_cur, &id);
	return c && c->task ? c : NULL;
}

#endif
