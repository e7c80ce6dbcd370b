package tracer

import (
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/link"

	"github.com/rustscope/rustscope/lib/axum"
)

// The route probe learns, then rests. axum's route lookup is hit once per
// request, and a uprobe's trap is the largest cost tracing adds to a
// request (about 7-10 us here, more than the syscall capture). Yet when
// one router serves the process (no nesting, no second router), the route
// is a function of the request path and of the route table already read
// from the target's memory: exactly what the span gets from the hit. So
// the probe stays until routeLearn requests in a row were answered alike
// by the table alone, then is removed, and routes come from the table. It
// is placed again every routeRest to check routeCheck requests more, and
// stays for good once anything disagrees: a lookup under a prefix or by
// another router, a request the router did not see, an HTTP/2 server
// (tonic's lookups are tied to streams by their hits).

const (
	routeLearn = 1000             // requests agreeing in a row before the probe first rests
	routeCheck = 200              // and before it rests again after a check
	routeRest  = 30 * time.Second // how long it rests between checks
)

// routeProbe is one target's route lookup probe and what it has learnt.
type routeProbe struct {
	addrs, cookies []uint64      // where it goes; nil: not placed apart
	scope          string        // the crate its hits name as the span's scope
	links          []link.Link   // placed now (guarded by Tracer.mu)
	busy           atomic.Bool   // a placement is under way
	live           atomic.Uint64 // mono time the probe was last placed; 0: resting

	// Run's goroutine only.
	root   uint64 // the router every lookup named
	agree  int    // requests in a row the table alone answered as the probe did
	rested bool   // has rested before: a check needs routeCheck
	never  string // why it stays placed for good
	since  uint64 // mono time it was removed
}

// routeTableFor returns the table the route of tg's HTTP/1 server request
// begun at start comes from when it had no lookup hit: the probe rests,
// or was placed again after start (the hit may have been missed); nil when
// the route must come from a hit.
func (a *assembler) routeTableFor(tg *Target, start uint64) *axum.Table {
	rp := &tg.routes
	if rp.root == 0 || rp.never != "" {
		return nil
	}
	if live := rp.live.Load(); live != 0 && start >= live {
		return nil
	}
	e := a.routeTable(tg.PID, rp.root)
	if e.err != nil {
		return nil
	}
	return e.tab
}

// learnRoute weighs one HTTP/1 server exchange of tg that the probe was
// placed for: route is what the hits gave, hits the route lookups.
func (a *assembler) learnRoute(tg *Target, path, route string, hits []mark) {
	rp := &tg.routes
	if rp.addrs == nil || rp.never != "" {
		return
	}
	if len(hits) == 0 {
		rp.agree = 0 // a request the router did not see (or the probe was not live yet)
		return
	}
	for _, m := range hits {
		prefix, _, ok := axum.LookupPath(path, m.path, probeStrMax)
		e := a.routeTable(tg.PID, m.node)
		switch {
		case !ok || e.err != nil:
			rp.never = "a lookup whose route the table cannot give"
		case e.tab.Fallback:
			continue // axum's fallback router: no route, whichever the path
		case prefix != "":
			rp.never = "nested routers (a lookup under a prefix)"
		case rp.root != 0 && m.node != rp.root:
			rp.never = "several routers"
		case e.tab.Nests:
			rp.never = "nested services"
		}
		if rp.never != "" {
			a.log.Info("route probe stays: routes need its hits", "pid", tg.PID, "why", rp.never)
			return
		}
		rp.root = m.node
	}
	if rp.root == 0 {
		return // fallback lookups alone
	}
	if axum.Route(a.routeTable(tg.PID, rp.root).tab, "", path) != route {
		rp.never = "the table answered otherwise than the lookup"
		a.log.Warn("route probe stays: routes need its hits", "pid", tg.PID, "why", rp.never, "path", path, "route", route)
		return
	}
	rp.agree++
}

// h2Server notes that pid serves HTTP/2: its route lookups are tied to
// streams by their hits, so the probe stays (placed again if resting).
func (a *assembler) h2Server(pid uint32) {
	tg := a.meta(pid)
	if tg == nil || tg.routes.addrs == nil || tg.routes.never != "" {
		return
	}
	tg.routes.never = "an HTTP/2 server"
	a.log.Info("route probe stays: routes need its hits", "pid", pid, "why", tg.routes.never)
	if a.placeRoutes != nil {
		a.placeRoutes(pid)
	}
}

// tickRoutes removes the route probes that have learnt enough and places
// again those that have rested routeRest.
func (t *Tracer) tickRoutes(now uint64) {
	var idle [][]link.Link
	var again []uint32
	t.mu.Lock()
	for pid, tg := range t.targets {
		rp := &tg.routes
		if rp.addrs == nil || rp.busy.Load() {
			continue
		}
		need := routeLearn
		if rp.rested {
			need = routeCheck
		}
		switch {
		case rp.links != nil && rp.never == "" && rp.agree >= need:
			idle = append(idle, rp.links)
			rp.links, rp.rested, rp.since = nil, true, now
			rp.live.Store(0)
			t.log.Info("route probe rests: the route table alone gives every route", "pid", pid, "requests", rp.agree, "check_in", routeRest)
		case rp.links == nil && (rp.never != "" || now >= rp.since+uint64(routeRest)):
			again = append(again, pid)
		}
	}
	t.mu.Unlock()
	for _, links := range idle {
		go closeLinks(links) // each waits for the kernel: not on Run's goroutine
	}
	for _, pid := range again {
		t.placeRoutes(pid)
	}
}

// placeRoutes places pid's route probe again, off Run's goroutine.
func (t *Tracer) placeRoutes(pid uint32) {
	t.mu.Lock()
	tg := t.targets[pid]
	t.mu.Unlock()
	if tg == nil || tg.routes.addrs == nil || !tg.routes.busy.CompareAndSwap(false, true) {
		return
	}
	tg.routes.agree = 0
	go t.attachAgain(tg, &tg.routes.busy, tg.routes.addrs, tg.routes.cookies, "route probe", func(links []link.Link, now uint64) {
		tg.routes.links = links
		tg.routes.live.Store(now)
	})
}

// attachAgain places a resting probe of tg (what, at addrs) again, and
// hands its links to set, under Tracer.mu, unless tg was detached
// meanwhile. It runs off Run's goroutine (attaching waits for the kernel)
// and clears busy, which the caller set, when done.
func (t *Tracer) attachAgain(tg *Target, busy *atomic.Bool, addrs, cookies []uint64, what string, set func(links []link.Link, now uint64)) {
	defer busy.Store(false)
	links, err := t.w.attachUprobes(tg.PID, addrs, cookies)
	if err != nil {
		t.log.Warn("place "+what+" again", "pid", tg.PID, "err", err)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.targets[tg.PID] != tg { // detached meanwhile
		go closeLinks(links)
		return
	}
	set(links, t.clock.mono())
}
