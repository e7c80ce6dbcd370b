package tracer

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf/link"

	"github.com/rustscope/rustscope/symbols"
)

// hitKind is what a library probe hit tells the assembler. Every kind is
// tied to a connection by the thread's last read: hyper parses a head, and
// axum matches its path, on the thread that has just read it.
type hitKind uint8

const (
	hitServer hitKind = iota + 1 // hyper's server parsed a request head
	hitRoute                     // axum looked a path up: args[1] is the router Node, str the path
	hitClient                    // hyper's client parsed a response head
	// hitTasks never comes as a hit: the tokio task probes only keep BPF
	// state that data events carry (which task, woken by which task).
	hitTasks
	// hitH2Frames: h2's frame decoder is probed with the tasks, so polls
	// scheduled by an HTTP/2 response name its stream (task events).
	hitH2Frames
)

// enrichment is one thing library probes add to wire spans, with the
// manifest points that give it in order of preference: the first found is
// attached. Few and cheap on purpose: one entry uprobe per request and
// role (plus one per axum lookup), all at instructions the kernel emulates
// in release builds (about 1 us a hit here).
type enrichment struct {
	kind   hitKind
	crate  string   // the crate whose presence makes it expected
	points []string // manifest IDs
	strArg int      // argument register (1-based) of a (ptr, len) string
	gives  string
}

var enrichments = []enrichment{
	{hitRoute, "axum", []string{"axum.path_router.node_at"}, 3, "http.route from axum's router"},
	{hitServer, "hyper", []string{"hyper.h1.server.parse", "hyper.h1.server.recv_msg"}, 0, "hyper as the server spans' scope"},
	{hitClient, "hyper", []string{"hyper.h1.client.parse", "hyper.h1.client.recv_msg"}, 0, "hyper/reqwest as the client spans' scope"},
}

// hitRef is what a probe's cookie stands for.
type hitRef struct {
	pid   uint32
	kind  hitKind
	point string
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

// attachProbes places the library uprobes tg's binary allows and says, for
// people, what is attached and what is missing and why. The probes only
// read registers and memory; the target's text is untouched except for the
// kernel's breakpoint, which it removes on detach.
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
	for _, e := range enrichments {
		if _, ok := a.Crate(e.crate); !ok {
			continue
		}
		if e.kind == hitServer && tg.probed[hitRoute] {
			continue // every request axum serves passes Node::at: one hit is enough
		}
		var pt *symbols.ProbePoint
		why := ""
		for _, id := range e.points {
			p, ok := a.Probe(id)
			if !ok {
				continue
			}
			if p.Found {
				pt = p
				break
			}
			if why == "" {
				why = p.Reason
			}
		}
		if pt == nil {
			// Say so when stripping or LTO took the point (the user can
			// act on it), not when the program does not use that side.
			if strings.Contains(why, symbols.ReasonStripped) || strings.Contains(why, symbols.ReasonLTO) {
				if lacks[why] == nil {
					missing = append(missing, why)
				}
				lacks[why] = append(lacks[why], e.gives)
			}
			continue
		}
		tg.probed[e.kind] = true
		t.mu.Lock()
		idx := len(t.hits)
		t.hits = append(t.hits, hitRef{pid: tg.PID, kind: e.kind, point: pt.ID})
		t.mu.Unlock()
		for _, c := range pt.Copies {
			addrs = append(addrs, c.FileOffset)
			cookies = append(cookies, uint64(idx)|uint64(e.strArg)<<32)
		}
		attached = append(attached, fmt.Sprintf("%s (%s, %d %s)", pt.ID, e.gives, len(pt.Copies), plural(len(pt.Copies), "copy", "copies")))
	}
	for _, why := range missing {
		notes = append(notes, fmt.Sprintf("without %s: %s", strings.Join(lacks[why], ", "), why))
	}
	if len(addrs) == 0 {
		if len(notes) == 0 {
			notes = append(notes, "library probes: none apply to this binary")
		}
		return nil, notes
	}
	links, err := t.w.attachUprobes(tg.PID, addrs, cookies)
	if err != nil {
		t.log.Warn("attach library probes", "pid", tg.PID, "err", err)
		return nil, append(notes, fmt.Sprintf("library probes: not attached: %v", err))
	}
	taskLinks, taskNote := t.attachTaskProbes(tg)
	if taskNote != "" {
		if len(taskLinks) > 0 {
			attached = append(attached, taskNote)
		} else {
			notes = append(notes, taskNote)
		}
	}
	tg.tasks.links = taskLinks
	tg.tasks.lastClient.Store(t.clock.mono()) // a grace period from attach
	return links, append([]string{"uprobes: " + strings.Join(attached, ", ")}, notes...)
}

// attachTaskProbes places the tokio task probes where a handler's client
// calls can be linked to its server span: the binary serves HTTP/1
// (hyper's server) and makes client calls, over HTTP/1 (hyper's client) or
// HTTP/2 (h2's frame decoder, whose frames name the stream a wake
// delivers).
func (t *Tracer) attachTaskProbes(tg *Target) ([]link.Link, string) {
	a := tg.Analysis
	frames, _ := a.Probe("h2.codec.decode_frame")
	hasFrames := frames != nil && frames.Found
	if _, ok := a.Crate("tokio"); !ok || !(tg.probed[hitClient] || hasFrames) || !(tg.probed[hitServer] || tg.probed[hitRoute]) {
		return nil, ""
	}
	const gives = "parent links for client calls"
	var offs [4][]uint64
	ids := []string{"tokio.task.poll", "tokio.waker.wake_by_val", "tokio.waker.wake_by_ref", "tokio.task.bind"}
	for i, id := range ids {
		p, ok := a.Probe(id)
		if !ok || !p.Found {
			why := "not found"
			if ok {
				why = p.Reason
			}
			return nil, fmt.Sprintf("without %s: %s %s", gives, id, why)
		}
		for _, c := range p.Copies {
			offs[i] = append(offs[i], c.FileOffset)
		}
	}
	// The cookie names the argument register holding the task: the first
	// for the wakers, the second for bind_inner(&self, task, notified).
	var wakes, cookies []uint64
	for i, reg := range map[int]uint64{1: 1, 2: 1, 3: 2} {
		for _, off := range offs[i] {
			wakes = append(wakes, off)
			cookies = append(cookies, reg)
		}
	}
	// h2's stream handles, read by the task that awaits a response (cookie
	// 0) or reads its body (1): for responses that came before anyone
	// polled for them, so no frame woke anyone.
	var frameOffs, streamOffs, streamCookies []uint64
	var streamPoints []string
	if hasFrames {
		for _, c := range frames.Copies {
			frameOffs = append(frameOffs, c.FileOffset)
		}
		for cookie, id := range []string{"h2.client.response_future.poll", "h2.recv_stream.poll_data"} {
			if p, ok := a.Probe(id); ok && p.Found {
				streamPoints = append(streamPoints, id)
				for _, c := range p.Copies {
					streamOffs = append(streamOffs, c.FileOffset)
					streamCookies = append(streamCookies, uint64(cookie))
				}
			}
		}
	}
	sites := taskSites{polls: offs[0], wakes: wakes, wakeCookies: cookies, frames: frameOffs, streams: streamOffs, streamCookies: streamCookies}
	links, err := t.w.attachTasks(tg.PID, sites)
	if err != nil {
		t.log.Warn("attach task probes", "pid", tg.PID, "err", err)
		return nil, fmt.Sprintf("without %s: %v", gives, err)
	}
	tg.tasks.sites = &sites
	tg.probed[hitTasks] = true
	note := fmt.Sprintf("tokio.task.poll, wakers and spawns (%s, %d task types; placed while the process makes client calls, removed after %v without)", gives, len(offs[0]), taskIdle)
	if hasFrames {
		tg.probed[hitH2Frames] = true
		note += ", h2.codec.decode_frame (HTTP/2 calls)"
	}
	if len(streamPoints) > 0 {
		note += ", " + strings.Join(streamPoints, ", ") + " (HTTP/2 responses that came before anyone polled for them)"
	}
	return links, note
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
