package process

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rustscope/rustscope/symbols"
)

// What list and inspect say of TLS: per library, plaintext captured where
// every required point of its home is found, else blind and why.
func TestTLSSight(t *testing.T) {
	rustls := []symbols.Crate{{Name: "rustls", Version: "0.23.26"}}
	openssl := []symbols.Crate{{Name: "openssl", Version: "0.10.72"}}
	found := []symbols.ProbePoint{{ID: "rustls.take_received_plaintext", Found: true}, {ID: "rustls.sink.write_vectored", Found: true}}
	stripped := []symbols.ProbePoint{{ID: "rustls.take_received_plaintext", Reason: "no symbols (stripped)"}, {ID: "rustls.sink.write_vectored"}}
	for _, tc := range []struct {
		name   string
		a      *symbols.Analysis
		sight  []string
		column string
	}{
		{"no TLS", &symbols.Analysis{Crates: []symbols.Crate{{Name: "hyper", Version: "1.5.2"}}}, nil, "-"},
		{"rustls found", &symbols.Analysis{Crates: rustls, Probes: found},
			[]string{"rustls 0.23.26: plaintext captured where it crosses the library (rustls.take_received_plaintext, rustls.sink.write_vectored)"},
			"rustls 0.23.26"},
		{"rustls stripped", &symbols.Analysis{Crates: rustls, Probes: stripped},
			[]string{"rustls 0.23.26: its connections are encrypted on the wire and give no spans: rustls.take_received_plaintext no symbols (stripped)"},
			"rustls 0.23.26 (blind)"},
		{"openssl shared", &symbols.Analysis{Crates: openssl, Needed: []string{"libc.so.6", "libssl.so.3", "libcrypto.so.3"}},
			[]string{"openssl 0.10.72: plaintext captured where it crosses libssl.so.3 (openssl.ssl_read, openssl.ssl_write)"},
			"openssl 0.10.72"},
		{"openssl static", &symbols.Analysis{Crates: openssl, Needed: []string{"libc.so.6"}, Defines: []string{"SSL_read", "SSL_write"}},
			[]string{"openssl 0.10.72: plaintext captured where it crosses libssl.so, linked into the executable (SSL_read, SSL_write)"},
			"openssl 0.10.72"},
		{"openssl static stripped", &symbols.Analysis{Crates: openssl, Needed: []string{"libc.so.6"}},
			[]string{"openssl 0.10.72: its connections are encrypted on the wire and give no spans: libssl.so is linked statically without its symbols (its functions are not named)"},
			"openssl 0.10.72 (blind)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TLSSight(tc.a); strings.Join(got, "|") != strings.Join(tc.sight, "|") {
				t.Errorf("TLSSight = %q, want %q", got, tc.sight)
			}
			if got := TLSColumn(tc.a); got != tc.column {
				t.Errorf("TLSColumn = %q, want %q", got, tc.column)
			}
			var b bytes.Buffer
			PrintList(&b, []Process{{PID: 7, Analysis: tc.a, Traceable: "full"}})
			blind := strings.Contains(tc.column, "blind")
			if got := strings.Contains(b.String(), "  7: TLS "); got != blind {
				t.Errorf("list says why TLS is blind: %v, want %v:\n%s", got, blind, b.String())
			}
		})
	}
}
