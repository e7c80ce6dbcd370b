package tracer

import (
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/link"
)

// The tokio task probes (an entry and a return probe on every task poll,
// and the wakers) are what a request costs most in the target, and they
// only serve to link client calls to their server span. So they stay in
// place only while the process makes client calls: removed after taskIdle
// without an event on a client connection, placed again by the next one.
// The call that brings them back, and others made before they are live
// (a few milliseconds), are not linked.

// taskIdle is how long the task probes stay without client traffic.
const taskIdle = 10 * time.Second

// taskProbes is the state of one target's task probes.
type taskProbes struct {
	sites      []taskSite  // where they go; nil: the binary does not get them
	links      []link.Link // placed now (guarded by Tracer.mu)
	lastClient atomic.Uint64
	busy       atomic.Bool // a placement is under way
}

// clientSeen notes an event on a client connection of pid at mono time
// ts, and places the task probes again if they were removed.
func (t *Tracer) clientSeen(pid uint32, ts uint64) {
	t.mu.Lock()
	tg := t.targets[pid]
	placed := tg != nil && tg.tasks.links != nil
	t.mu.Unlock()
	if tg == nil || tg.tasks.sites == nil {
		return
	}
	if ts > tg.tasks.lastClient.Load() {
		tg.tasks.lastClient.Store(ts)
	}
	if placed || !tg.tasks.busy.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer tg.tasks.busy.Store(false)
		links, err := t.w.attachTasks(tg.PID, tg.tasks.sites)
		if err != nil {
			t.log.Warn("place task probes again", "pid", pid, "err", err)
			return
		}
		t.mu.Lock()
		if t.targets[pid] != tg { // detached meanwhile
			t.mu.Unlock()
			closeLinks(links)
			return
		}
		tg.tasks.links = links
		t.mu.Unlock()
		t.log.Info("task probes placed again: the process makes client calls", "pid", pid)
	}()
}

// removeIdleTasks removes the task probes of targets without client
// traffic for taskIdle.
func (t *Tracer) removeIdleTasks(now uint64) {
	var idle [][]link.Link
	t.mu.Lock()
	for pid, tg := range t.targets {
		if tg.tasks.links == nil || tg.tasks.busy.Load() || now < tg.tasks.lastClient.Load()+uint64(taskIdle) {
			continue
		}
		idle = append(idle, tg.tasks.links)
		tg.tasks.links = nil
		t.log.Info("task probes removed: no client calls", "pid", pid, "for", taskIdle)
	}
	t.mu.Unlock()
	for _, links := range idle {
		go closeLinks(links) // each waits for the kernel: not on Run's goroutine
	}
}
