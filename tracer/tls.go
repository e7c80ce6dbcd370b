package tracer

import (
	"bytes"
	"cmp"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/rustscope/rustscope/bpf"
	"github.com/rustscope/rustscope/tracer/flow"
	"github.com/rustscope/rustscope/tracer/http1"
)

// TLS connections. The BPF programs mark a connection TLS when the first
// bytes of a direction are a TLS record header; its records are never
// parsed. Where a TLS library's plaintext probes are placed (lib/rustls),
// the plaintext comes as the connection's own data once the library's
// object is bound to the socket (rustls.bpf.h), and before that with the
// object's key: kept here until the binding names its connection, then fed
// to it first. A TLS connection without plaintext gives no spans; the log
// says so once per process.

// What a data record's bytes are (enum tls_bytes): a TLS connection's
// records, or TLS plaintext; else a plaintext connection's bytes.
const (
	tlsCipher = uint8(bpf.WireTlsBytesTLS_CIPHER)
	tlsPlain  = uint8(bpf.WireTlsBytesTLS_PLAIN)
)

// Bounds of the plaintext kept for keys not yet bound (a binding comes
// within a request or two of a connection's first plaintext, or not at
// all: the object moved on, or the connection closed), and of what a
// connection holds until its other direction is bound.
const (
	tlsWaitRecords = 16             // per key and direction
	tlsWaitBytes   = 64 << 10       // captured bytes per key and direction
	tlsWaitKeys    = 4096           // keys at once; the oldest go first
	tlsWaitAge     = 5_000_000_000  // ns a record is kept
	tlsForget      = 60_000_000_000 // ns a silent key is remembered
	tlsHoldAge     = 1_000_000_000  // ns a connection's plaintext waits for its other direction
	tlsHoldRecords = 1024           // records of one connection that wait so
	tlsHoldBytes   = 512 << 10      // and their captured bytes
)

// clientPreface begins what an HTTP/2 client sends (RFC 9113, 3.4).
var clientPreface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// tlsKey names a TLS library's object for one direction.
type tlsKey struct {
	pid uint32
	dir uint8
	key uint64
}

// tlsRecord is plaintext kept for a key not yet bound.
type tlsRecord struct {
	ev   event // head and data; captured is a copy
	size int   // captured bytes kept
}

// tlsPending is what is kept for one key: its records, and whether some
// were let go (the bounds): its connection then has a gap when it binds.
type tlsPending struct {
	recs  []tlsRecord
	marks []mark // library hits after its reads (enrich.go)
	bytes int
	lost  bool
	last  uint64 // ts of the last record
}

// tlsWaiting is what the assembler keeps for keys not yet bound, and what
// it learns of the keys' layout.
type tlsWaiting struct {
	keys    map[tlsKey]*tlsPending
	order   []tlsKey // keys in the order they came, for the bound on keys
	offsets map[tlsOffsetKey]*tlsOffset
	holding map[connKey]bool // connections holding plaintext (holdTLS)
}

// tlsOffsetKey names one connection type of one process.
type tlsOffsetKey struct {
	pid  uint32
	role uint8
}

// tlsOffset learns the offset between a connection's read and write keys
// (rustls.bpf.h): a sample each time evidence binds a key of a socket
// whose other key evidence bound too. While the library's object moves
// (early in a connection) the two may be of different places, so the
// offset is trusted once tlsOffsetSamples samples agree and they are at
// least three in four.
type tlsOffset struct {
	counts  map[int64]int
	samples int
	trusted bool
}

const tlsOffsetSamples = 4

// learn takes a sample and returns the offset once it is trusted (once).
func (o *tlsOffset) learn(d int64) (int64, bool) {
	if len(o.counts) >= 64 && o.counts[d] == 0 {
		clear(o.counts) // samples all over the place: start over
		o.samples = 0
	}
	o.counts[d]++
	o.samples++
	if o.trusted || o.counts[d] < tlsOffsetSamples || 4*o.counts[d] < 3*o.samples {
		return 0, false
	}
	o.trusted = true
	return d, true
}

// tlsVersion is the protocol version a record overhead says.
func tlsVersion(overhead uint8) string {
	switch overhead {
	case 17:
		return "1.3"
	case 16, 24:
		return "1.2"
	}
	return ""
}

// keepTLS keeps plaintext of a key not yet bound (fd -1).
func (a *assembler) keepTLS(tk uint64, ev *event) {
	w := &a.tlsWait
	if w.keys == nil {
		w.keys = map[tlsKey]*tlsPending{}
	}
	k := tlsKey{pid: ev.head.Tgid, dir: ev.data.Dir, key: ev.data.TlsKey}
	p := w.keys[k]
	if p == nil {
		if len(w.order) >= tlsWaitKeys {
			a.dropTLS(w.order[0])
		}
		p = &tlsPending{}
		w.keys[k] = p
		w.order = append(w.order, k)
	}
	p.last = ev.head.Ts
	if ev.data.Dir != dirEgress {
		a.hits.readTLS(tk, k)
		if bytes.HasPrefix(ev.captured, clientPreface) {
			a.h2Served(k.pid)
		}
	}
	if p.lost || len(p.recs) >= tlsWaitRecords || p.bytes+len(ev.captured) > tlsWaitBytes {
		a.counters.TLSUnbound.Add(1)
		p.lost = true
		return
	}
	c := *ev
	c.captured = append([]byte(nil), ev.captured...)
	p.recs = append(p.recs, tlsRecord{ev: c, size: len(c.captured)})
	p.bytes += len(c.captured)
}

// dropTLS forgets what was kept for k; its records count as never bound.
func (a *assembler) dropTLS(k tlsKey) {
	w := &a.tlsWait
	if p := w.keys[k]; p != nil {
		a.counters.TLSUnbound.Add(uint64(len(p.recs)))
	}
	delete(w.keys, k)
	for i, o := range w.order {
		if o == k {
			w.order = append(w.order[:i], w.order[i+1:]...)
			break
		}
	}
}

// expireTLS lets go of plaintext kept longer than tlsWaitAge (its key,
// should it bind, brings a gap), and forgets keys silent for tlsForget.
func (a *assembler) expireTLS(now uint64) {
	for k := range a.tlsWait.holding {
		if c := a.conns[k]; c == nil || len(c.tlsHeld) == 0 {
			delete(a.tlsWait.holding, k)
		} else if now-c.tlsHeld[0].ev.head.Ts > tlsHoldAge {
			a.flowTLS(k, c)
		}
	}
	for k, p := range a.tlsWait.keys {
		switch {
		case now-p.last > tlsForget:
			a.dropTLS(k)
		case len(p.recs) > 0 && now-p.last > tlsWaitAge:
			a.counters.TLSUnbound.Add(uint64(len(p.recs)))
			p.recs, p.bytes, p.lost = nil, 0, true
		}
	}
}

// tlsBound: a key's plaintext belongs to a connection from now on. What
// was kept for it is that connection's first plaintext in the direction.
func (a *assembler) tlsBound(ev *event) {
	b := &ev.bind
	k := tlsKey{pid: ev.head.Tgid, dir: b.Dir, key: b.Key}
	ck := connKey{pid: k.pid, fd: b.Fd}
	c := a.conns[ck]
	if c == nil {
		c = &conn{http: http1.NewConn(flow.RoleUnknown)}
		a.add(ck, c, ev.head.Ts)
	}
	c.tls, c.tlsPlain = true, true
	if v := tlsVersion(b.Overhead); v != "" {
		c.tlsVersion = v
	}
	a.counters.TLSBound.Add(1)
	if b.Inferred == 0 {
		a.learnTLSOffset(k.pid, c, dirOf(b.Dir), b.Key)
	}
	dir := dirOf(b.Dir)
	c.tlsBound[dir] = true
	var recs []tlsRecord
	if p := a.tlsWait.keys[k]; p != nil {
		c.tlsMarks = append(c.tlsMarks, p.marks...)
		delete(a.tlsWait.keys, k)
		a.tlsWait.order = slices.DeleteFunc(a.tlsWait.order, func(o tlsKey) bool { return o == k })
		if p.lost {
			a.lose(c, dir)
		}
		recs = p.recs
		for i := range recs {
			recs[i].ev.data.Fd = b.Fd
		}
	}
	switch {
	case c.tlsFlowing || !c.tlsHolds(dir) && !c.tlsBound[1-dir]:
		a.feedTimeline(ck, c, recs)
	default:
		c.tlsHeld = append(c.tlsHeld, recs...)
		if c.tlsBound[flow.Ingress] && c.tlsBound[flow.Egress] {
			a.flowTLS(ck, c)
		}
	}
}

// tlsMark keeps a library hit that came after plaintext reads of k, not
// bound yet, for k's connection.
func (a *assembler) tlsMark(k tlsKey, m mark) {
	p := a.tlsWait.keys[k]
	if p == nil || len(p.marks) >= maxMarks {
		return
	}
	p.marks = append(p.marks, m)
}

// tlsH1Path is the path of the newest HTTP/1 request head kept for k, a
// key not bound yet.
func (a *assembler) tlsH1Path(k tlsKey) (string, bool) {
	p := a.tlsWait.keys[k]
	if p == nil {
		return "", false
	}
	for i := len(p.recs) - 1; i >= 0; i-- {
		line, _, _ := bytes.Cut(p.recs[i].ev.captured, []byte("\r\n"))
		f := bytes.Fields(line)
		if len(f) == 3 && bytes.HasPrefix(f[2], []byte("HTTP/1.")) && len(f[1]) > 0 && f[1][0] == '/' {
			path, _, _ := strings.Cut(string(f[1]), "?")
			return path, true
		}
	}
	return "", false
}

// tlsMarkConn gives connection c a hit that waited with its key: route
// lookups of HTTP/2 go where probeHit sends them.
func (a *assembler) tlsMarkConn(pid uint32, c *conn, m mark) {
	if m.kind == hitRoute && c.h2 != nil {
		a.h2RouteHit(pid, c, m)
		return
	}
	if len(c.marks) == maxMarks {
		c.marks = c.marks[1:]
	}
	c.marks = append(c.marks, m)
}

// tlsHolds says whether c's plaintext in dir waits for the other
// direction's binding: responses do (and both directions of a connection
// whose role is not known), so that the requests they answer, bound later,
// come first; a connection's first plaintext in one direction is often
// bound later than the other's (HTTP/2: a server's SETTINGS go out while
// the client's first frames, which came with its handshake, still wait).
// Requests never wait: library hits right after them need them parsed.
func (c *conn) tlsHolds(dir flow.Direction) bool {
	if c.tlsBound[1-dir] {
		return false
	}
	switch c.bpfRole {
	case roleServer:
		return dir == flow.Egress
	case roleClient:
		return dir == flow.Ingress
	}
	return true
}

// holdTLS keeps plaintext of c until its other direction is bound
// (tlsHolds), then both are fed in the order they came (flowTLS). Past the
// bounds it lets c's plaintext flow as it is.
func (a *assembler) holdTLS(tk uint64, ev *event, k connKey, c *conn) {
	if ev.data.Dir != dirEgress {
		a.hits.read(tk, k) // its thread's library hits are for k
		if bytes.HasPrefix(ev.captured, clientPreface) {
			a.h2Served(k.pid)
		}
	}
	r := *ev
	r.captured = append([]byte(nil), ev.captured...)
	c.tlsHeld = append(c.tlsHeld, tlsRecord{ev: r, size: len(r.captured)})
	c.tlsHeldBytes += len(r.captured)
	if len(c.tlsHeld) >= tlsHoldRecords || c.tlsHeldBytes > tlsHoldBytes || ev.head.Ts-c.tlsHeld[0].ev.head.Ts > tlsHoldAge {
		a.flowTLS(k, c)
		return
	}
	if a.tlsWait.holding == nil {
		a.tlsWait.holding = map[connKey]bool{}
	}
	a.tlsWait.holding[k] = true
}

// flowTLS feeds what c held, in the order it came, and c's plaintext as
// it comes from now on.
func (a *assembler) flowTLS(k connKey, c *conn) {
	c.tlsFlowing = true
	delete(a.tlsWait.holding, k)
	held := c.tlsHeld
	c.tlsHeld, c.tlsHeldBytes = nil, 0
	a.feedTimeline(k, c, held)
}

// feedTimeline feeds records that waited and the library hits that
// waited with them (c.tlsMarks) in the order they came: a hit goes where
// probeHit would have sent it had its reads been fed then (HTTP/2 route
// lookups find their stream by path, opened by then and not yet ended).
func (a *assembler) feedTimeline(k connKey, c *conn, recs []tlsRecord) {
	slices.SortStableFunc(recs, func(x, y tlsRecord) int { return cmp.Compare(x.ev.head.Ts, y.ev.head.Ts) })
	marks := c.tlsMarks
	c.tlsMarks = nil
	slices.SortStableFunc(marks, func(x, y mark) int { return cmp.Compare(x.ts, y.ts) })
	for i := range recs {
		for len(marks) > 0 && marks[0].ts < recs[i].ev.head.Ts {
			a.tlsMarkConn(k.pid, c, marks[0])
			marks = marks[1:]
		}
		a.feedLate(&recs[i], k, c, dirOf(recs[i].ev.data.Dir))
	}
	for _, m := range marks {
		a.tlsMarkConn(k.pid, c, m)
	}
}

// feedLate feeds a record that waited. Fed now, one older than what its
// direction has had would come out of order; older than what the other
// has had, it would pair an HTTP/1 request with another's response
// (HTTP/2 pairs by stream: its order across directions does not matter).
func (a *assembler) feedLate(r *tlsRecord, k connKey, c *conn, dir flow.Direction) {
	if r.ev.head.Ts < c.lastFed[dir] || r.ev.head.Ts < c.lastFed[1-dir] && c.h2 == nil {
		a.counters.TLSUnbound.Add(1)
		a.lose(c, dir)
		return
	}
	a.feed(0, &r.ev, k, c, dir)
}

// learnTLSOffset notes that evidence bound key to c in dir, and gives the
// programs the offset between c's read and write keys once it is trusted.
func (a *assembler) learnTLSOffset(pid uint32, c *conn, dir flow.Direction, key uint64) {
	c.tlsKeys[dir] = key
	if c.tlsKeys[flow.Ingress] == 0 || c.tlsKeys[flow.Egress] == 0 {
		return
	}
	w := &a.tlsWait
	if w.offsets == nil {
		w.offsets = map[tlsOffsetKey]*tlsOffset{}
	}
	ok := tlsOffsetKey{pid: pid, role: c.bpfRole}
	o := w.offsets[ok]
	if o == nil {
		o = &tlsOffset{counts: map[int64]int{}}
		w.offsets[ok] = o
	}
	if d, ok := o.learn(int64(c.tlsKeys[flow.Ingress] - c.tlsKeys[flow.Egress])); ok && a.setTLSOffset != nil {
		a.setTLSOffset(pid, c.bpfRole, d)
	}
}

// tlsData handles a capture in direction dir of connection c, and reports
// whether it is done with: a TLS connection's records are not parsed. They
// still name the connection a thread last read, so that a library probe
// hit after a TLS read is not tied to another.
func (a *assembler) tlsData(tk uint64, ev *event, k connKey, c *conn, dir flow.Direction) bool {
	tls := ev.data.Tls
	switch tls {
	case tlsPlain:
		c.tls, c.tlsPlain = true, true
		if !c.tlsFlowing && c.tlsHolds(dir) {
			a.holdTLS(tk, ev, k, c)
			return true
		}
		return false
	case tlsCipher:
	default:
		return false
	}
	if !c.tls {
		c.tls = true
		a.counters.TLSConns.Add(1)
		if tg := a.meta(k.pid); tg == nil || !tg.probed[hitTLS] {
			a.warnOnce(k.pid, "tls", "TLS connections seen: encrypted on the wire, they give no spans (no TLS library's plaintext probes are placed in this process)",
				"local", c.local, "remote", c.remote)
		}
	}
	if dir == flow.Ingress {
		a.hits.read(tk, k)
	}
	return true
}

// scheme is the URL scheme of c's requests.
func (c *conn) scheme() string {
	if c.tlsPlain {
		return "https"
	}
	return "http"
}

// tlsAttrs appends the TLS attributes of a span on c: tls.protocol.name
// and, once a binding said it, tls.protocol.version.
func (c *conn) tlsAttrs(attrs []attribute.KeyValue) []attribute.KeyValue {
	if !c.tlsPlain {
		return attrs
	}
	attrs = append(attrs, semconv.TLSProtocolNameTLS)
	if c.tlsVersion != "" {
		attrs = append(attrs, semconv.TLSProtocolVersion(c.tlsVersion))
	}
	return attrs
}
