package tracer

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/link"
)

// The tokio task probes (an entry and a return probe on every task poll,
// and the wakers) are what a request costs most in the target: each hit is
// a breakpoint trap, 7-10 us here. They only serve to link client calls to
// their server span, so two things bound what they cost:
//
//   - they stay only while the process makes client calls: removed after
//     taskIdle without an event on a client connection, placed again by
//     the next one (the call that brings them back is not linked);
//   - they see at most Options.LinkBudget task polls a second on average,
//     weighed as a leaky bucket: the polls they see fill it, it drains at
//     the budget, and when it holds a second's budget (taskBucket) they are
//     removed until it would be empty. A process far over the budget gets
//     short windows (a poll interval or two) and long rests; one a little
//     over gets long windows and rests of about a second. Calls made in a
//     window are linked as ever; the others stay roots, counted as
//     unsampled.
//
// Each placement starts clean: the process's BPF task state is cleared
// first, the assembler forgets what earlier windows taught it, and events
// count for links only from the placement to the start of the removal. A
// poll under way when the probes went never reported its end, and a task
// seen in an earlier window may have ended since, its memory another's.

const (
	taskIdle    = 10 * time.Second // how long the task probes stay without client traffic
	taskBucket  = time.Second      // the bucket holds this long's budget: the shortest rest
	maxTaskRest = time.Minute      // longest time removed for the budget
	// DefaultLinkBudget is Options.LinkBudget's default: task polls a
	// second the task probes may see in one process. A poll costs the
	// target about 18 us here (its entry and return traps and the
	// wakes), so 250 is about 0.5% of a core whatever the load.
	DefaultLinkBudget = 250
)

// taskProbes is the state of one target's task probes.
type taskProbes struct {
	sites      []site      // where they go; nil: the binary does not get them
	links      []link.Link // placed now (guarded by Tracer.mu)
	lastClient atomic.Uint64
	placement  // events' task fields count while placed

	// Guarded by Tracer.mu.
	restUntil uint64  // mono: removed for the budget until then
	polls0    uint64  // the poll count when last weighed
	weighed   uint64  // mono: when last weighed (or placed)
	level     float64 // the bucket: polls over the budget so far
	sampled   bool    // the log has said this process's links are sampled
}

// placeTasks clears pid's task state in BPF and places its task probes.
// The caller holds tg.tasks.busy (or tg is not yet a target).
func (t *Tracer) placeTasks(tg *Target, sites []site) error {
	if err := t.w.clearTasks(tg.PID); err != nil {
		return err
	}
	links, err := t.w.attachSites(tg.PID, fmt.Sprintf("/proc/%d/exe", tg.PID), sites)
	if err != nil {
		return err
	}
	polls, _ := t.w.taskPolls(tg.PID) // made by clearTasks
	now := t.clock.mono()
	t.mu.Lock()
	tg.tasks.links, tg.tasks.polls0, tg.tasks.weighed, tg.tasks.level = links, polls, now, 0
	t.mu.Unlock()
	tg.tasks.placed(now)
	return nil
}

// removeTasks takes tg's task probes away, off Run's goroutine (closing a
// uprobe link waits for the kernel). Called with Tracer.mu held.
func (t *Tracer) removeTasks(tg *Target, now uint64) {
	tg.tasks.remove(tg.tasks.links, now)
	tg.tasks.links = nil
}

// clientSeen notes an event on a client connection of pid at mono time
// ts, and places the task probes again if they were removed for want of
// client calls.
func (t *Tracer) clientSeen(pid uint32, ts uint64) {
	t.mu.Lock()
	tg := t.targets[pid]
	wait := tg != nil && (tg.tasks.links != nil || tg.tasks.restUntil != 0)
	t.mu.Unlock()
	if tg == nil || tg.tasks.sites == nil {
		return
	}
	if ts > tg.tasks.lastClient.Load() {
		tg.tasks.lastClient.Store(ts)
	}
	if !wait {
		t.placeTasksAgain(tg, slog.LevelInfo, "task probes placed again: the process makes client calls")
	}
}

// placeTasksAgain places tg's task probes, off Run's goroutine, unless a
// placement or removal is under way.
func (t *Tracer) placeTasksAgain(tg *Target, level slog.Level, msg string) {
	if !tg.tasks.busy.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer tg.tasks.busy.Store(false)
		if err := t.placeTasks(tg, tg.tasks.sites); err != nil {
			t.log.Warn("place task probes again", "pid", tg.PID, "err", err)
			return
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.targets[tg.PID] != tg { // detached meanwhile
			go closeLinks(tg.tasks.links)
			tg.tasks.links = nil
			return
		}
		t.log.Log(context.Background(), level, msg, "pid", tg.PID)
	}()
}

// tickTasks removes the task probes of targets without client traffic for
// taskIdle. Run calls it every second.
func (t *Tracer) tickTasks(now uint64) {
	var again []*Target
	t.mu.Lock()
	defer func() {
		t.mu.Unlock()
		for _, tg := range again {
			t.placeTasksAgain(tg, slog.LevelInfo, "task probes placed again: the process makes client calls")
		}
	}()
	for pid, tg := range t.targets {
		tp := &tg.tasks
		switch {
		case tp.links != nil && !tp.busy.Load() && now >= tp.lastClient.Load()+uint64(taskIdle):
			t.log.Info("task probes removed: no client calls", "pid", pid, "for", taskIdle)
			t.removeTasks(tg, now)
		case tp.links == nil && tp.sites != nil && tp.restUntil == 0 && !tp.busy.Load() &&
			tp.live.Load() != 0 && tp.lastClient.Load() >= tp.off.Load():
			// A client event came while they were being removed (busy):
			// it could not place them again then.
			again = append(again, tg)
		}
	}
}

// weighTasks keeps the task probes to the link budget: it pours the task
// polls each target's probes saw since last weighed into its bucket and
// removes the probes of those whose bucket is full, and places again
// those whose rest is over while client calls go on. Run calls it every
// poll interval (a map lookup per target whose probes are placed), so a
// process far over the budget gets a short window.
func (t *Tracer) weighTasks(now uint64) {
	if t.linkBudget <= 0 {
		return
	}
	var again []*Target
	t.mu.Lock()
	defer func() {
		t.mu.Unlock()
		for _, tg := range again {
			t.placeTasksAgain(tg, slog.LevelDebug, "task probes placed again: a window for the link budget")
		}
	}()
	for pid, tg := range t.targets {
		tp := &tg.tasks
		if tp.busy.Load() {
			continue
		}
		if tp.links == nil {
			if tp.restUntil != 0 && now >= tp.restUntil {
				tp.restUntil = 0
				if now < tp.lastClient.Load()+uint64(taskIdle) {
					again = append(again, tg)
				}
			}
			continue
		}
		polls, err := t.w.taskPolls(pid)
		if err != nil {
			t.log.Warn("weigh task probes' budget", "pid", pid, "err", err)
			continue
		}
		d := time.Duration(now - tp.weighed)
		var rest time.Duration
		tp.level, rest = pourTasks(tp.level, polls-tp.polls0, d, t.linkBudget)
		tp.polls0, tp.weighed = polls, now
		if rest == 0 {
			continue
		}
		msg := "task probes removed for the link budget: calls until they are placed again are not linked"
		t.log.Debug(msg, "pid", pid, "budget", t.linkBudget, "rest", rest)
		if !tp.sampled {
			tp.sampled = true
			t.log.Info(msg+" (logged once; debug logs each)", "pid", pid, "budget", t.linkBudget, "rest", rest)
		}
		tp.restUntil = now + uint64(rest)
		t.removeTasks(tg, now)
	}
}

// pourTasks pours polls task polls seen over d into a leaky bucket at
// level that drains budget polls a second. It returns the new level and,
// once the bucket holds taskBucket's budget, how long the probes must rest
// for it to drain (the level is then 0: the rest drains it).
func pourTasks(level float64, polls uint64, d time.Duration, budget int) (float64, time.Duration) {
	level = max(0, level+float64(polls)-float64(budget)*d.Seconds())
	if level < float64(budget)*taskBucket.Seconds() {
		return level, 0
	}
	return 0, min(time.Duration(level/float64(budget)*float64(time.Second)), maxTaskRest)
}
