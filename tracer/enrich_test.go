package tracer

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/rustscope/rustscope/bpf"
	"github.com/rustscope/rustscope/lib/axum"
	"github.com/rustscope/rustscope/symbols"
)

const testNode = 0x55550000

// probeRec builds a library probe record of thread tid: cookie idx, six
// argument registers, the string argument.
func probeRec(tid uint32, idx uint32, ts uint64, args [6]uint64, str string) []byte {
	p := bpf.WireProbeEvent{Head: head(evProbe, ts, tid), Probe: idx, Args: args}
	p.StrLen = uint32(copy(p.Str[:], str))
	return record(p, nil)
}

// withTid sets the thread of a record, in place: every record begins with
// its head.
func withTid(raw []byte, tid uint32) []byte {
	(*bpf.WireEventHead)(unsafe.Pointer(&raw[0])).Tid = tid
	return raw
}

// probedAssembler is an assembler for pid 42, a binary linking axum 0.7.9,
// hyper 1.5.2 and reqwest 0.12.15, with the three kinds of probe at
// cookies 0, 1, 2 and a router at testNode.
func probedAssembler(spans *[]Span, c *Counters) *assembler {
	tg := &Target{PID: 42, Analysis: &symbols.Analysis{Crates: []symbols.Crate{
		{Name: "axum", Version: "0.7.9"}, {Name: "hyper", Version: "1.5.2"}, {Name: "reqwest", Version: "0.12.15"}}}}
	tg.probed[hitServer], tg.probed[hitRoute], tg.probed[hitClient] = true, true, true
	tg.client.addrs = []uint64{0x1000} // placed from the start (clientprobe.go)
	tg.client.placed(1)
	a := newAssembler(&clock{}, c, func(uint32) *Target { return tg }, func(s Span) { *spans = append(*spans, s) })
	an := tg.Analysis
	refs := []hitRef{{42, hitServer, "hyper.h1.server.parse", scopeOf(an, "hyper", hitServer)},
		{42, hitRoute, "axum.path_router.node_at", scopeOf(an, "axum", hitRoute)},
		{42, hitClient, "hyper.h1.client.parse", scopeOf(an, "hyper", hitClient)}}
	a.hits.hit = func(i uint32) (hitRef, bool) {
		if int(i) >= len(refs) {
			return hitRef{}, false
		}
		return refs[i], true
	}
	a.hits.readRoutes = func(pid uint32, node uint64) (*axum.Table, error) {
		switch node {
		case testNode:
			return axum.NewTable([]string{"/health", "/users/:id", "/users/new"}), nil
		case testNode + 0x1000:
			return axum.NewTable([]string{"/", "/*__private__axum_fallback"}), nil
		}
		return nil, errors.New("no such router")
	}
	return a
}

func feed(t *testing.T, a *assembler, recs ...[]byte) {
	t.Helper()
	var ev event
	for _, r := range recs {
		if err := decodeEvent(r, &ev); err != nil {
			t.Fatalf("decode: %v", err)
		}
		a.handle(&ev)
	}
}

func TestEnrichServer(t *testing.T) {
	resp := "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
	for _, tc := range []struct {
		name, path   string
		probes       func(path string) [][]byte
		scope, route string
		refused      uint64
	}{
		{"no probe", "/users/7", func(string) [][]byte { return nil }, "rustscope/wire", "", 0},
		{"hyper only", "/users/7", func(string) [][]byte {
			return [][]byte{probeRec(5, 0, 1100, [6]uint64{}, "")}
		}, "hyper", "", 0},
		{"axum route", "/users/7", func(p string) [][]byte {
			return [][]byte{probeRec(5, 0, 1100, [6]uint64{}, ""), probeRec(5, 1, 1200, [6]uint64{0, testNode, 0, uint64(len(p))}, p)}
		}, "axum", "/users/:id", 0},
		{"static beats parameter", "/users/new", func(p string) [][]byte {
			return [][]byte{probeRec(5, 1, 1200, [6]uint64{0, testNode}, p)}
		}, "axum", "/users/new", 0},
		{"fallback is no route", "/nope", func(p string) [][]byte {
			return [][]byte{probeRec(5, 1, 1200, [6]uint64{0, testNode}, p), probeRec(5, 1, 1300, [6]uint64{0, testNode + 0x1000}, p)}
		}, "axum", "", 0},
		{"unreadable router", "/users/7", func(p string) [][]byte {
			return [][]byte{probeRec(5, 1, 1200, [6]uint64{0, 0xdead000}, p)}
		}, "axum", "", 0},
		{"path argument not the request's: refused", "/users/7", func(string) [][]byte {
			return [][]byte{probeRec(5, 1, 1200, [6]uint64{0, testNode}, "\x00\x01garbage")}
		}, "axum", "", 1},
		{"hit on another thread's connection is not this one's", "/users/7", func(p string) [][]byte {
			return [][]byte{probeRec(6, 1, 1200, [6]uint64{0, testNode}, p)}
		}, "rustscope/wire", "", 0},
		{"hit before the request is stale", "/users/7", func(p string) [][]byte {
			return [][]byte{probeRec(5, 1, 900, [6]uint64{0, testNode}, p)}
		}, "rustscope/wire", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var spans []Span
			var c Counters
			a := probedAssembler(&spans, &c)
			feed(t, a, openRec(7, roleServer, 100), withTid(openRec(8, roleServer, 100), 6),
				withTid(dataRec(8, 0, 0, 800, "GET /other HTTP/1.1\r\nHost: h\r\n\r\n", 0), 6))
			// The stale case: a hit on thread 5 before its read.
			var before, after [][]byte
			for _, p := range tc.probes(tc.path) {
				var ev event
				decodeEvent(p, &ev)
				if ev.head.Ts < 1000 {
					before = append(before, p)
				} else {
					after = append(after, p)
				}
			}
			feed(t, a, withTid(dataRec(7, 0, 0, 850, "", 1), 5)) // thread 5 read conn 7 before: an empty read
			feed(t, a, before...)
			feed(t, a, withTid(dataRec(7, 0, 1, 1000, "GET "+tc.path+" HTTP/1.1\r\nHost: h\r\n\r\n", 0), 5))
			feed(t, a, after...)
			feed(t, a, withTid(dataRec(7, 1, 0, 2000, resp, 0), 5))
			if len(spans) != 1 {
				t.Fatalf("%d spans", len(spans))
			}
			s := spans[0]
			if s.Scope.Name != tc.scope || attr(s, "http.route") != tc.route {
				t.Errorf("scope %q route %q, want %q %q", s.Scope.Name, attr(s, "http.route"), tc.scope, tc.route)
			}
			wantName := "GET"
			if tc.route != "" {
				wantName += " " + tc.route
			}
			if s.Name != wantName {
				t.Errorf("name %q, want %q", s.Name, wantName)
			}
			if tc.scope == "axum" && s.Scope.Version != "0.7.9" {
				t.Errorf("scope version %q", s.Scope.Version)
			}
			if got := c.RoutesRefused.Load(); got != tc.refused {
				t.Errorf("%d lookups refused, want %d", got, tc.refused)
			}
		})
	}
}

// hyper's client parses a response head after the read that completed the
// exchange: the span waits for the thread's next event to learn its scope.
// Each scenario is on a connection of its own: once a connection's
// library is known, its exchanges no longer wait (TestClientLibrary).
func TestEnrichClientParks(t *testing.T) {
	req := "GET /x HTTP/1.1\r\nhost: svc:9000\r\n\r\n"
	resp := "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
	var spans []Span
	var c Counters
	a := probedAssembler(&spans, &c)
	feed(t, a, openRec(9, roleClient, 100),
		withTid(dataRec(9, 1, 0, 1000, req, 0), 3),
		withTid(dataRec(9, 0, 0, 2000, resp, 0), 3))
	if len(spans) != 0 {
		t.Fatalf("span emitted before the thread's next event")
	}
	feed(t, a, probeRec(3, 2, 2100, [6]uint64{}, ""))
	if len(spans) != 1 || spans[0].Scope.Name != "reqwest" || spans[0].Scope.Version != "0.12.15" {
		t.Fatalf("spans %+v, want one with scope reqwest 0.12.15", spans)
	}
	// No hit follows (say the point is not reached): the thread's next
	// event releases the span with the wire scope.
	feed(t, a, openRec(10, roleClient, 2500),
		withTid(dataRec(10, 1, 0, 3000, req, 0), 3),
		withTid(dataRec(10, 0, 0, 4000, resp, 0), 3),
		withTid(dataRec(9, 1, 1, 5000, req, 0), 3))
	if len(spans) != 2 || spans[1].Scope != WireScope {
		t.Fatalf("second span: %+v", spans[1:])
	}
	// The ring runs dry while the thread is kept off the CPU between its
	// read and the parse (a busy machine): the span still waits for the
	// hit, however late, up to parkMax.
	feed(t, a, openRec(11, roleClient, 5500),
		withTid(dataRec(11, 1, 0, 5600, req, 0), 3),
		withTid(dataRec(11, 0, 0, 6000, resp, 0), 3))
	a.unparkStale(6000 + parkMax/2)
	if len(spans) != 2 {
		t.Fatalf("%d spans after an idle period shorter than parkMax, want 2", len(spans))
	}
	feed(t, a, probeRec(3, 2, 6000+parkMax/2+1, [6]uint64{}, ""))
	if len(spans) != 3 || spans[2].Scope.Name != "reqwest" {
		t.Fatalf("late hit: spans %+v, want a third with scope reqwest", spans[2:])
	}
	// A thread that never runs again: parkMax after its read, the span goes.
	feed(t, a, openRec(12, roleClient, 6500),
		withTid(dataRec(12, 1, 0, 7000, req, 0), 4),
		withTid(dataRec(12, 0, 0, 8000, resp, 0), 4))
	a.unparkStale(8000 + parkMax)
	if len(spans) != 3 {
		t.Fatalf("%d spans at parkMax, want 3", len(spans))
	}
	a.unparkStale(8000 + parkMax + 1)
	if len(spans) != 4 || spans[3].Scope != WireScope {
		t.Fatalf("after parkMax: spans %+v, want a fourth with the wire scope", spans[3:])
	}
}

// A connection keeps the library its first exchange with the probe in
// place named (hyper's hit, or none): later exchanges on it do not wait
// for a hit and get the same scope; an exchange that came while the probe
// rested waits for its connection's next one, and gets what that learns
// (or the wire scope when the connection closes first, or after noLibMax).
func TestClientLibrary(t *testing.T) {
	req := "GET /x HTTP/1.1\r\nhost: svc:9000\r\n\r\n"
	resp := "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
	var spans []Span
	var c Counters
	a := probedAssembler(&spans, &c)
	tg := a.meta(42)
	var placedAgain []uint32
	a.placeClient = func(pid uint32) { placedAgain = append(placedAgain, pid) }
	// fd 9: hyper's (a hit); fd 10: none (no hit while in place).
	feed(t, a, openRec(9, roleClient, 100), openRec(10, roleClient, 100),
		withTid(dataRec(9, 1, 0, 1000, req, 0), 3),
		withTid(dataRec(9, 0, 0, 2000, resp, 0), 3),
		probeRec(3, 2, 2100, [6]uint64{}, ""),
		withTid(dataRec(10, 1, 0, 3000, req, 0), 3),
		withTid(dataRec(10, 0, 0, 4000, resp, 0), 3),
		withTid(dataRec(9, 1, 1, 5000, req, 0), 3)) // thread 3 moves on: fd 10's span goes
	if len(spans) != 2 || spans[0].Scope.Name != "reqwest" || spans[1].Scope != WireScope {
		t.Fatalf("first exchanges: %+v", spans)
	}
	if tg.client.known != 0 {
		t.Errorf("known %d after exchanges on new connections, want 0", tg.client.known)
	}
	// Known now: no waiting, the same scope, counted towards a rest.
	feed(t, a, withTid(dataRec(9, 0, 1, 6000, resp, 0), 3),
		withTid(dataRec(10, 1, 1, 7000, req, 0), 3),
		withTid(dataRec(10, 0, 1, 8000, resp, 0), 3))
	if len(spans) != 4 || spans[2].Scope.Name != "reqwest" || spans[3].Scope != WireScope {
		t.Fatalf("exchanges on known connections: %+v", spans[2:])
	}
	if tg.client.known != 2 {
		t.Errorf("known %d, want 2", tg.client.known)
	}
	if len(placedAgain) != 0 {
		t.Errorf("placed again while in place: %v", placedAgain)
	}
	// The probe rests; a new connection's request places it again, and
	// its exchange, with no hit and the probe not in place, waits.
	tg.client.off.Store(9000)
	feed(t, a, openRec(13, roleClient, 9100),
		withTid(dataRec(13, 1, 0, 10000, req, 0), 5),
		withTid(dataRec(13, 0, 0, 11000, resp, 0), 5))
	if len(spans) != 4 {
		t.Fatalf("exchange while the probe rests emitted at once: %+v", spans[4:])
	}
	if tg.client.known != 0 || len(placedAgain) != 1 || placedAgain[0] != 42 {
		t.Errorf("known %d, placed again %v; want 0, [42]", tg.client.known, placedAgain)
	}
	// Back in place before its next exchange: the hit names the
	// connection, and both spans go, in order, with its scope.
	tg.client.placed(11500)
	feed(t, a, withTid(dataRec(13, 1, 1, 12000, req, 0), 5),
		withTid(dataRec(13, 0, 1, 13000, resp, 0), 5),
		probeRec(5, 2, 13100, [6]uint64{}, ""))
	if len(spans) != 6 || spans[4].Scope.Name != "reqwest" || spans[5].Scope.Name != "reqwest" || !spans[4].Start.Before(spans[5].Start) {
		t.Fatalf("exchanges once the probe is back: %+v", spans[4:])
	}
	// Resting again: a connection that closes before it learns anything
	// lets its span go with the wire scope; so does one that learns
	// nothing within noLibMax.
	tg.client.off.Store(14000)
	feed(t, a, openRec(14, roleClient, 14100),
		withTid(dataRec(14, 1, 0, 15000, req, 0), 6),
		withTid(dataRec(14, 0, 0, 16000, resp, 0), 6),
		openRec(15, roleClient, 16100),
		withTid(dataRec(15, 1, 0, 17000, req, 0), 6),
		withTid(dataRec(15, 0, 0, 18000, resp, 0), 6),
		withTid(closeRec(14, 19000), 6))
	if len(spans) != 7 || spans[6].Scope != WireScope {
		t.Fatalf("closed before learning: %+v", spans[6:])
	}
	a.expire(18000 + noLibMax)
	if len(spans) != 7 {
		t.Fatalf("%d spans at noLibMax, want 7", len(spans))
	}
	a.expire(18000 + noLibMax + 1)
	if len(spans) != 8 || spans[7].Scope != WireScope {
		t.Fatalf("after noLibMax: %+v", spans[7:])
	}
}

// A long response: its head is parsed at its first read, its last read
// (on another thread, the task moved) parks it, and the next exchange's
// parse hit lands on the connection before that thread moves on. Each
// exchange gets its own hit.
func TestEnrichClientHitsStayWithTheirExchange(t *testing.T) {
	req := "GET /big HTTP/1.1\r\nhost: svc:9000\r\n\r\n"
	var spans []Span
	var c Counters
	a := probedAssembler(&spans, &c)
	feed(t, a, openRec(9, roleClient, 100),
		withTid(dataRec(9, 1, 0, 1000, req, 0), 3),
		withTid(dataRec(9, 0, 0, 2000, "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01234", 0), 3),
		probeRec(3, 2, 2100, [6]uint64{}, ""),          // parse of response 1
		withTid(dataRec(9, 0, 1, 3000, "56789", 0), 4), // completes 1 on thread 4: parked
		withTid(dataRec(9, 1, 1, 4000, req, 0), 3),
		withTid(dataRec(9, 0, 2, 5000, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 0), 3), // completes 2: parked on 3
	)
	feed(t, a, probeRec(3, 2, 5100, [6]uint64{}, ""))       // parse of response 2: releases 1, then 2
	feed(t, a, withTid(dataRec(11, 0, 0, 5500, "x", 0), 4)) // thread 4 moves on: nothing left
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	for i, s := range spans {
		if s.Scope.Name != "reqwest" {
			t.Errorf("span %d: scope %q, want reqwest", i, s.Scope.Name)
		}
	}
}

// Spans that wait for their connection's library are bounded per
// connection: when noLibSpans wait, the next exchange lets them go, in
// order, with the wire scope, and itself after them.
func TestClientNoLibBound(t *testing.T) {
	req := "GET /x HTTP/1.1\r\nhost: svc:9000\r\n\r\n"
	resp := "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
	var spans []Span
	var c Counters
	a := probedAssembler(&spans, &c)
	a.placeClient = func(uint32) {} // placing fails: the probe stays away
	a.meta(42).client.off.Store(50)
	feed(t, a, openRec(9, roleClient, 100))
	ts := uint64(1000)
	for i := range noLibSpans + 1 {
		feed(t, a, withTid(dataRec(9, 1, uint32(i), ts, req, 0), 3), withTid(dataRec(9, 0, uint32(i), ts+10, resp, 0), 3))
		ts += 100
	}
	if len(spans) != noLibSpans+1 {
		t.Fatalf("%d spans after %d exchanges with the probe away, want all of them", len(spans), noLibSpans+1)
	}
	for i, s := range spans {
		if s.Scope != WireScope || (i > 0 && s.Start.Before(spans[i-1].Start)) {
			t.Fatalf("span %d: scope %v, start %v (previous %v)", i, s.Scope, s.Start, spans[max(i-1, 0)].Start)
		}
	}
}
