package tracer

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/link"

	"github.com/rustscope/rustscope/tracer/flow"
	"github.com/rustscope/rustscope/tracer/http1"
)

// The client probe learns each connection's library, then rests. hyper's
// client parses every response head, and the probe there (a trap per
// call, the largest cost a call adds once the task probes keep to their
// budget) only names the client span's library. A connection's library
// never changes: the pool that opened it drives it until it closes. So a
// connection keeps what its first exchange with the probe in place said
// (hyper's hit, or no hit: no library the probe knows), and the probe
// rests once clientLearn client exchanges in a row came on connections
// already known. A request written on a connection not yet known (a new
// one, or one from before attach) places it again. An exchange done
// before it is back in place cannot teach the library, so its span waits
// on the connection (conn.noLib) for the next exchange that does: the
// connection's library is then the span's too. A connection that closes,
// or learns nothing within noLibMax (or noLibSpans exchanges), lets its
// spans go with the wire layer's scope: no library, never a guessed one.

const (
	clientLearn     = 200                     // exchanges in a row on known connections before the probe rests
	clientMinPlaced = 1 * time.Second         // and the least time placed, so a pool that grows does not flap it
	noLibMax        = uint64(5 * time.Second) // a span waits so long at most for its connection's library
	noLibSpans      = 64                      // and with so many others of its connection at most
)

// placement is when a probe was placed and removed, for events to tell
// whether it was in place when they happened.
type placement struct {
	// live is the mono time of the last placement (0: never placed), off
	// when its removal began (MaxUint64 while placed).
	live, off atomic.Uint64
	busy      atomic.Bool // a placement or removal is under way
}

// remove marks the probe removed from now and closes its links off Run's
// goroutine (closing waits for the kernel), busy until that is done.
func (p *placement) remove(links []link.Link, now uint64) {
	p.off.Store(now)
	p.busy.Store(true)
	go func() {
		defer p.busy.Store(false)
		closeLinks(links)
	}()
}

// placed marks the probe placed from now.
func (p *placement) placed(now uint64) {
	p.off.Store(math.MaxUint64)
	p.live.Store(now)
}

// liveAt says whether the probe was placed at mono time ts and stayed.
func (p *placement) liveAt(ts uint64) bool {
	live := p.live.Load()
	return live != 0 && ts >= live && ts < p.off.Load()
}

// isPlaced says whether the probe is in place (or being removed) now.
func (p *placement) isPlaced() bool { return p.live.Load() != 0 && p.off.Load() == math.MaxUint64 }

// clientProbe is one target's client probe (hyper's response head parse).
type clientProbe struct {
	addrs, cookies []uint64    // where it goes; nil: not placed apart
	links          []link.Link // placed now (guarded by Tracer.mu)
	placement

	// Run's goroutine only.
	known  int  // client exchanges in a row on connections already known
	rested bool // has rested: later rests log at debug
}

// connLibrary is what a client connection's exchanges say of its library.
type connLibrary struct {
	known bool
	scope Scope // zero: none the probe knows (the wire layer's)
}

// clientLibrary gives client exchange x on c the library c is known to
// have, or learns it from what the probe said of x (l.scope, from its hit;
// hit is the time of the hit that released x, else 0).
func (a *assembler) clientLibrary(tg *Target, c *conn, x *http1.Exchange, hit uint64, l *libAdds) {
	cp := &tg.client
	if cp.addrs == nil {
		return
	}
	switch {
	case c.library.known:
		if l.scope.Name == "" {
			l.scope = c.library.scope
		}
		cp.known++
		return
	case l.scope.Name != "":
		c.library = connLibrary{known: true, scope: l.scope}
	case cp.liveAt(x.ResponseStart) && cp.liveAt(max(x.ResponseEnd, hit)):
		// The probe was in place while the response came and parsed, and
		// did not fire: not a connection of the library it knows.
		c.library = connLibrary{known: true}
	}
	cp.known = 0
	if c.library.known {
		a.flushNoLib(c)
	}
}

// emitSpan emits s, a span of c done at mono time at, or keeps it on c
// while c is a client connection of a process with the client probe whose
// library is still to be learnt.
func (a *assembler) emitSpan(c *conn, s *Span, at uint64) {
	if c.h2 == nil && c.http != nil && c.http.Role() == flow.RoleClient && !c.closed {
		switch {
		case c.library.known:
			if s.Scope == WireScope && c.library.scope.Name != "" {
				s.Scope = c.library.scope // learnt while s was held for its parent
			}
		case s.Scope == WireScope && a.clientProbed(s.PID) && len(c.noLib) < noLibSpans:
			if len(c.noLib) == 0 {
				c.noLibAt = at
			}
			c.noLib = append(c.noLib, *s)
			return
		case len(c.noLib) > 0:
			a.flushNoLib(c) // full: in order, before s
		}
	}
	a.counters.Spans.Add(1)
	a.emit(*s)
}

// clientProbed says whether pid has the client probe (placed or resting).
func (a *assembler) clientProbed(pid uint32) bool {
	tg := a.meta(pid)
	return tg != nil && tg.probed[hitClient] && tg.client.addrs != nil
}

// flushNoLib emits the spans waiting on c for its library: with it if
// known, else with the wire layer's scope.
func (a *assembler) flushNoLib(c *conn) {
	for i := range c.noLib {
		s := &c.noLib[i]
		if c.library.known && c.library.scope.Name != "" {
			s.Scope = c.library.scope
		}
		a.counters.Spans.Add(1)
		a.emit(*s)
	}
	c.noLib = nil
}

// flushAllNoLib emits every waiting span (shutdown).
func (a *assembler) flushAllNoLib() {
	for _, c := range a.conns {
		a.flushNoLib(c)
	}
}

// clientUnknown notes a request written on c, a client connection of tg
// whose library is not known: the probe is placed again if it rests.
func (a *assembler) clientUnknown(tg *Target) {
	cp := &tg.client
	if cp.addrs == nil || cp.isPlaced() || cp.busy.Load() || a.placeClient == nil {
		return
	}
	cp.known = 0
	a.placeClient(tg.PID)
}

// tickClient removes the client probes that have learnt their process's
// connections.
func (t *Tracer) tickClient(now uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for pid, tg := range t.targets {
		cp := &tg.client
		if cp.links == nil || cp.busy.Load() || cp.known < clientLearn || now < cp.live.Load()+uint64(clientMinPlaced) {
			continue
		}
		msg := "client probe rests: every client connection's library is known; a new connection places it again"
		if cp.rested {
			t.log.Debug(msg, "pid", pid)
		} else {
			t.log.Info(msg, "pid", pid, "exchanges", cp.known)
		}
		cp.rested = true
		cp.remove(cp.links, now)
		cp.links = nil
	}
}

// placeClient places pid's client probe again, off Run's goroutine.
func (t *Tracer) placeClient(pid uint32) {
	t.mu.Lock()
	tg := t.targets[pid]
	t.mu.Unlock()
	if tg == nil || tg.client.addrs == nil || !tg.client.busy.CompareAndSwap(false, true) {
		return
	}
	cp := &tg.client
	go t.attachAgain(tg, &cp.busy, cp.addrs, cp.cookies, "client probe", func(links []link.Link, now uint64) {
		cp.links = links
		cp.placed(now)
		t.log.Debug("client probe placed again: a client connection whose library is not known", "pid", pid)
	})
}
