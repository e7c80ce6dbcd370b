// records.h: the records the programs send to user space through the ring.
//
// Every record begins with an event_head whose kind says which struct the
// whole record is; each struct is one kind's, and its fields mean one thing.
// bpf2go turns each into a Go type (the -type flags in gen.go), which the
// tracer decodes the record into. Padding is explicit: the layout is the
// same in C and Go, and nothing uninitialised reaches user space.

#ifndef RUSTSCOPE_RECORDS_H
#define RUSTSCOPE_RECORDS_H

#include "vmlinux.h"

enum ev_kind {
	EV_DATA = 1,  // struct data_event, then the captured bytes
	EV_OPEN = 2,  // struct open_event
	EV_CLOSE = 3, // struct close_event
	EV_PROBE = 4, // struct probe_event
	EV_TASK = 5,  // struct task_event
	EV_EXEC = 6,  // struct exec_event
	EV_BODY = 7,  // struct body_event
	EV_TLS_BIND = 8, // struct tls_bind_event
};
enum direction { DIR_INGRESS = 0, DIR_EGRESS = 1 };
enum role { ROLE_UNKNOWN = 0, ROLE_SERVER = 1, ROLE_CLIENT = 2 };
// What a data record's bytes are: a plaintext connection's (wire), a TLS
// connection's records (cipher), or the plaintext a TLS library moved
// (plain; lib/rustls/rustls.bpf.h).
enum tls_bytes { TLS_WIRE = 0, TLS_CIPHER = 1, TLS_PLAIN = 2 };

#define PROBE_STR 256 // bytes of a library probe's string argument copied

struct event_head {
	__u64 ts;    // CLOCK_MONOTONIC ns
	__u32 tgid;
	__u32 tid;
	__u8 kind;   // enum ev_kind
	__u8 _pad[7];
};

// exec_event: a process now runs a new executable (every exec on the
// host). Its executable's identity is the file's device (the kernel's
// encoding: major << 20 | minor) and inode; targeted: the process is a
// target from its first syscall (exec_watch), and user space must attach or
// release it.
#define EXEC_PATH 256 // bytes of the path given to execve kept

struct exec_event {
	struct event_head head;
	__u64 dev;
	__u64 ino;
	__u8 targeted;
	__u8 _pad[7];
	char path[EXEC_PATH]; // as given to execve (NUL-terminated): a target's name once it is gone
};

// data_event: bytes a syscall moved over a TCP connection, or a TLS
// library moved above one; len captured bytes follow it. The records of
// one call cover it back to back.
struct data_event {
	struct event_head head;
	__s32 fd;       // -1: TLS plaintext of a connection not yet known (tls_key)
	__u32 seq;      // per connection and direction: a jump means loss
	__u32 size;     // bytes of the call this record accounts for
	__u32 len;      // bytes captured after this struct: the first len of size
	__u8 dir;       // enum direction
	__u8 tls;       // enum tls_bytes
	__u8 _pad[6];
	__u64 task;     // the tokio task the thread was polling (0: none or no task probes)
	__u64 woken_by; // the other task whose wake scheduled that poll (0: none seen, 1: several)
	__u64 woken_at; // when it woke it
	__u64 tls_key;  // TLS plaintext: the library's object that names the connection
};

// tls_bind_event: the TLS plaintext of tls_key in direction dir belongs to
// connection fd from now on, and so do the records that came with the key
// and fd -1 before (lib/rustls/rustls.bpf.h).
struct tls_bind_event {
	struct event_head head;
	__u64 key;
	__s32 fd;
	__u8 dir;
	__u8 overhead; // bytes a record adds to its plaintext: 17 TLS 1.3; 24, 16 TLS 1.2
	__u8 inferred; // bound through the binary's offset between the keys, not by evidence
	__u8 _pad;
};

// open_event announces a connection before its first data.
struct open_event {
	struct event_head head;
	__s32 fd;
	__u8 role;   // enum role
	__u8 family; // AF_INET / AF_INET6
	__u16 lport; // host order
	__u16 rport; // host order
	__u8 _pad[6];
	__u8 laddr[16];
	__u8 raddr[16];
};

// close_event: the traced process closed a connection.
struct close_event {
	struct event_head head;
	__s32 fd;
	__u8 _pad[4];
};

// probe_event: a library uprobe hit (probe_hit.h).
struct probe_event {
	struct event_head head;
	__u32 probe;         // the probe point: index in user space's table (cookie bits 0..31)
	__u32 str_len;       // bytes of str read
	__u64 args[6];       // rdi rsi rdx rcx r8 r9
	__u8 str[PROBE_STR]; // the string argument the cookie names
};

// task_event: task was polled, woken by woken_by, because task origin read
// a response (stream H1_READ) or a frame of stream and woke it, directly
// (hop 0) or through woken_by (hop 1), at origin_at; and/or woken_by polled
// an h2 client stream handle before the wake, whose first 16 bytes resp
// holds (lib/tokio/tokio.bpf.h, lib/h2/h2.bpf.h).
struct task_event {
	struct event_head head;
	__u64 task;
	__u64 woken_by;  // 0: none seen, 1: several
	__u64 origin;    // 0: no read scheduled the poll
	__u64 origin_at;
	__u64 resp[2];   // 0, 0: none, or several different ones
	__u32 stream;
	__u8 hop;
	__u8 _pad[3];
};

// body_event: task read the body of the h2 stream whose handle begins
// with the 16 bytes of recv (lib/h2/h2.bpf.h).
struct body_event {
	struct event_head head;
	__u64 task;
	__u64 recv[2];
};

// Referenced so that the types are in the object's BTF for bpf2go, which
// turns the enums into Go constants.
const struct event_head *unused_event_head __attribute__((unused));
const struct data_event *unused_data_event __attribute__((unused));
const struct open_event *unused_open_event __attribute__((unused));
const struct close_event *unused_close_event __attribute__((unused));
const struct probe_event *unused_probe_event __attribute__((unused));
const struct task_event *unused_task_event __attribute__((unused));
const struct body_event *unused_body_event __attribute__((unused));
const struct tls_bind_event *unused_tls_bind_event __attribute__((unused));
const struct exec_event *unused_exec_event __attribute__((unused));
const enum tls_bytes *unused_tls_bytes __attribute__((unused));
const enum ev_kind *unused_ev_kind __attribute__((unused));
const enum direction *unused_direction __attribute__((unused));
const enum role *unused_role __attribute__((unused));

#endif
