package tracer

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf/link"

	"github.com/rustscope/rustscope/lib"
	"github.com/rustscope/rustscope/lib/h2"
	"github.com/rustscope/rustscope/probe"
	"github.com/rustscope/rustscope/symbols"
)

// The one loader of library uprobes: it places what each library's home
// declares (package lib), where the binary has it, and says for people
// what is placed and what is missing and why. The probes only read
// registers and memory; the target's text is untouched except for the
// kernel's breakpoint, which it removes on detach.

// hitKind is what a library probe hit tells the assembler: the kinds of
// probe.Hit, and two that never come as hits but say what is placed.
type hitKind = probe.Hit

const (
	hitServer = probe.HitServer
	hitRoute  = probe.HitRoute
	hitClient = probe.HitClient
	// hitTasks: the task probes are placed (they only keep BPF state that
	// data events carry: which task, woken by which task).
	hitTasks = probe.HitClient + 1
	// hitH2Frames: the HTTP/2 frame decoder is probed with the tasks, so
	// polls scheduled by an HTTP/2 response name its stream (task events).
	hitH2Frames = hitTasks + 1
	// hitTLS: a TLS library's plaintext probes are placed.
	hitTLS = hitH2Frames + 1
)

// hitRef is what a hit probe's cookie stands for.
type hitRef struct {
	pid   uint32
	kind  hitKind
	point string
	scope string // the crate the hit names as the span's scope
}

// hit returns the meaning of cookie idx.
func (t *Tracer) hit(idx uint32) (hitRef, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if int(idx) >= len(t.hits) {
		return hitRef{}, false
	}
	return t.hits[idx], true
}

// firstFound returns the first of the points probeOf finds (a binary
// analysis's Probe), or the reason the first known one is missing.
func firstFound(probeOf func(id string) (*symbols.ProbePoint, bool), points []string) (pt *symbols.ProbePoint, why string) {
	for _, id := range points {
		p, ok := probeOf(id)
		if !ok {
			continue
		}
		if p.Found {
			return p, ""
		}
		if why == "" {
			why = p.Reason
		}
	}
	return nil, why
}

// scopeOf is the crate a hit of kind from crate's probe names as its
// span's scope in a: a linked library that drives crate's code claims it.
func scopeOf(a *symbols.Analysis, crate string, kind hitKind) string {
	for _, l := range lib.All {
		if _, ok := a.Crate(l.Crate); ok && slices.Contains(l.ScopeOf, kind) {
			return l.Crate
		}
	}
	return crate
}

// attachProbes places the hit probes tg's binary allows (one uprobe_multi
// link for all), then the task probes.
func (t *Tracer) attachProbes(tg *Target) (links []link.Link, notes []string) {
	if t.wireOnly {
		return nil, []string{"library probes: off (--wire-only)"}
	}
	a := tg.Analysis
	if a == nil {
		return nil, []string{"library probes: none: the executable could not be analysed"}
	}
	var addrs, cookies []uint64
	var attached []string
	var missing []string           // reasons, in order
	lacks := map[string][]string{} // reason -> what is missing for it
	for _, l := range lib.All {
		if _, ok := a.Crate(l.Crate); !ok {
			continue
		}
		for _, u := range l.Uprobes {
			if u.When != probe.Always || u.Program != probe.ProgHit || u.Unless != 0 && tg.probed[u.Unless] {
				continue // e.g. every request axum serves passes its route lookup: one hit is enough
			}
			pt, why := firstFound(a.Probe, u.Points)
			if pt == nil {
				// Say so when stripping or LTO took the point (the user
				// can act on it), not when the program does not use that
				// side.
				if strings.Contains(why, symbols.ReasonStripped) || strings.Contains(why, symbols.ReasonLTO) {
					if lacks[why] == nil {
						missing = append(missing, why)
					}
					lacks[why] = append(lacks[why], u.Gives)
				}
				continue
			}
			tg.probed[u.Hit] = true
			t.mu.Lock()
			idx := len(t.hits)
			t.hits = append(t.hits, hitRef{pid: tg.PID, kind: u.Hit, point: pt.ID, scope: scopeOf(a, l.Crate, u.Hit)})
			t.mu.Unlock()
			rest := ""
			for _, c := range pt.Copies {
				at, cookie := placeAt(c, u), uint64(idx)|uint64(u.StrArg)<<32
				switch u.Hit { // links of their own: they rest
				case hitRoute: // routes.go
					tg.routes.addrs = append(tg.routes.addrs, at)
					tg.routes.cookies = append(tg.routes.cookies, cookie)
					tg.routes.scope = scopeOf(a, l.Crate, u.Hit)
					rest = fmt.Sprintf("; rests while the route table read from memory alone gives every route, checked every %v", routeRest)
					continue
				case hitClient: // clientprobe.go
					tg.client.addrs = append(tg.client.addrs, at)
					tg.client.cookies = append(tg.client.cookies, cookie)
					rest = "; rests while every client connection's library is known, placed again by a new one"
					continue
				}
				addrs = append(addrs, at)
				cookies = append(cookies, cookie)
			}
			attached = append(attached, fmt.Sprintf("%s (%s, %d %s%s)", pt.ID, u.Gives, len(pt.Copies), plural(len(pt.Copies), "copy", "copies"), rest))
		}
	}
	for _, why := range missing {
		notes = append(notes, fmt.Sprintf("without %s: %s", strings.Join(lacks[why], ", "), why))
	}
	capLinks, capNote, capPlaced := t.attachCapture(tg)
	switch {
	case capPlaced:
		attached = append(attached, capNote)
	case capNote != "":
		notes = append(notes, capNote)
	}
	if len(addrs) == 0 && tg.routes.addrs == nil && tg.client.addrs == nil {
		if capPlaced {
			return capLinks, append([]string{"uprobes: " + strings.Join(attached, ", ")}, notes...)
		}
		if len(notes) == 0 {
			notes = append(notes, "library probes: none apply to this binary")
		}
		return nil, notes
	}
	var err error
	links = capLinks
	if len(addrs) > 0 {
		var hl []link.Link
		hl, err = t.w.attachUprobes(tg.PID, addrs, cookies)
		links = append(links, hl...)
	}
	if err == nil && tg.routes.addrs != nil {
		tg.routes.links, err = t.w.attachUprobes(tg.PID, tg.routes.addrs, tg.routes.cookies)
		tg.routes.live.Store(t.clock.mono())
	}
	if err == nil && tg.client.addrs != nil {
		tg.client.links, err = t.w.attachUprobes(tg.PID, tg.client.addrs, tg.client.cookies)
		tg.client.placed(t.clock.mono())
	}
	if err != nil {
		closeLinks(slices.Concat(links, tg.routes.links))
		tg.routes.addrs, tg.routes.links = nil, nil
		tg.client.addrs, tg.client.links = nil, nil
		t.log.Warn("attach library probes", "pid", tg.PID, "err", err)
		return nil, append(notes, fmt.Sprintf("library probes: not attached: %v", err))
	}
	placed, taskNote := t.attachTaskProbes(tg)
	if taskNote != "" {
		if placed {
			attached = append(attached, taskNote)
		} else {
			notes = append(notes, taskNote)
		}
	}
	tg.tasks.lastClient.Store(t.clock.mono()) // a grace period from attach
	return links, append([]string{"uprobes: " + strings.Join(attached, ", ")}, notes...)
}

// attachCapture places the probes that capture bytes above the socket (a
// TLS library's plaintext: probe.ProgTLSEnter/Exit, ProgSSLEnter/Exit),
// always, library by library: all of a library's points that are not
// Optional, or none. A library's points are in the executable, or in the
// shared library it loads (probe.Want.Object).
func (t *Tracer) attachCapture(tg *Target) (links []link.Link, note string, placed bool) {
	a := tg.Analysis
	var parts, lacking []string
	for _, l := range lib.All {
		if _, ok := a.Crate(l.Crate); !ok {
			continue
		}
		gives := ""
		for _, u := range l.Uprobes {
			if u.When == probe.Always && u.Program != probe.ProgHit {
				gives = u.Gives
			}
		}
		if gives == "" {
			continue
		}
		file, in, probeOf := fmt.Sprintf("/proc/%d/exe", tg.PID), "", a.Probe
		if obj := objectOf(l); obj != "" {
			f, where, points, err := sharedPoints(tg, obj, l.Wants)
			if err != nil {
				lacking = append(lacking, fmt.Sprintf("without %s: %v", gives, err))
				continue
			}
			file, in = f, " in "+where
			probeOf = func(id string) (*symbols.ProbePoint, bool) {
				i := slices.IndexFunc(points, func(p symbols.ProbePoint) bool { return p.ID == id })
				if i < 0 {
					return nil, false
				}
				return &points[i], true
			}
		}
		var sites []site
		var found []string
		why := ""
		for _, u := range l.Uprobes {
			if u.When != probe.Always || u.Program == probe.ProgHit {
				continue
			}
			pt, w := firstFound(probeOf, u.Points)
			if pt == nil {
				if !u.Optional && why == "" {
					if w == "" {
						w = "not found"
					}
					why = u.Points[0] + " " + w
				}
				continue
			}
			sites = addSite(sites, u, pt)
			if !slices.Contains(found, pt.ID) {
				found = append(found, pt.ID)
			}
		}
		if why != "" {
			lacking = append(lacking, fmt.Sprintf("without %s: %s", gives, why))
			continue
		}
		ls, err := t.w.attachSites(tg.PID, file, sites)
		if err != nil {
			t.log.Warn("attach capture probes", "pid", tg.PID, "crate", l.Crate, "err", err)
			lacking = append(lacking, fmt.Sprintf("without %s: %v", gives, err))
			continue
		}
		links = append(links, ls...)
		parts = append(parts, fmt.Sprintf("%s%s (%s)", strings.Join(found, ", "), in, gives))
	}
	if len(links) == 0 {
		return nil, strings.Join(lacking, "; "), false
	}
	if err := t.w.markTLS(tg.PID); err != nil {
		closeLinks(links)
		t.log.Warn("attach capture probes", "pid", tg.PID, "err", err)
		return nil, strings.Join(append(lacking, fmt.Sprintf("without %s: %v", strings.Join(parts, ", "), err)), "; "), false
	}
	tg.probed[hitTLS] = true
	return links, strings.Join(append(parts, lacking...), "; "), true
}

// objectOf is the shared library whose functions l wants, "": the
// executable's.
func objectOf(l *probe.Library) string {
	for _, w := range l.Wants {
		if w.Object != "" {
			return w.Object
		}
	}
	return ""
}

// attachTaskProbes places the probes the libraries want only while the
// process makes client calls (probe.WhileClientCalls: the task probes and
// those that serve them) where a handler's client calls can be linked to
// its server span: the binary serves HTTP/1 and makes client calls, over
// HTTP/1 (a client hit is placed) or HTTP/2 (the frame decoder is found).
// They are all needed, or none is placed, except the Optional ones (h2's):
// placed where found.
func (t *Tracer) attachTaskProbes(tg *Target) (placed bool, note string) {
	a := tg.Analysis
	frames, _ := a.Probe(h2.FramesID)
	hasFrames := frames != nil && frames.Found
	if !(tg.probed[hitClient] || hasFrames) || !(tg.probed[hitServer] || tg.probed[hitRoute]) {
		return false, ""
	}
	var sites []site
	var parts []string
	for _, l := range lib.All {
		if _, ok := a.Crate(l.Crate); !ok {
			continue
		}
		var found []string
		var gives []string
		polls := 0 // copies of the task poll: task types
		for _, u := range l.Uprobes {
			if u.When != probe.WhileClientCalls {
				continue
			}
			pt, why := firstFound(a.Probe, u.Points)
			if pt == nil && u.Optional {
				continue
			}
			if pt == nil {
				if why == "" {
					why = "not found"
				}
				return false, fmt.Sprintf("without %s: %s %s", u.Gives, u.Points[0], why)
			}
			sites = addSite(sites, u, pt)
			if !slices.Contains(found, pt.ID) {
				found = append(found, pt.ID)
			}
			if !slices.Contains(gives, u.Gives) {
				gives = append(gives, u.Gives)
			}
			if u.Program == probe.ProgTaskPoll {
				polls = len(pt.Copies)
			}
		}
		if len(found) == 0 {
			continue
		}
		note := strings.Join(found, ", ") + " (" + strings.Join(gives, "; ")
		if polls > 0 {
			note += fmt.Sprintf(", %d task types; placed while the process makes client calls, removed after %v without", polls, taskIdle)
			if t.linkBudget > 0 {
				note += fmt.Sprintf("; above %d task polls/s, placed in windows that keep to it: calls outside them are not linked", t.linkBudget)
			}
		}
		parts = append(parts, note+")")
	}
	if !slices.ContainsFunc(sites, func(s site) bool { return s.prog == probe.ProgTaskPoll }) {
		return false, "" // no runtime whose tasks can be followed
	}
	if err := t.placeTasks(tg, sites); err != nil {
		t.log.Warn("attach task probes", "pid", tg.PID, "err", err)
		return false, fmt.Sprintf("without parent links for client calls: %v", err)
	}
	tg.tasks.sites = sites
	tg.probed[hitTasks] = true
	tg.probed[hitH2Frames] = hasFrames
	return true, strings.Join(parts, ", ")
}

// addSite adds u at pt's copies to the site of u's program in sites: one
// site per program, one link each where the kernel has uprobe_multi.
func addSite(sites []site, u probe.Uprobe, pt *symbols.ProbePoint) []site {
	i := slices.IndexFunc(sites, func(s site) bool { return s.prog == u.Program })
	if i < 0 {
		i = len(sites)
		sites = append(sites, site{prog: u.Program})
	}
	for _, c := range pt.Copies {
		sites[i].offs = append(sites[i].offs, placeAt(c, u))
		sites[i].cookies = append(sites[i].cookies, u.Cookie)
	}
	return sites
}

// placeAt is where u goes in copy c: its entry, or, when the kernel
// single-steps the entry and u reads only argument registers still intact
// there, the later instruction it emulates (about 1 us a hit instead of 10).
func placeAt(c symbols.ProbeCopy, u probe.Uprobe) uint64 {
	if u.Args > 0 && !c.Emulated && c.Site != 0 && c.SiteArgs >= u.Args {
		return c.Site
	}
	return c.FileOffset
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
