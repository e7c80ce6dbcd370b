//go:build ignore

// wire.c: capture the bytes a traced process moves over TCP sockets.
//
// Syscall tracepoints (no kprobes on this class of kernel) see every
// read/write-family call of the target's threads. Enter saves the arguments
// per thread; exit, knowing how many bytes moved, copies the first
// capture_max of them into the ring buffer, plus the HTTP/1 framing bytes
// that lie beyond them (see "capture planner" below). Connections are keyed
// by (tgid, fd) and announced once (CONN_OPEN with role and addresses)
// before their first data, so user space never has to look at /proc to
// learn what a fd is.

#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpf_tracing.h"
#include "bpf_core_read.h"
#include "bpf_endian.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define CAPTURE_BUF 8192  // per-event copy limit; capture_max may lower it
#define MAX_IOV 64        // iovecs followed per readv/writev/msghdr (hyper writes up to 64)
#define CHUNK_WIN 64      // bytes captured at a chunk boundary: CRLF, size line, extension
#define MAX_HEAD (64 << 10) // longest head followed (the parser's bound too)
#define MAX_RECORDS 512   // records one syscall may emit
#define WALK_STEPS (1 << 17) // planner steps per syscall
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define MSG_PEEK 2
#define EINPROGRESS 115

enum ev_kind { EV_DATA = 1, EV_OPEN = 2, EV_CLOSE = 3, EV_PROBE = 4, EV_TASK = 5, EV_EXEC = 6 };
enum direction { DIR_INGRESS = 0, DIR_EGRESS = 1 };
enum role { ROLE_UNKNOWN = 0, ROLE_SERVER = 1, ROLE_CLIENT = 2 };
enum buf_kind { BUF_PLAIN = 0, BUF_IOV = 1, BUF_MSG = 2 };

// Set by the loader before the program is loaded.
volatile const __u32 capture_max = 4096;
// Bytes waiting in the ring before a producer forces a wake-up; below it
// records are committed silently and the reader picks them up on its
// deadline. Batching wake-ups is most of the per-event cost saved.
volatile const __u64 wakeup_bytes = 256 * 1024;
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

// framing is the capture planner's view of one direction of a connection:
// just enough HTTP/1 to know where the bytes the parser needs (heads,
// chunk-size lines, trailers) lie in a long syscall. It is a hint only: user
// space parses everything again and decides. A wrong guess costs a few
// extra bytes or loses track until a syscall starts a message again, which
// is no worse than capturing prefixes alone.
struct framing {
	__u64 remain; // M_BODY, M_DATA: bytes left; M_SIZE: chunk size so far
	__u64 cl;     // Content-Length of the head being read
	__u32 head;   // bytes of the head so far (bounded by MAX_HEAD)
	__u16 code;   // status code of a response head
	__u8 mode;    // enum mode
	__u8 idx;     // M_LINE1: line bytes; M_NAME: bytes matched; M_CL, M_SIZE: digits; M_TE: "chunked" matched
	__u8 cand;    // M_NAME: header names still matching
	__u8 flags;   // F_*
	__u8 h2[16];  // M_H2: frame header bytes so far (idx of them), split across syscalls
	__u8 _pad[6];
};

struct conn_info {
	// Data records emitted or attempted per direction; a jump means loss.
	// Per direction because a program may read and write one socket from
	// two threads at once: a shared counter raced, and records of the two
	// directions reach the ring in either order.
	__u32 seq[2];
	__u8 role;
	__u8 ignore;  // not a TCP socket: skip quickly
	__u8 _pad[6];
	struct framing fr[2]; // capture planner state per direction
};

// wire_event is the one record type in the ring buffer; data follows it.
struct wire_event {
	__u64 ts;      // CLOCK_MONOTONIC ns at syscall exit
	__u32 tgid;
	__u32 tid;
	__s32 fd;
	__u32 seq;     // per connection and direction, data events only
	__u32 size;    // bytes of the syscall this record accounts for: the
	               // records of one syscall cover it back to back
	__u32 len;     // bytes captured after this header: the first len of size
	__u8 kind;     // enum ev_kind
	__u8 dir;      // enum direction
	__u8 role;     // enum role (open)
	__u8 family;   // AF_INET / AF_INET6 (open)
	__u16 lport;   // host order (open)
	__u16 rport;   // host order (open)
	__u8 laddr[16];
	__u8 raddr[16];
	// Data events: the tokio task the thread was polling (0: none or no
	// task probes), and the other task whose wake scheduled that poll
	// (0: none seen, 1: several) with the time of the wake. Task events
	// (EV_TASK): task was polled, woken by woken_by, because task origin
	// read a response (seq H1_READ) or a frame of stream seq and woke it,
	// directly or through woken_by (dir: hops, 0 or 1), at woken_at; and/or
	// woken_by polled an h2 client ResponseFuture before the wake: laddr
	// then holds that future's first 16 bytes (see h2_resp). dir 2: task
	// read the body of the h2 stream whose RecvStream laddr holds.
	__u64 task;
	__u64 woken_by;
	__u64 woken_at;
	__u64 origin;
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
	e->tid = (__u32)current_pid_tgid();
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
	__u64 id = current_pid_tgid();
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

// ---- capture planner ------------------------------------------------------
//
// Copying the first capture_max bytes of each syscall is enough for the
// HTTP/1 parser as long as everything it needs lies there. Two things do
// not: the rest of a head longer than capture_max, and the chunk-size lines
// of a chunked body read or written in large pieces (a 64 KiB read of a
// chunked upload holds several). Without them the parser loses sync, the
// span is lost or its body size is wrong.
//
// So exit walks the syscall's bytes with the direction's framing state: it
// follows heads byte by byte (end, Content-Length, Transfer-Encoding,
// status code), jumps over bodies and chunk data by count, and reads
// chunk-size lines and trailers. Where it needs bytes beyond what is
// captured it captures another window. The records of one syscall cover it
// back to back: each accounts for `size` bytes from where the previous one
// ended, of which the first `len` are captured. User space feeds them in
// order as it always did (captured bytes, then a count of uncaptured ones),
// so it needs no notion of windows, and skips bodies by count exactly.

enum mode {
	M_IDLE = 0, // between messages: one may start at a boundary
	M_LINE1,    // first line of a head
	M_LSTART,   // start of a header line
	M_NAME,     // header name, matched against Content-Length / Transfer-Encoding
	M_CL,       // Content-Length value
	M_TE,       // Transfer-Encoding value
	M_SKIP,     // rest of a header line
	M_HEAD_CR,  // CR of the empty line that ends the head
	M_BODY,     // Content-Length body: remain bytes left
	M_CRLF,     // CRLF after chunk data (chunk states from here on)
	M_CRLF_LF,  // its LF
	M_SIZE,     // chunk-size digits
	M_EXT,      // chunk extension, up to LF
	M_DATA,     // chunk data: remain bytes left
	M_TLSTART,  // start of a trailer line, or the final empty line
	M_TCR,      // CR of the final empty line
	M_TSKIP,    // rest of a trailer line
	M_H2,       // HTTP/2: at a frame header (idx bytes of it in h2)
	M_H2_SKIP,  // HTTP/2: remain bytes of a frame payload to pass
};

#define F_RESP 1    // the head is a response
#define F_CL 2      // it has a Content-Length
#define F_CHUNKED 4 // its last transfer coding is chunked
#define F_H2 8      // the direction speaks HTTP/2 (kept across desyncs)
#define CAND_CL 1
#define CAND_TE 2

// Lower-case header names and tokens, little-endian, 8 bytes per word.
#define CL_0 0x2d746e65746e6f63ULL // "content-"
#define CL_1 0x3a6874676e656cULL   // "length:"
#define CL_LEN 15
#define TE_0 0x726566736e617274ULL // "transfer"
#define TE_1 0x6e69646f636e652dULL // "-encodin"
#define TE_2 0x3a67ULL             // "g:"
#define TE_LEN 18
#define CHUNKED 0x64656b6e756863ULL // "chunked"
// Message starts: "HTTP/1." and request methods followed by a space.
#define HTTP1 0x2e312f50545448ULL
#define GET_ 0x20544547ULL
#define PUT_ 0x20545550ULL
#define POST_ 0x2054534f50ULL
#define HEAD_ 0x2044414548ULL
#define PATCH_ 0x204843544150ULL
#define TRACE_ 0x204543415254ULL
#define DELETE_ 0x204554454c4544ULL
#define OPTIONS_ 0x20534e4f4954504fULL
#define CONNECT_ 0x205443454e4e4f43ULL
#define H2_PREFACE 0x5448202a20495250ULL // "PRI * HT", of the 24-byte client preface
#define H2_PREFACE_LEN 24
#define H2_MAX_FRAME (1 << 20)            // larger frames are not believed

// walk is one syscall's planning state. It lives in a per-CPU map, not on
// the stack: the verifier does not track map contents, so the bpf_loop
// callbacks that advance it verify once instead of once per state.
struct walk {
	__u64 buf;      // plain buffer, or 0
	__u64 iov;      // iovec array, or 0
	__u64 cur_at;   // iovec cursor: stream offset of iovec cur,
	__u64 cur_base; // its base
	__u64 cur_len;  // and length
	__u64 ret;      // bytes the syscall moved
	__u64 pos;      // planner position
	__u64 win;      // start of the pending record
	__u64 cp_off;   // copy in progress: stream offset,
	__u32 cp_n;     // bytes wanted
	__u32 cp_got;   // and copied
	__u32 win_len;  // bytes captured for the pending record
	__u32 iovcnt;
	__u32 cur;      // index of the cursor's iovec
	__u32 seq;      // sequence number of the next record
	__u32 limit;    // capture_max
	__u32 records;  // records emitted
	__u8 boundary;  // M_IDLE: a message may start at pos
	__u8 loaded;    // the cursor holds an iovec
	__u8 _pad[6];
	struct framing f;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk);
} walk_map SEC(".maps");

static __always_inline struct walk *get_walk(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&walk_map, &zero);
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch_map, &zero);
}

// copy_step moves the iovec cursor one iovec on, or copies from the
// cursor's iovec into the scratch data. Windows start at increasing offsets
// except when one is cut short and restarted, which rewinds the cursor.
static long copy_step(__u32 i, void *unused)
{
	struct walk *w = get_walk();
	if (!w || w->cp_got >= w->cp_n)
		return 1;
	if (w->loaded && w->cp_off < w->cur_at) {
		w->loaded = 0;
		w->cur_at = 0;
		w->cur_len = 0;
		return 0;
	}
	if (!w->loaded || w->cp_off >= w->cur_at + w->cur_len) {
		__u32 next = w->loaded ? w->cur + 1 : 0;
		if (next >= w->iovcnt || next >= MAX_IOV)
			return 1;
		struct iovec v = {};
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(w->iov + (__u64)next * sizeof(struct iovec))))
			return 1;
		if (w->loaded)
			w->cur_at += w->cur_len;
		w->cur = next;
		w->cur_base = (__u64)v.iov_base;
		w->cur_len = v.iov_len;
		w->loaded = 1;
		return 0;
	}
	struct scratch *s = get_scratch();
	if (!s)
		return 1;
	__u64 in = w->cp_off - w->cur_at;
	__u64 take = w->cur_len - in;
	if (take > w->cp_n - w->cp_got)
		take = w->cp_n - w->cp_got;
	__u32 at = w->cp_got & (CAPTURE_BUF - 1);
	__u32 t = take & (CAPTURE_BUF - 1);
	if (t && bpf_probe_read_user(&s->data[at], t, (void *)(w->cur_base + in)))
		return 1;
	w->cp_got += t;
	w->cp_off += t;
	return 0;
}

// load_window captures up to size bytes at pos as the pending record.
static __always_inline void load_window(struct walk *w, struct scratch *s, __u32 size)
{
	__u64 n = w->ret - w->pos;
	if (n > size)
		n = size;
	if (n > w->limit)
		n = w->limit;
	n &= CAPTURE_BUF - 1;
	w->win = w->pos;
	w->win_len = 0;
	if (!n)
		return;
	if (!w->iov) {
		if (bpf_probe_read_user(s->data, n, (void *)(w->buf + w->pos)) == 0)
			w->win_len = n;
		return;
	}
	w->cp_off = w->pos;
	w->cp_n = n;
	w->cp_got = 0;
	bpf_loop(2 * MAX_IOV + 2, copy_step, NULL, 0);
	w->win_len = w->cp_got;
}

// emit sends the pending record, covering the syscall up to end.
static __always_inline void emit(struct walk *w, struct scratch *s, __u64 end)
{
	__u64 size = end - w->win;
	__u32 len = w->win_len;
	if (len > size)
		len = size;
	s->ev.seq = w->seq++;
	s->ev.size = size;
	s->ev.len = len;
	w->records++;
	submit(s, sizeof(s->ev) + (len & (CAPTURE_BUF - 1)));
}

// next_window ends the pending record at pos and captures a new one there.
static __always_inline int next_window(struct walk *w, struct scratch *s, __u32 size)
{
	if (w->records >= MAX_RECORDS - 1)
		return 0;
	if (w->pos > w->win)
		emit(w, s, w->pos);
	load_window(w, s, size);
	return 1;
}

// desync gives up on the framing until a message start at a syscall start.
static __always_inline long desync(struct walk *w)
{
	w->f.mode = M_IDLE;
	w->boundary = 0;
	return 1;
}

static __always_inline long msg_end(struct walk *w)
{
	w->f.mode = M_IDLE;
	w->boundary = 1;
	return 0;
}

static __always_inline void chunk_line(struct framing *f)
{
	f->mode = M_SIZE;
	f->remain = 0;
	f->idx = 0;
}

static __always_inline long head_end(struct walk *w, struct framing *f)
{
	__u16 code = f->code;
	if ((f->flags & F_RESP) && (code < 200 || code == 204 || code == 304))
		return msg_end(w); // interim, no content, not modified: no body
	if (f->flags & F_CHUNKED) {
		chunk_line(f);
		return 0;
	}
	if ((f->flags & F_CL) && f->cl) {
		f->mode = M_BODY;
		f->remain = f->cl;
		return 0;
	}
	return msg_end(w); // no body, or one delimited by close
}

static __always_inline long chunk_size_end(struct framing *f)
{
	f->mode = f->remain ? M_DATA : M_TLSTART;
	return 0;
}

static __always_inline __u8 name_byte(__u64 w0, __u64 w1, __u64 w2, __u32 i)
{
	if (i < 8)
		return w0 >> (i * 8);
	if (i < 16)
		return w1 >> ((i - 8) * 8);
	return w2 >> ((i - 16) * 8);
}

// byte advances the framing by one byte of a head, chunk line or trailer.
static __always_inline long byte(struct walk *w, struct framing *f, __u8 ch)
{
	__u8 lc = ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
	if (f->mode <= M_HEAD_CR && ++f->head > MAX_HEAD)
		return desync(w);
	switch (f->mode) {
	case M_LINE1:
		if ((f->flags & F_RESP) && f->idx >= 9 && f->idx <= 11) {
			if (ch < '0' || ch > '9')
				return desync(w);
			f->code = f->code * 10 + (ch - '0');
		}
		if (f->idx < 255)
			f->idx++;
		if (ch == '\n')
			f->mode = M_LSTART;
		return 0;
	case M_LSTART:
		if (ch == '\r') {
			f->mode = M_HEAD_CR;
			return 0;
		}
		if (ch == '\n')
			return head_end(w, f);
		f->cand = (lc == 'c' ? CAND_CL : 0) | (lc == 't' ? CAND_TE : 0);
		f->idx = 1;
		f->mode = f->cand ? M_NAME : M_SKIP;
		return 0;
	case M_NAME:
		if ((f->cand & CAND_CL) && (f->idx >= CL_LEN || lc != name_byte(CL_0, CL_1, 0, f->idx)))
			f->cand &= ~CAND_CL;
		if ((f->cand & CAND_TE) && (f->idx >= TE_LEN || lc != name_byte(TE_0, TE_1, TE_2, f->idx)))
			f->cand &= ~CAND_TE;
		if (!f->cand) {
			f->mode = ch == '\n' ? M_LSTART : M_SKIP;
			return 0;
		}
		f->idx++;
		if ((f->cand & CAND_CL) && f->idx == CL_LEN) {
			f->mode = M_CL;
			f->flags |= F_CL;
			f->cl = 0;
			f->idx = 0;
		} else if ((f->cand & CAND_TE) && f->idx == TE_LEN) {
			f->mode = M_TE;
			f->flags &= ~F_CHUNKED;
			f->idx = 0;
		}
		return 0;
	case M_CL:
		if (ch >= '0' && ch <= '9') {
			if (f->idx >= 18) {
				f->flags &= ~F_CL;
				f->mode = M_SKIP;
				return 0;
			}
			f->cl = f->cl * 10 + (ch - '0');
			f->idx++;
		} else if (ch == '\n') {
			f->mode = M_LSTART;
		} else if (ch != ' ' && ch != '\t' && ch != '\r') {
			if (ch != ',') // "n, n" repeats the value; anything else: unknown length
				f->flags &= ~F_CL;
			f->mode = M_SKIP;
		}
		return 0;
	case M_TE: // is "chunked" the last coding?
		if (ch == '\n') {
			if (f->idx == 7)
				f->flags |= F_CHUNKED;
			else
				f->flags &= ~F_CHUNKED;
			f->mode = M_LSTART;
		} else if (ch == ' ' || ch == '\t' || ch == '\r') {
			if (f->idx != 7)
				f->idx = 0;
		} else if (f->idx < 7 && lc == (__u8)(CHUNKED >> (f->idx * 8))) {
			f->idx++;
		} else {
			f->idx = lc == 'c' ? 1 : 0;
		}
		return 0;
	case M_SKIP:
		if (ch == '\n')
			f->mode = M_LSTART;
		return 0;
	case M_HEAD_CR:
		if (ch == '\n')
			return head_end(w, f);
		f->mode = M_SKIP;
		return 0;
	case M_CRLF:
		if (ch == '\r') {
			f->mode = M_CRLF_LF;
			return 0;
		}
		if (ch == '\n') {
			chunk_line(f);
			return 0;
		}
		return desync(w);
	case M_CRLF_LF:
		if (ch != '\n')
			return desync(w);
		chunk_line(f);
		return 0;
	case M_SIZE: {
		__u8 d;
		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (lc >= 'a' && lc <= 'f')
			d = lc - 'a' + 10;
		else if (ch == '\n')
			return f->idx ? chunk_size_end(f) : desync(w);
		else if (ch == '\r')
			return 0;
		else if ((ch == ';' || ch == ' ' || ch == '\t') && f->idx) {
			f->mode = M_EXT;
			return 0;
		} else
			return desync(w);
		if (f->idx >= 15)
			return desync(w);
		f->remain = f->remain << 4 | d;
		f->idx++;
		return 0;
	}
	case M_EXT:
		if (ch == '\n')
			return chunk_size_end(f);
		return 0;
	case M_TLSTART:
		if (ch == '\r')
			f->mode = M_TCR;
		else if (ch == '\n')
			return msg_end(w);
		else
			f->mode = M_TSKIP;
		return 0;
	case M_TCR:
		if (ch == '\n')
			return msg_end(w);
		f->mode = M_TSKIP;
		return 0;
	case M_TSKIP:
		if (ch == '\n')
			f->mode = M_TLSTART;
		return 0;
	}
	return desync(w);
}

static __always_inline int has_lf(__u64 x)
{
	__u64 y = x ^ 0x0a0a0a0a0a0a0a0aULL;
	return ((y - 0x0101010101010101ULL) & ~y & 0x8080808080808080ULL) != 0;
}

// lf_index is the index of the first LF in x, which has one.
static __always_inline __u32 lf_index(__u64 x)
{
#pragma unroll
	for (int k = 0; k < 7; k++)
		if (((x >> (8 * k)) & 0xff) == '\n')
			return k;
	return 7;
}

static __always_inline __u64 load8(struct scratch *s, __u32 at)
{
	return *(__u64 *)&s->data[at & (CAPTURE_BUF - 1)];
}

// ORing 0x20 lower-cases letters and keeps '-' and ':' (a CR or 0x1a in a
// header name could pass for them: harmless in a hint).
#define LOWER 0x2020202020202020ULL

// line_start handles the start of a header line whose whole name is in the
// window: it compares the name with the two that matter at once.
static __always_inline long line_start(struct walk *w, struct scratch *s, __u32 at)
{
	struct framing *f = &w->f;
	__u64 w0 = load8(s, at) | LOWER;
	__u64 w1 = load8(s, at + 8) | LOWER;
	if (w0 == CL_0 && (w1 & 0xffffffffffffffULL) == CL_1) {
		w->pos += CL_LEN;
		f->head += CL_LEN;
		f->mode = M_CL;
		f->flags |= F_CL;
		f->cl = 0;
		f->idx = 0;
		return 0;
	}
	if (w0 == TE_0 && w1 == TE_1 && ((load8(s, at + 16) | LOWER) & 0xffff) == TE_2) {
		w->pos += TE_LEN;
		f->head += TE_LEN;
		f->mode = M_TE;
		f->flags &= ~F_CHUNKED;
		f->idx = 0;
		return 0;
	}
	__u8 ch = s->data[at & (CAPTURE_BUF - 1)];
	if (ch == '\r' || ch == '\n')
		return -1; // the empty line: byte by byte
	w->pos++;
	f->head++;
	f->mode = M_SKIP;
	return 0;
}

static __always_inline int is_method(__u64 x)
{
	__u64 x4 = x & 0xffffffffULL, x5 = x & 0xffffffffffULL, x6 = x & 0xffffffffffffULL,
	      x7 = x & 0xffffffffffffffULL;
	return x4 == GET_ || x4 == PUT_ || x5 == POST_ || x5 == HEAD_ || x6 == PATCH_ ||
	       x6 == TRACE_ || x7 == DELETE_ || x == OPTIONS_ || x == CONNECT_;
}

// h2_start tells whether the 8 bytes at a boundary begin an HTTP/2 frame
// header: a SETTINGS frame on stream 0 (what each side sends first), or
// any plausible frame once the direction is known to speak HTTP/2.
static __always_inline int h2_start(__u64 x, __u8 known)
{
	__u32 len = (x & 0xff) << 16 | ((x >> 8) & 0xff) << 8 | ((x >> 16) & 0xff);
	__u8 type = x >> 24, flags = x >> 32;
	__u32 stream_hi = (x >> 40) & 0xffffff; // three high bytes of the stream id
	if (type == 4 && len % 6 == 0 && len <= 16384 && (flags & ~1) == 0 && stream_hi == 0)
		return 1;
	return known && type <= 9 && len <= H2_MAX_FRAME && !(stream_hi & 0x80);
}

// h2_header gathers the frame header at pos, which may be split across
// windows and syscalls, then plans the payload: a DATA payload is passed
// by count (bodies are never copied), any other is captured whole (up to
// the capture limit) because the parser needs it: HEADERS and
// CONTINUATION carry the HPACK blocks.
static __always_inline long h2_header(struct walk *w, struct scratch *s)
{
	struct framing *f = &w->f;
	__u64 end = w->win + w->win_len;
	if (w->pos >= end) {
		if (!next_window(w, s, w->limit) || !w->win_len)
			return desync(w);
		end = w->win + w->win_len;
	}
#pragma unroll
	for (int k = 0; k < 9; k++) {
		if (f->idx < 9 && w->pos < end) {
			f->h2[f->idx & 15] = s->data[(w->pos - w->win) & (CAPTURE_BUF - 1)];
			f->idx++;
			w->pos++;
		}
	}
	if (f->idx < 9)
		return w->pos >= w->ret; // the rest comes in the next window or syscall
	f->idx = 0;
	__u32 len = (__u32)f->h2[0] << 16 | (__u32)f->h2[1] << 8 | f->h2[2];
	__u8 type = f->h2[3];
	if (type > 9 || len > H2_MAX_FRAME || (f->h2[5] & 0x80))
		return desync(w);
	f->mode = M_H2_SKIP;
	f->remain = len;
	if (type != 0 && len && w->pos + len > end && end < w->ret) {
		// Capture the payload in a window of its own.
		if (!next_window(w, s, len < w->limit ? len : w->limit))
			return desync(w);
	}
	if (!len)
		f->mode = M_H2;
	return 0;
}

// idle looks for a message start at pos, a message boundary.
static __always_inline long idle(struct walk *w, struct scratch *s)
{
	if (!w->boundary)
		return 1;
	__u64 end = w->win + w->win_len;
	if (w->pos + 8 > end && end < w->ret) {
		if (!next_window(w, s, w->limit))
			return desync(w);
		end = w->win + w->win_len;
	}
	__u64 avail = end > w->pos ? end - w->pos : 0;
	if (avail < 4)
		return desync(w);
	__u32 at = (w->pos - w->win) & (CAPTURE_BUF - 1);
	__u64 x = *(__u64 *)&s->data[at];
	if (avail < 8)
		x &= (1ULL << (avail * 8)) - 1;
	__u8 flags;
	if ((x & 0xffffffffffffffULL) == HTTP1)
		flags = F_RESP;
	else if (is_method(x))
		flags = 0;
	else if (avail >= 8 && x == H2_PREFACE) {
		// The client's connection preface: HTTP/2 frames follow it.
		__builtin_memset(&w->f, 0, sizeof(w->f));
		w->f.flags = F_H2;
		w->f.mode = M_H2;
		w->pos += H2_PREFACE_LEN;
		return 0;
	} else if (avail >= 8 && h2_start(x, w->f.flags & F_H2)) {
		__builtin_memset(&w->f, 0, sizeof(w->f));
		w->f.flags = F_H2;
		w->f.mode = M_H2;
		return 0;
	} else
		return desync(w);
	__builtin_memset(&w->f, 0, sizeof(w->f));
	w->f.mode = M_LINE1;
	w->f.flags = flags;
	return 0;
}

// walk_step advances the planner: a jump over body bytes, a message start
// check, eight bytes of a line skipped at once, or one byte.
static long walk_step(__u32 i, void *unused)
{
	struct walk *w = get_walk();
	if (!w || w->pos >= w->ret)
		return 1;
	struct framing *f = &w->f;
	__u8 mode = f->mode;
	if (mode == M_BODY || mode == M_DATA || mode == M_H2_SKIP) {
		__u64 n = w->ret - w->pos;
		if (n > f->remain)
			n = f->remain;
		w->pos += n;
		f->remain -= n;
		if (f->remain == 0) {
			if (mode == M_BODY)
				return msg_end(w);
			f->mode = mode == M_H2_SKIP ? M_H2 : M_CRLF;
		}
		return 0;
	}
	struct scratch *s = get_scratch();
	if (!s)
		return desync(w);
	if (mode == M_IDLE)
		return idle(w, s);
	if (mode == M_H2)
		return h2_header(w, s);
	if (w->pos >= w->win + w->win_len) {
		if (!next_window(w, s, mode >= M_CRLF ? CHUNK_WIN : w->limit) || !w->win_len)
			return desync(w);
	}
	__u32 at = (w->pos - w->win) & (CAPTURE_BUF - 1);
	if (mode == M_LSTART && at + 24 <= w->win_len) {
		long r = line_start(w, s, at);
		if (r >= 0)
			return r;
	}
	if (mode == M_SKIP || mode == M_EXT || mode == M_TSKIP ||
	    (mode == M_LINE1 && (!(f->flags & F_RESP) || f->idx >= 12))) {
		// Up to 64 bytes of the line at once, to just before its LF.
		__u32 from = at;
#pragma unroll
		for (int k = 0; k < 8; k++) {
			if (at + 8 > w->win_len)
				break;
			__u64 x = load8(s, at);
			if (has_lf(x)) {
				at += lf_index(x);
				break;
			}
			at += 8;
		}
		if (at != from) {
			__u32 n = at - from;
			w->pos += n;
			if (mode <= M_HEAD_CR) {
				f->head += n;
				if (f->head > MAX_HEAD)
					return desync(w);
			}
			if (mode == M_LINE1)
				f->idx = 255;
			return 0;
		}
	}
	__u8 ch = s->data[at & (CAPTURE_BUF - 1)];
	w->pos++;
	return byte(w, f, ch);
}

// ---- tokio tasks ---------------------------------------------------------
//
// Which task a thread is polling, and which task woke it. A handler's
// client call hands its request to the client connection's task through a
// channel; the send wakes that task, whose next poll writes the request.
// The wake names the caller: a task-to-task wake (X wakes C) recorded
// here travels with C's next poll into the data events it makes. Wakes
// outside any task poll (the I/O driver, timers) name no caller.

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
	// The h2 client ResponseFuture this poll polled (its first 16 bytes),
	// resp_n 1; 2: several different ones, which name nothing.
	__u8 resp_n;
	__u8 _pad[6];
	__u64 resp[2];
	__u64 body[2]; // the h2 RecvStream whose body this poll last reported reading
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); // pid_tgid
	__type(value, struct task_cur);
} task_cur SEC(".maps");

struct task_key {
	__u32 tgid;
	__u32 _pad;
	__u64 task;
};

#define ORIGIN_SEVERAL 1 // origin_task of a wake whose frames named different streams
#define H1_READ 0x80000000 // "stream" of a read from an HTTP/1 client connection (h2 ids are 31 bits)

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

static __always_inline int exit_io(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = current_pid_tgid();
	struct inflight *in = bpf_map_lookup_elem(&calls, &id);
	if (!in)
		return 0;
	struct inflight call = *in;
	bpf_map_delete_elem(&calls, &id);
	struct task_cur *tc = bpf_map_lookup_elem(&task_cur, &id);
	if (tc)
		tc->frame_stream = 0; // the thread left the frames it decoded
	long ret = ctx->ret;
	if (ret <= 0)
		return 0; // EAGAIN and EOF are the common case on a tokio socket

	struct conn_key k = { .tgid = id >> 32, .fd = call.fd };
	struct conn_info *c = bpf_map_lookup_elem(&conns, &k);
	if (!c || c->ignore)
		return 0;
	if (tc && call.dir == DIR_INGRESS && c->role == ROLE_CLIENT)
		tc->frame_stream = H1_READ; // an HTTP/2 connection's frames say which stream
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct wire_event *e = &s->ev;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_ns();
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->fd = call.fd;
	e->kind = EV_DATA;
	e->dir = call.dir;
	if (tc) {
		e->task = tc->task;
		e->woken_by = tc->woken_by;
		e->woken_at = tc->woken_at;
	}

	// One direction of a socket is not read (or written) by two threads at
	// once, so its sequence number and framing are ours until we return.
	__u8 dir = call.dir & 1;
	struct walk *w = get_walk();
	if (!w)
		return 0;
	__builtin_memset(w, 0, sizeof(*w));
	w->ret = ret;
	w->seq = c->seq[dir];
	w->limit = capture_max < CAPTURE_BUF - 1 ? capture_max : CAPTURE_BUF - 1;
	if (call.kind == BUF_PLAIN) {
		w->buf = call.buf;
	} else if (call.kind == BUF_IOV) {
		w->iov = call.buf;
		w->iovcnt = call.iovcnt;
	} else {
		struct user_msghdr msg = {};
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)call.buf) == 0) {
			w->iov = (__u64)msg.msg_iov;
			w->iovcnt = msg.msg_iovlen;
		}
		if (!w->iov)
			w->iov = 1; // unreadable: no bytes are captured, all are counted
	}
	w->f = c->fr[dir];
	w->boundary = 1; // a syscall may start a message
	load_window(w, s, w->limit);
	// A response head at the start of a write or read while a body is
	// expected: the body was not there (a response to HEAD).
	if (w->f.mode == M_BODY && (w->f.flags & F_RESP) && w->win_len >= 7 &&
	    (*(__u64 *)s->data & 0xffffffffffffffULL) == HTTP1)
		w->f.mode = M_IDLE;
	bpf_loop(WALK_STEPS, walk_step, NULL, 0);
	emit(w, s, w->ret);
	c->seq[dir] = w->seq;
	c->fr[dir] = w->f;
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
	__u64 id = current_pid_tgid();
	if (!is_target(id))
		return 0;
	struct inflight in = { .fd = (__s32)ctx->args[0], .role = role };
	bpf_map_update_elem(&calls, &id, &in, BPF_ANY);
	return 0;
}

static __always_inline int exit_conn(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = current_pid_tgid();
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
	__u64 id = current_pid_tgid();
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

// ---- library probes ------------------------------------------------------
//
// One program serves every uprobe rustscope places in a target's libraries
// (hyper, axum, ...). It only reads: the first six argument registers and,
// when the attach cookie asks for it, a string argument (ptr, len) such as
// the path axum's router is asked to match. User space ties the hit to a
// connection by the thread's last read, so the program stays small and the
// cost per hit is the uprobe itself (about 1 us at an emulated push).
//
// Cookie: bits 0..31 index of the probe point in user space's table;
// bits 32..35 the argument register holding a string pointer, plus one
// (0: none); the string's length is in the next register.

#define PROBE_STR 256

struct probe_event {
	struct wire_event hdr; // kind EV_PROBE, seq = probe index, fd = -1
	__u64 args[6];         // rdi rsi rdx rcx r8 r9
	__u8 str[PROBE_STR];   // hdr.len - sizeof(args) bytes of the string
};
const struct probe_event *unused_probe_event __attribute__((unused));

static __always_inline int record_hit(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	if (!is_target(id))
		return 0;
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct probe_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	__builtin_memset(&e->hdr, 0, sizeof(e->hdr));
	e->hdr.ts = bpf_ktime_get_ns();
	e->hdr.tgid = id >> 32;
	e->hdr.tid = (__u32)id;
	e->hdr.fd = -1;
	e->hdr.seq = (__u32)cookie;
	e->hdr.kind = EV_PROBE;
	e->args[0] = PT_REGS_PARM1(ctx);
	e->args[1] = PT_REGS_PARM2(ctx);
	e->args[2] = PT_REGS_PARM3(ctx);
	e->args[3] = PT_REGS_PARM4(ctx);
	e->args[4] = PT_REGS_PARM5(ctx);
	e->args[5] = ctx->r9; // no PT_REGS_PARM6 in these headers
	__u64 ptr = 0, len = 0;
	switch ((cookie >> 32) & 0xf) {
	case 1: ptr = e->args[0]; len = e->args[1]; break;
	case 2: ptr = e->args[1]; len = e->args[2]; break;
	case 3: ptr = e->args[2]; len = e->args[3]; break;
	case 4: ptr = e->args[3]; len = e->args[4]; break;
	case 5: ptr = e->args[4]; len = e->args[5]; break;
	}
	__u32 n = len < PROBE_STR ? (__u32)len : PROBE_STR;
	if (ptr && n > 0 && n <= PROBE_STR) {
		if (bpf_probe_read_user(e->str, n, (void *)ptr) != 0)
			n = 0;
	} else {
		n = 0;
	}
	e->hdr.len = sizeof(e->args) + n;
	e->hdr.size = e->hdr.len;
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
			      BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	return 0;
}

// Two attach types, one body: uprobe_multi links (kernel 6.6+) attach every
// point of a binary at once; single uprobes are the fallback.
SEC("uprobe")
int probe_hit(struct pt_regs *ctx)
{
	return record_hit(ctx);
}

SEC("uprobe.multi")
int probe_hit_multi(struct pt_regs *ctx)
{
	return record_hit(ctx);
}

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
	struct task_cur c = { .task = PT_REGS_PARM1(ctx) };
	struct task_key k = { .tgid = id >> 32, .task = c.task };
	struct task_wake *w = bpf_map_lookup_elem(&task_wakes, &k);
	__u64 resp0 = 0, resp1 = 0;
	if (w) {
		c.woken_by = w->by;
		c.woken_at = w->at;
		c.origin_task = w->origin_task;
		c.origin_at = w->origin_at;
		c.origin_stream = w->origin_stream;
		c.origin_hop = w->origin_hop;
		resp0 = w->resp[0];
		resp1 = w->resp[1];
		bpf_map_delete_elem(&task_wakes, &k);
	}
	bpf_map_update_elem(&task_cur, &id, &c, BPF_ANY);
	if (c.origin_task > ORIGIN_SEVERAL || resp0) {
		struct wire_event e = {
			.ts = bpf_ktime_get_ns(),
			.tgid = id >> 32,
			.tid = (__u32)id,
			.fd = -1,
			.kind = EV_TASK,
			.task = c.task,
			.woken_by = c.woken_by,
			.woken_at = c.origin_at,
			.origin = c.origin_task,
			.seq = c.origin_stream,
			.dir = c.origin_hop,
		};
		__builtin_memcpy(e.laddr, &resp0, 8);
		__builtin_memcpy(e.laddr + 8, &resp1, 8);
		submit(&e, sizeof(e));
	}
	return 0;
}

// The poll returned: what the thread does next is not that task's.
SEC("uretprobe.multi")
int task_poll_ret(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	bpf_map_delete_elem(&task_cur, &id);
	return 0;
}

// polling returns what thread id is polling, or NULL outside a task poll.
static __always_inline struct task_cur *polling(__u64 id)
{
	struct task_cur *c = bpf_map_lookup_elem(&task_cur, &id);
	return c && c->task ? c : NULL;
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

// h2::codec::framed_read::decode_frame(.., bytes: BytesMut): h2 decodes one
// frame of a connection it has read; the next wakes of this poll deliver
// it. Only the frame's 9-byte header is read, the wire format, which no h2
// version changes. The BytesMut ({ptr, len, ..}) is passed by reference in
// one of the last argument registers, which depends on h2's version: each
// candidate is believed only when the header's length field plus 9 is the
// buffer's length. Frames that deliver to a stream's reader (DATA, HEADERS,
// CONTINUATION, RST_STREAM) set the stream; others clear it.
static __always_inline __u32 frame_stream(__u64 reg)
{
	struct { __u64 ptr, len; } b;
	__u8 h[9];
	if (bpf_probe_read_user(&b, sizeof(b), (void *)reg) != 0 || b.len < 9 || b.len > (16 << 20) + 9)
		return 0;
	if (bpf_probe_read_user(h, sizeof(h), (void *)b.ptr) != 0)
		return 0;
	__u64 n = (__u64)h[0] << 16 | (__u64)h[1] << 8 | h[2];
	if (n + 9 != b.len)
		return 0;
	switch (h[3]) {
	case 0: case 1: case 3: case 9: // DATA, HEADERS, RST_STREAM, CONTINUATION
		return ((__u32)(h[5] & 0x7f) << 24 | (__u32)h[6] << 16 | (__u32)h[7] << 8 | h[8]);
	}
	return 0;
}

SEC("uprobe.multi")
int h2_frame(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	struct task_cur *c = polling(id);
	if (!c)
		return 0;
	__u32 st = frame_stream(ctx->r9);
	if (!st)
		st = frame_stream(PT_REGS_PARM5(ctx));
	if (!st)
		st = frame_stream(PT_REGS_PARM4(ctx));
	c->frame_stream = st;
	return 0;
}

// <h2::client::ResponseFuture as Future>::poll(self, cx) (cookie 0): the
// polling task waits for the response of one stream (hyper's per-request
// response task does); h2::share::RecvStream::poll_data(self, cx) (cookie
// 1): the polling task reads a stream's body (the caller itself, through
// hyper's and tonic's body types). Both first instructions are pushes,
// emulated. Both types begin with h2's OpaqueStreamRef (h2 0.4: the
// connection's stream store Arc, then the stream's slab key with its id).
// A ResponseFuture's 16 bytes travel with the task's next wakes: the one
// that hands the response to the caller then names the call even when the
// response came before the task first polled, so that no frame woke it. A
// body read is reported once per poll and stream (EV_TASK, dir 2): it
// names the call even when the response and its body came before the
// caller polled, so that nobody woke it for them. Which bytes hold what is
// Rust layout, so user space learns it from the wakes that name the stream
// by frame too, and refuses until they agree.
SEC("uprobe.multi")
int h2_resp(struct pt_regs *ctx)
{
	__u64 id = current_pid_tgid();
	struct task_cur *c = polling(id);
	if (!c)
		return 0;
	__u64 r[2];
	if (bpf_probe_read_user(r, sizeof(r), (void *)PT_REGS_PARM2(ctx)) != 0 || !r[0])
		return 0;
	if (bpf_get_attach_cookie(ctx) == 1) {
		if (c->body[0] == r[0] && c->body[1] == r[1])
			return 0;
		c->body[0] = r[0];
		c->body[1] = r[1];
		struct wire_event e = {
			.ts = bpf_ktime_get_ns(),
			.tgid = id >> 32,
			.tid = (__u32)id,
			.fd = -1,
			.kind = EV_TASK,
			.task = c->task,
			.dir = 2,
		};
		__builtin_memcpy(e.laddr, r, 16);
		submit(&e, sizeof(e));
		return 0;
	}
	if (c->resp_n == 0) {
		c->resp[0] = r[0];
		c->resp[1] = r[1];
		c->resp_n = 1;
	} else if (c->resp[0] != r[0] || c->resp[1] != r[1]) {
		c->resp_n = 2;
	}
	return 0;
}

// sched_process_exec: a process now runs a new executable. Every exec on
// the host is reported (they are rare), so that processes are attached as
// they start (--exe, --all) without scanning /proc.
SEC("tracepoint/sched/sched_process_exec")
int on_exec(void *ctx)
{
	__u64 id = current_pid_tgid();
	if (!id) // outside rustscope's PID namespace
		return 0;
	struct wire_event e = {
		.ts = bpf_ktime_get_ns(),
		.tgid = id >> 32,
		.tid = (__u32)id,
		.fd = -1,
		.kind = EV_EXEC,
	};
	submit(&e, sizeof(e));
	return 0;
}
