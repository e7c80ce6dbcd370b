package tracer

import (
	"errors"
	"fmt"
	"iter"
	"maps"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/rustscope/rustscope/bpf"
	"github.com/rustscope/rustscope/probe"
)

// Record kinds, directions and roles as the BPF programs write them
// (bpf/records.h).
const (
	evData    = uint8(bpf.WireEvKindEV_DATA)
	evOpen    = uint8(bpf.WireEvKindEV_OPEN)
	evClose   = uint8(bpf.WireEvKindEV_CLOSE)
	evProbe   = uint8(bpf.WireEvKindEV_PROBE)
	evTask    = uint8(bpf.WireEvKindEV_TASK)
	evExec    = uint8(bpf.WireEvKindEV_EXEC)
	evBody    = uint8(bpf.WireEvKindEV_BODY)
	evTLSBind = uint8(bpf.WireEvKindEV_TLS_BIND)

	dirEgress = uint8(bpf.WireDirectionDIR_EGRESS)

	roleUnknown = uint8(bpf.WireRoleROLE_UNKNOWN)
	roleServer  = uint8(bpf.WireRoleROLE_SERVER)
	roleClient  = uint8(bpf.WireRoleROLE_CLIENT)

	afInet = 2
)

// Wire capture limits.
const (
	// DefaultCaptureBytes is how many bytes of each syscall are copied: enough
	// for request and response heads; bodies are counted, not copied.
	DefaultCaptureBytes = 4096
	// MaxCaptureBytes is the BPF program's per-event buffer.
	MaxCaptureBytes = 8191
	// DefaultRingBytes is the ring buffer size shared by all targets: about
	// half a second of records at 5,000 requests/s with the default
	// capture, and 250 ms at 20,000/s, far more than the reader lags behind
	// when it keeps up at all. The kernel maps its data pages twice (for
	// records that wrap), so it counts twice in rustscope's RSS: 8 MiB.
	DefaultRingBytes = 4 << 20
)

// dataSize is the size of a data record's struct: its captured bytes follow.
var dataSize = int(unsafe.Sizeof(bpf.WireDataEvent{}))

// event is one decoded ring-buffer record: its head, and the struct of its
// kind (the others hold whatever an earlier record left in them).
type event struct {
	head  bpf.WireEventHead
	data  bpf.WireDataEvent    // evData
	open  bpf.WireOpenEvent    // evOpen
	close bpf.WireCloseEvent   // evClose
	probe bpf.WireProbeEvent   // evProbe
	task  bpf.WireTaskEvent    // evTask
	body  bpf.WireBodyEvent    // evBody
	bind  bpf.WireTlsBindEvent // evTLSBind
	exec  bpf.WireExecEvent    // evExec
	// captured is a data record's captured bytes; it aliases the reader's
	// buffer until the next read.
	captured []byte
}

func (e *event) local() netip.AddrPort {
	return addrPort(e.open.Family, e.open.Laddr, e.open.Lport)
}

func (e *event) remote() netip.AddrPort {
	return addrPort(e.open.Family, e.open.Raddr, e.open.Rport)
}

func addrPort(family uint8, raw [16]uint8, port uint16) netip.AddrPort {
	var a netip.Addr
	if family == afInet {
		a = netip.AddrFrom4([4]byte(raw[:4]))
	} else {
		a = netip.AddrFrom16(raw).Unmap()
	}
	return netip.AddrPortFrom(a, port)
}

// decodeEvent parses a raw record into the struct its kind names. It never
// trusts lengths in the record beyond what the record holds. A record of
// an unknown kind decodes to its head alone.
func decodeEvent(raw []byte, ev *event) error {
	if err := decodeAs(raw, &ev.head); err != nil {
		return err
	}
	ev.captured = nil
	switch ev.head.Kind {
	case evData:
		if err := decodeAs(raw, &ev.data); err != nil {
			return err
		}
		n := int(ev.data.Len)
		if n > len(raw)-dataSize {
			return fmt.Errorf("decode event: captured length %d exceeds record", n)
		}
		if n > int(ev.data.Size) {
			return fmt.Errorf("decode event: captured length %d exceeds syscall size %d", n, ev.data.Size)
		}
		ev.captured = raw[dataSize : dataSize+n]
	case evOpen:
		return decodeAs(raw, &ev.open)
	case evClose:
		return decodeAs(raw, &ev.close)
	case evProbe:
		return decodeAs(raw, &ev.probe)
	case evTask:
		return decodeAs(raw, &ev.task)
	case evBody:
		return decodeAs(raw, &ev.body)
	case evTLSBind:
		return decodeAs(raw, &ev.bind)
	case evExec:
		return decodeAs(raw, &ev.exec)
	}
	return nil
}

// decodeAs copies the start of raw into v, a generated struct with the C
// layout.
func decodeAs[T any](raw []byte, v *T) error {
	if n := int(unsafe.Sizeof(*v)); len(raw) < n {
		return fmt.Errorf("decode event: record of %d bytes is shorter than its %d-byte struct", len(raw), n)
	}
	*v = *(*T)(unsafe.Pointer(unsafe.SliceData(raw)))
	return nil
}

// wire owns the loaded capture programs, their links and the ring reader.
type wire struct {
	objs  bpf.WireObjects
	links []link.Link
	rd    *ringbuf.Reader
	multi bool // the kernel has uprobe_multi links
}

// openWire loads the capture programs and attaches them to the syscall
// tracepoints. Nothing is captured until a PID is added to the targets map.
func openWire(captureBytes, ringBytes int, execUnknown bool) (*wire, error) {
	if err := ensureTracefs(); err != nil {
		return nil, err
	}
	spec, err := bpf.LoadWire()
	if err != nil {
		return nil, fmt.Errorf("load wire spec: %w", err)
	}
	if captureBytes <= 0 {
		captureBytes = DefaultCaptureBytes
	}
	if captureBytes > MaxCaptureBytes {
		captureBytes = MaxCaptureBytes
	}
	if err := spec.Variables["capture_max"].Set(uint32(captureBytes)); err != nil {
		return nil, fmt.Errorf("set capture_max: %w", err)
	}
	if execUnknown {
		if err := spec.Variables["exec_unknown"].Set(uint8(1)); err != nil {
			return nil, fmt.Errorf("set exec_unknown: %w", err)
		}
	}
	if dev, ino, ok := pidNamespace(); ok {
		if err := spec.Variables["pidns_dev"].Set(dev); err != nil {
			return nil, fmt.Errorf("set pidns_dev: %w", err)
		}
		if err := spec.Variables["pidns_ino"].Set(ino); err != nil {
			return nil, fmt.Errorf("set pidns_ino: %w", err)
		}
	}
	if ringBytes > 0 {
		spec.Maps[bpf.WireMapEvents].MaxEntries = uint32(ringBytes)
	}
	w := &wire{multi: features.HaveBPFLinkUprobeMulti() == nil}
	// With bpf_task_pt_regs the read/write family's exits read their
	// arguments themselves: no enter programs, no map entry per syscall.
	argsAtExit := features.HaveProgramHelper(ebpf.TracePoint, asm.FnTaskPtRegs) == nil
	if argsAtExit {
		if err := spec.Variables["args_at_exit"].Set(uint8(1)); err != nil {
			return nil, fmt.Errorf("set args_at_exit: %w", err)
		}
	}
	if !w.multi {
		// Without uprobe_multi links (kernel < 6.6) the multi program
		// would not load; stand the single-uprobe one in for it.
		spec.Programs[bpf.WireProgProbeHitMulti] = spec.Programs[bpf.WireProgProbeHit].Copy()
		// The task and TLS programs then attach as single uprobes.
		for _, n := range []string{bpf.WireProgTaskPoll, bpf.WireProgTaskPollRet, bpf.WireProgTaskWake, bpf.WireProgH2Frame, bpf.WireProgH2Resp,
			bpf.WireProgTlsEnterProg, bpf.WireProgTlsExitProg, bpf.WireProgTlsTakeProg, bpf.WireProgSslEnterProg, bpf.WireProgSslExitProg} {
			spec.Programs[n].AttachType = ebpf.AttachNone
		}
	}
	if err := spec.LoadAndAssign(&w.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load wire programs: %+v", ve)
		}
		return nil, fmt.Errorf("load wire programs: %w", err)
	}
	p := &w.objs.WirePrograms
	tps := map[string]*ebpf.Program{
		"sys_exit_read": p.ExitRead, "sys_exit_write": p.ExitWrite,
		"sys_exit_readv": p.ExitReadv, "sys_exit_writev": p.ExitWritev,
		"sys_exit_recvfrom": p.ExitRecvfrom, "sys_exit_sendto": p.ExitSendto,
		"sys_exit_recvmsg": p.ExitRecvmsg, "sys_exit_sendmsg": p.ExitSendmsg,
		"sys_enter_accept": p.EnterAccept, "sys_exit_accept": p.ExitAccept,
		"sys_enter_accept4": p.EnterAccept4, "sys_exit_accept4": p.ExitAccept4,
		"sys_enter_connect": p.EnterConnect, "sys_exit_connect": p.ExitConnect,
		"sys_enter_close": p.EnterClose,
	}
	if !argsAtExit {
		maps.Copy(tps, map[string]*ebpf.Program{
			"sys_enter_read": p.EnterRead, "sys_enter_write": p.EnterWrite,
			"sys_enter_readv": p.EnterReadv, "sys_enter_writev": p.EnterWritev,
			"sys_enter_recvfrom": p.EnterRecvfrom, "sys_enter_sendto": p.EnterSendto,
			"sys_enter_recvmsg": p.EnterRecvmsg, "sys_enter_sendmsg": p.EnterSendmsg,
		})
	}
	for name, prog := range tps {
		l, err := link.Tracepoint("syscalls", name, prog, nil)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("attach tracepoint syscalls/%s: %w", name, err)
		}
		w.links = append(w.links, l)
	}
	l, err := link.Tracepoint("sched", "sched_process_exec", p.OnExec, nil)
	if err != nil {
		w.close()
		return nil, fmt.Errorf("attach tracepoint sched/sched_process_exec: %w", err)
	}
	w.links = append(w.links, l)
	w.rd, err = ringbuf.NewReader(w.objs.Events)
	if err != nil {
		w.close()
		return nil, fmt.Errorf("open ring buffer: %w", err)
	}
	return w, nil
}

// procPIDInitIno is the inode of the initial PID namespace
// (PROC_PID_INIT_INO in the kernel).
const procPIDInitIno = 0xEFFFFFFC

// pidNamespace returns rustscope's PID namespace when it is not the
// initial one, as bpf_get_ns_current_pid_tgid wants it: PIDs in the
// kernel's tracepoints and uprobes are the initial namespace's, and those
// rustscope reads in /proc (a pod's shared namespace, another container's)
// differ from them.
func pidNamespace() (dev, ino uint64, ok bool) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil || st.Ino == procPIDInitIno {
		return 0, 0, false // no PID namespaces, or the initial one
	}
	return st.Dev, st.Ino, true
}

// judgeExe gives the programs the verdict on executable id: its
// processes are targets from their exec, or not (exec_watch).
func (w *wire) judgeExe(id bpf.WireExeId, target bool) error {
	v := uint8(0)
	if target {
		v = 1
	}
	return w.objs.ExecWatch.Put(id, v)
}

func (w *wire) addTarget(pid uint32) error {
	if err := w.objs.Targets.Put(pid, uint8(1)); err != nil {
		return fmt.Errorf("add target %d: %w", pid, err)
	}
	return nil
}

// markTLS tells the programs that pid's TLS plaintext probes are placed:
// its socket calls settle their writes.
func (w *wire) markTLS(pid uint32) error {
	if err := w.objs.Targets.Put(pid, uint8(bpf.WireTargetFlagTARGET|bpf.WireTargetFlagTARGET_TLS)); err != nil {
		return fmt.Errorf("mark target %d TLS: %w", pid, err)
	}
	return nil
}

func (w *wire) removeTarget(pid uint32) error {
	err := w.objs.Targets.Delete(pid)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("remove target %d: %w", pid, err)
	}
	if err := w.objs.TaskPolls.Delete(pid); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("remove task poll count of %d: %w", pid, err)
	}
	for _, role := range []uint8{roleServer, roleClient} {
		k := bpf.WireTlsOffsetKey{Tgid: pid, Role: uint32(role)}
		if err := w.objs.TlsOffsets.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("remove TLS key offset of %d: %w", pid, err)
		}
	}
	return nil
}

// setTLSOffset gives the programs the offset between the read and write
// keys of pid's TLS connections of role (lib/rustls/rustls.bpf.h).
func (w *wire) setTLSOffset(pid uint32, role uint8, d int64) error {
	if err := w.objs.TlsOffsets.Put(bpf.WireTlsOffsetKey{Tgid: pid, Role: uint32(role)}, d); err != nil {
		return fmt.Errorf("set TLS key offset of %d: %w", pid, err)
	}
	return nil
}

// mapKeys yields m's keys (one syscall each, no values). Nothing may be
// deleted from m meanwhile: the walk would start over.
func mapKeys[K any](m *ebpf.Map) iter.Seq[K] {
	return func(yield func(K) bool) {
		var k, next K
		for err := m.NextKey(nil, &next); err == nil; err = m.NextKey(k, &next) {
			k = next
			if !yield(k) {
				return
			}
		}
	}
}

// taskPolls is how many task polls pid's task probes have seen.
func (w *wire) taskPolls(pid uint32) (uint64, error) {
	var n uint64
	if err := w.objs.TaskPolls.Lookup(pid, &n); err != nil {
		return 0, fmt.Errorf("read task poll count of %d: %w", pid, err)
	}
	return n, nil
}

// clearTasks forgets what the task probes kept for pid (the task each
// thread polls, wakes not yet taken) and starts its poll count. Placed
// again, the probes must not build on it: a poll under way when they were
// removed never cleared its thread's entry, and a wake taken while they
// were away is still there.
func (w *wire) clearTasks(pid uint32) error {
	if err := w.objs.TaskPolls.Update(pid, uint64(0), ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
		return fmt.Errorf("start task poll count of %d: %w", pid, err)
	}
	var threads []uint64
	for k := range mapKeys[uint64](w.objs.TaskCur) {
		if uint32(k>>32) == pid {
			threads = append(threads, k)
		}
	}
	var tasks []bpf.WireTaskKey
	for k := range mapKeys[bpf.WireTaskKey](w.objs.TaskWakes) {
		if k.Tgid == pid {
			tasks = append(tasks, k)
		}
	}
	for _, k := range threads {
		w.objs.TaskCur.Delete(k) // gone meanwhile (LRU) is as good
	}
	for _, k := range tasks {
		w.objs.TaskWakes.Delete(k)
	}
	return nil
}

// attachUprobes attaches the library probe program at file offsets of
// pid's executable, each with its cookie: one uprobe_multi link where the
// kernel has them, else one link per point. The executable is reached
// through /proc/PID/exe, which works for deleted files and for processes
// in other mount namespaces (containers).
func (w *wire) attachUprobes(pid uint32, offsets, cookies []uint64) ([]link.Link, error) {
	exe := fmt.Sprintf("/proc/%d/exe", pid)
	ex, err := link.OpenExecutable(exe)
	if err != nil {
		return nil, fmt.Errorf("open executable %s: %w", exe, err)
	}
	if w.multi {
		l, err := ex.UprobeMulti(nil, w.objs.ProbeHitMulti, &link.UprobeMultiOptions{Addresses: offsets, Cookies: cookies, PID: pid})
		if err != nil {
			return nil, fmt.Errorf("attach uprobe_multi at %d points: %w", len(offsets), err)
		}
		return []link.Link{l}, nil
	}
	var links []link.Link
	for i, off := range offsets {
		l, err := ex.Uprobe("", w.objs.ProbeHit, &link.UprobeOptions{Address: off, Cookie: cookies[i], PID: int(pid)})
		if err != nil {
			closeLinks(links)
			return nil, fmt.Errorf("attach uprobe at offset %#x: %w", off, err)
		}
		links = append(links, l)
	}
	return links, nil
}

// site is where one of the programs that keep state or capture (not the
// hit program) goes: file offsets in an executable, each with its cookie.
type site struct {
	prog          probe.Program
	offs, cookies []uint64
}

// attachSites places programs at sites in file, for pid alone: the task
// probes or a TLS library's plaintext probes in its executable
// (/proc/PID/exe), or a shared library's (/proc/PID/root/...).
func (w *wire) attachSites(pid uint32, file string, sites []site) ([]link.Link, error) {
	ex, err := link.OpenExecutable(file)
	if err != nil {
		return nil, fmt.Errorf("open executable %s: %w", file, err)
	}
	var links []link.Link
	add := func(l link.Link, err error) error {
		if err != nil {
			return err
		}
		links = append(links, l)
		return nil
	}
	p := &w.objs.WirePrograms
	progs := map[probe.Program]*ebpf.Program{probe.ProgTaskPoll: p.TaskPoll, probe.ProgTaskPollRet: p.TaskPollRet,
		probe.ProgTaskWake: p.TaskWake, probe.ProgH2Frame: p.H2Frame, probe.ProgH2Resp: p.H2Resp,
		probe.ProgTLSEnter: p.TlsEnterProg, probe.ProgTLSExit: p.TlsExitProg, probe.ProgTLSTake: p.TlsTakeProg,
		probe.ProgSSLEnter: p.SslEnterProg, probe.ProgSSLExit: p.SslExitProg}
	for _, s := range sites {
		prog, ret := progs[s.prog], s.prog.Returns()
		if prog == nil {
			closeLinks(links)
			return nil, fmt.Errorf("attach probes: no program %d", s.prog)
		}
		var err error
		switch {
		case w.multi && ret:
			err = add(ex.UretprobeMulti(nil, prog, &link.UprobeMultiOptions{Addresses: s.offs, PID: pid}))
		case w.multi:
			err = add(ex.UprobeMulti(nil, prog, &link.UprobeMultiOptions{Addresses: s.offs, Cookies: s.cookies, PID: pid}))
		default:
			for i, off := range s.offs {
				opts := &link.UprobeOptions{Address: off, PID: int(pid), Cookie: s.cookies[i]}
				if ret {
					err = add(ex.Uretprobe("", prog, opts))
				} else {
					err = add(ex.Uprobe("", prog, opts))
				}
				if err != nil {
					break
				}
			}
		}
		if err != nil {
			closeLinks(links)
			return nil, fmt.Errorf("attach probes: %w", err)
		}
	}
	return links, nil
}

// lost returns how many records the ring buffer had no room for.
func (w *wire) lost() (uint64, error) {
	var perCPU []uint64
	if err := w.objs.Lost.Lookup(uint32(0), &perCPU); err != nil {
		return 0, fmt.Errorf("read lost counter: %w", err)
	}
	var n uint64
	for _, v := range perCPU {
		n += v
	}
	return n, nil
}

// read reads one record, waiting until the deadline at the latest. It
// returns os.ErrDeadlineExceeded when nothing came in time; producers
// commit most records without a wake-up, so the deadline is what bounds
// latency.
func (w *wire) read(rec *ringbuf.Record) error {
	return w.rd.ReadInto(rec)
}

// setDeadline sets how long read waits for a record that is not there.
func (w *wire) setDeadline(t time.Time) {
	w.rd.SetDeadline(t)
}

func (w *wire) close() error {
	errs := closeLinks(w.links)
	w.links = nil
	if w.rd != nil {
		errs = append(errs, w.rd.Close())
	}
	errs = append(errs, w.objs.Close())
	return errors.Join(errs...)
}

// closeLinks closes links concurrently and returns their errors.
func closeLinks(links []link.Link) []error {
	// Detaching a syscall tracepoint waits for RCU grace periods (about
	// 65 ms each here): one after the other, the 23 links took 1.5 s to
	// close, which delayed every exit. Concurrently the waits partly
	// overlap (the kernel serialises some of it): about 0.8 s.
	errs := make([]error, len(links), len(links)+2)
	var wg sync.WaitGroup
	for i, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.Close()
		}()
	}
	wg.Wait()
	return errs
}
