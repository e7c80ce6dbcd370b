// maps.h: the settings the loader gives, the maps every program shares
// (targets, connections, the ring) and the helpers that use them.

#ifndef RUSTSCOPE_MAPS_H
#define RUSTSCOPE_MAPS_H

#include "vmlinux.h"
#include "bpf_helpers.h"

#include "framing.h"
#include "records.h"

#define CAPTURE_BUF 8192  // per-event copy limit; capture_max may lower it

// Set by the loader before the program is loaded.
volatile const __u32 capture_max = 4096;
// Bytes waiting in the ring before a producer forces a wake-up; below it
// records are committed silently and the reader picks them up on its
// deadline. Batching wake-ups is most of the per-event cost saved.
volatile const __u64 wakeup_bytes = 256 * 1024;
// args_at_exit: the exit programs read the syscall's arguments from the
// thread's saved user registers (bpf_task_pt_regs, Linux 5.15), so the
// read/write family needs no enter program and no map entry between enter
// and exit. Set by the loader when the kernel has the helper.
volatile const __u8 args_at_exit = 0;

// rustscope's PID namespace (device and inode of /proc/self/ns/pid), set
// by the loader when it is not the initial one: a sidecar in a pod that
// shares its PID namespace, a container run with another's
// (--pid=container:NAME). Every PID the programs look up or report is then
// the one rustscope sees in its /proc; a task outside that namespace reads
// as PID 0, which is never a target.
volatile const __u64 pidns_dev = 0;
volatile const __u64 pidns_ino = 0;

struct conn_key {
	__u32 tgid;
	__s32 fd;
};

struct conn_info {
	// Data records emitted or attempted per direction; a jump means loss.
	// Per direction because a program may read and write one socket from
	// two threads at once: a shared counter raced, and records of the two
	// directions reach the ring in either order.
	__u32 seq[2];
	__u8 role;
	__u8 ignore;  // not a TCP socket: skip quickly
	__u8 tls;     // its bytes are TLS records (lib/rustls/rustls.bpf.h)
	__u8 plain;   // bit per direction: its TLS plaintext is bound and captured
	__u8 _pad[4];
	struct framing fr[2]; // capture planner state per direction
};

enum buf_kind { BUF_PLAIN = 0, BUF_IOV = 1, BUF_MSG = 2 };

// inflight is a syscall between its enter and exit.
struct inflight {
	__u64 buf;     // user pointer: buffer, iovec array or msghdr
	__s32 fd;
	__u8 kind;     // enum buf_kind
	__u8 dir;
	__u8 role;     // for accept/connect: the role the new conn gets
	__u8 live;     // entered and not yet exited (entries are reused, not deleted)
	__u32 iovcnt;
	__u8 tls;      // the process has TLS plaintext probes (TARGET_TLS)
	__u8 _pad2[3];
};

// scratch is where a data record is built: too large for the stack.
struct scratch {
	struct data_event ev;
	__u8 data[CAPTURE_BUF * 2]; // doubled so a masked offset + masked length always fits
};

// A target's flags: TARGET always, TARGET_TLS once a TLS library's
// plaintext probes are placed in it (its socket calls then settle them).
enum target_flag { TARGET = 1, TARGET_TLS = 2 };
const enum target_flag *unused_target_flag __attribute__((unused)); // for bpf2go

// Room for the processes that are targets from their exec while user
// space judges them (with --all, every process that starts), beside the
// attached ones: an exec storm must not leave no room for an attach.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);   // tgid
	__type(value, __u8);  // enum target_flag
} targets SEC(".maps");

// exec_watch: user space's verdict on executables, for the processes that
// start running them: 1, a target from its exec (--exe's files, the
// executables of the processes it attached), so captured from its first
// syscall, before user space has looked at it; 0, not one. A process of
// an executable not judged yet is a target from its exec when
// exec_unknown is set (--all, and targets that name no executable), until
// user space releases it.
struct exe_id {
	__u64 dev; // the kernel's encoding
	__u64 ino;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct exe_id);
	__type(value, __u8);
} exec_watch SEC(".maps");

volatile const __u8 exec_unknown = 0;
const struct exe_id *unused_exe_id __attribute__((unused)); // for bpf2go

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

// current_pid_tgid is bpf_get_current_pid_tgid, in rustscope's PID
// namespace when pidns_ino is set.
static __always_inline __u64 current_pid_tgid(void)
{
	if (!pidns_ino)
		return bpf_get_current_pid_tgid();
	struct bpf_pidns_info ns;
	if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)))
		return 0;
	return (__u64)ns.tgid << 32 | ns.pid;
}

// target_flags are the process's flags; 0: not a target.
static __always_inline __u8 target_flags(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
	__u8 *f = bpf_map_lookup_elem(&targets, &tgid);
	return f ? *f | TARGET : 0;
}

static __always_inline bool is_target(__u64 pid_tgid)
{
	return target_flags(pid_tgid) != 0;
}

// head fills the head every record begins with, for thread id now.
static __always_inline void head(struct event_head *h, __u64 id, __u8 kind)
{
	h->ts = bpf_ktime_get_ns();
	h->tgid = id >> 32;
	h->tid = (__u32)id;
	h->kind = kind;
}

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
}

// wakeup_flag is the ring commit flag: wake the reader only when
// wakeup_bytes are waiting.
static __always_inline __u64 wakeup_flag(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
		       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void submit(void *ev, __u64 size)
{
	if (bpf_ringbuf_output(&events, ev, size, wakeup_flag()) != 0)
		count_lost();
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch_map, &zero);
}

#endif
