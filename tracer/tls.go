package tracer

import "github.com/rustscope/rustscope/tracer/flow"

// TLS connections: the wire layer sees their records, not HTTP. A
// connection whose first bytes in a direction are a TLS record header is
// marked TLS: its bytes are not parsed (they would only keep the HTTP
// parser resyncing, with a tiny chance of a request line in ciphertext),
// it is counted, and the log says once per process that its TLS traffic
// gives no spans. Its reads still name the connection a thread last read,
// so that a library probe hit after a TLS read is not tied to another.

// maxTLSRecord is the longest record a TLS 1.2 peer may send (RFC 5246
// 6.2.3: 2^14 plus 2048 of expansion; TLS 1.3 allows less).
const maxTLSRecord = 1<<14 + 2048

// startsTLS says whether b begins with a TLS record header: a content type
// (change_cipher_spec 20, alert 21, handshake 22, application_data 23), a
// protocol version 3.x (every version from SSL 3.0 to TLS 1.3 says 3.1 to
// 3.4 on the wire) and a length a record may have. No HTTP/1 message
// begins with those bytes, nor an HTTP/2 preface or frame (a frame's first
// byte, its length's high byte, is 0 below 1 MiB: startsHTTP2).
func startsTLS(b []byte) bool {
	if len(b) < 5 {
		return false
	}
	n := int(b[3])<<8 | int(b[4])
	return b[0] >= 20 && b[0] <= 23 && b[1] == 3 && b[2] <= 4 && n > 0 && n <= maxTLSRecord
}

// tlsData handles a capture in direction dir of connection c, and reports
// whether c is TLS (then the capture is done with). Only a direction's
// first capture can tell, before any HTTP exchange.
func (a *assembler) tlsData(tk uint64, k connKey, c *conn, dir flow.Direction, b []byte) bool {
	if !c.tls && !c.began[dir] && c.h2 == nil && c.http.Stats().Exchanges == 0 && startsTLS(b) {
		c.tls = true
		a.counters.TLSConns.Add(1)
		a.warnOnce(k.pid, "tls", "TLS connections seen: encrypted on the wire, they give no spans (rustscope does not read TLS plaintext yet)",
			"local", c.local, "remote", c.remote)
	}
	c.began[dir] = true
	if c.tls && dir == flow.Ingress {
		a.hits.read(tk, k)
	}
	return c.tls
}
