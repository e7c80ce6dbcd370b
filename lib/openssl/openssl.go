// Package openssl is the home of rustscope's knowledge of OpenSSL as Rust
// programs link it (the openssl crate, under native-tls): where plaintext
// crosses libssl, so that HTTPS through native-tls gives the same spans as
// plaintext connections. The BPF side (openssl.bpf.h) binds each SSL
// object to its socket by the socket calls made inside its calls.
package openssl

import "github.com/rustscope/rustscope/probe"

// Kinds of call the probes see (their cookie; enum tls_call_kind).
const (
	Read    = 3 // SSL_read(ssl, buf, num)
	ReadEx  = 4 // SSL_read_ex(ssl, buf, num, &readbytes)
	Write   = 5 // SSL_write(ssl, buf, num)
	WriteEx = 6 // SSL_write_ex(ssl, buf, num, &written)
)

// Object is the shared library the points are exported from: the openssl
// crate links it dynamically (openssl-sys, pkg-config).
const Object = "libssl.so"

// Library is OpenSSL's declaration (1.1.1 and 3). rust-openssl calls the
// _ex forms where they exist (1.1.1 on); SSL_read and SSL_write serve
// older libraries and C code. The four are exported, so every libssl
// keeps them, stripped too.
var Library = probe.Library{
	Crate: "openssl",
	Wants: []probe.Want{
		{ID: "openssl.ssl_read", Crate: "openssl", Group: "openssl", Object: Object, Required: true,
			Match: []string{"SSL_read"}, Purpose: "plaintext read from a TLS connection"},
		{ID: "openssl.ssl_write", Crate: "openssl", Group: "openssl", Object: Object, Required: true,
			Match: []string{"SSL_write"}, Purpose: "plaintext written to a TLS connection"},
		{ID: "openssl.ssl_read_ex", Crate: "openssl", Group: "openssl", Object: Object,
			Match: []string{"SSL_read_ex"}, Purpose: "plaintext read from a TLS connection (OpenSSL 1.1.1 on)"},
		{ID: "openssl.ssl_write_ex", Crate: "openssl", Group: "openssl", Object: Object,
			Match: []string{"SSL_write_ex"}, Purpose: "plaintext written to a TLS connection (OpenSSL 1.1.1 on)"},
	},
	// Entry saves the argument registers, return captures what moved:
	// both at the entry, one breakpoint (a return probe must be there).
	Uprobes: []probe.Uprobe{
		{Points: []string{"openssl.ssl_read"}, Program: probe.ProgSSLEnter, Cookie: Read, Gives: Gives},
		{Points: []string{"openssl.ssl_read"}, Program: probe.ProgSSLExit, Gives: Gives},
		{Points: []string{"openssl.ssl_write"}, Program: probe.ProgSSLEnter, Cookie: Write, Gives: Gives},
		{Points: []string{"openssl.ssl_write"}, Program: probe.ProgSSLExit, Gives: Gives},
		{Points: []string{"openssl.ssl_read_ex"}, Program: probe.ProgSSLEnter, Cookie: ReadEx, Optional: true, Gives: Gives},
		{Points: []string{"openssl.ssl_read_ex"}, Program: probe.ProgSSLExit, Optional: true, Gives: Gives},
		{Points: []string{"openssl.ssl_write_ex"}, Program: probe.ProgSSLEnter, Cookie: WriteEx, Optional: true, Gives: Gives},
		{Points: []string{"openssl.ssl_write_ex"}, Program: probe.ProgSSLExit, Optional: true, Gives: Gives},
	},
}

// Gives is what the probes add.
const Gives = "spans of TLS connections (OpenSSL plaintext)"
