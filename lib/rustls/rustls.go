// Package rustls is the home of rustscope's knowledge of the rustls crate:
// where plaintext crosses it (each record's plaintext as the connection
// takes it, and its plaintext sink), so that HTTPS and gRPC over TLS give
// the same spans as plaintext connections. The BPF side (rustls.bpf.h)
// binds each connection's plaintext to the socket that carries its records.
package rustls

import "github.com/rustscope/rustscope/probe"

// Kinds of call the probes see (their cookie; enum tls_call_kind).
const (
	Read   = 0 // CommonState::take_received_plaintext(&mut self, &Payload), at entry
	Write  = 1 // <ConnectionCommon as PlaintextSink>::write(conn, buf, len)
	Writev = 2 // <ConnectionCommon as PlaintextSink>::write_vectored(conn, iov, n)
)

// Library is rustls's declaration (0.23 and 0.21). The sink's points are
// called through a trait object (dyn PlaintextSink), so every build keeps
// them with their ABI, fat LTO too, except the sink's write, which LTO
// inlines; hyper and h2 write vectored through tokio-rustls. The reader
// (dyn io::Read) is inlined by fat LTO too; the connection's one function
// that takes each decrypted record is not (it has two callers), and sees
// every record once, at its entry: one trap per record, not two per read.
var Library = probe.Library{
	Crate: "rustls",
	Wants: []probe.Want{
		{ID: "rustls.take_received_plaintext", Crate: "rustls", Group: "rustls", Required: true,
			Match:   []string{"rustls::common_state::CommonState::take_received_plaintext"},
			Purpose: "a record's plaintext, as the connection takes it from decryption"},
		{ID: "rustls.sink.write_vectored", Crate: "rustls", Group: "rustls", Required: true,
			Match: []string{"<rustls::conn::ConnectionCommon as rustls::conn::connection::PlaintextSink>::write_vectored",
				"<rustls::conn::ConnectionCommon as rustls::conn::PlaintextSink>::write_vectored"},
			Purpose: "plaintext written to a TLS connection, vectored (hyper, h2)"},
		{ID: "rustls.sink.write", Crate: "rustls", Group: "rustls",
			Match: []string{"<rustls::conn::ConnectionCommon as rustls::conn::connection::PlaintextSink>::write",
				"<rustls::conn::ConnectionCommon as rustls::conn::PlaintextSink>::write"},
			Purpose: "plaintext written to a TLS connection from one buffer (inlined by fat LTO)"},
	},
	// Every point begins with a push the kernel emulates, in every build
	// seen. The writes: entry saves the arguments, return captures what
	// moved.
	Uprobes: []probe.Uprobe{
		{Points: []string{"rustls.take_received_plaintext"}, Program: probe.ProgTLSTake, Cookie: Read, Gives: Gives},
		{Points: []string{"rustls.sink.write_vectored"}, Program: probe.ProgTLSEnter, Cookie: Writev, Gives: Gives},
		{Points: []string{"rustls.sink.write_vectored"}, Program: probe.ProgTLSExit, Gives: Gives},
		{Points: []string{"rustls.sink.write"}, Program: probe.ProgTLSEnter, Cookie: Write, Optional: true, Gives: Gives},
		{Points: []string{"rustls.sink.write"}, Program: probe.ProgTLSExit, Optional: true, Gives: Gives},
	},
}

// Gives is what the probes add.
const Gives = "spans of TLS connections (rustls plaintext)"
