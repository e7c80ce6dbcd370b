//go:build linux

package e2e

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// startTonicTLS starts tonic-tls-server (variant) with ca's certificate:
// its address, https://127.0.0.1:port.
func startTonicTLS(t *testing.T, variant string, ca *testCA) *server {
	t.Helper()
	cmd := exec.Command(appPath(variant, "tonic-tls-server"), "--listen", "127.0.0.1:0", "--cert", ca.certFile, "--key", ca.keyFile)
	addr := startListener(t, variant+"/tonic-tls-server", cmd)
	renice(t, cmd.Process.Pid, -10)
	_, p, _ := strings.Cut(addr, ":")
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("tonic-tls-server address %q", addr)
	}
	return &server{cmd: cmd, base: "https://" + addr, port: port}
}

// checkTLSGRPC: every span of a gRPC mix over TLS is the mix's, with what
// every gRPC span carries and the TLS it came over.
func checkTLSGRPC(t *testing.T, spans []jsonSpan, n, kind, port int) {
	t.Helper()
	matchMultiset(t, "gRPC spans over TLS", grpcMixKeys(n), spans, grpcSpanKey)
	checkGRPCSpans(t, spans, kind, port)
	for _, s := range spans {
		if d := s.attrDiffs(map[string]string{"tls.protocol.name": "tls", "tls.protocol.version": "1.3"}); len(d) > 0 {
			t.Errorf("span %s: %s", s, strings.Join(d, "; "))
		}
	}
}

// TestE2ETLSGRPCServer: the tonic server over TLS (tonic's rustls) of each
// build, traced, sees exactly one correct span per RPC of a 300-RPC mix at
// concurrency 16 over one connection (unary OK, NOT_FOUND, INTERNAL, a
// server stream, 1 MiB messages both ways), as over plaintext: release,
// fat LTO, rustc 1.85, stripped with its debug file.
func TestE2ETLSGRPCServer(t *testing.T) {
	needE2E(t, "release/tonic-tls-client")
	ca := newTestCA(t)
	for _, variant := range []string{"release", "release-lto", "release-rustc185", "release-split"} {
		t.Run(variant, func(t *testing.T) {
			needE2E(t, variant+"/tonic-tls-server")
			srv := startTonicTLS(t, variant, ca)
			rs := attach(t, srv.pid())
			const n = 300
			cl := startWaitClient(t, "release", "tonic-tls-client", "--ca", ca.caFile, "--addr", srv.base, "--count", strconv.Itoa(n), "--concurrency", "16", "--mix")
			summary := cl.run(t)
			cl.finish(t)
			if !strings.Contains(summary, "unexpected=0") {
				t.Fatalf("client: %s", summary)
			}
			rs.waitSpans(t, n, spanWait)
			spans := rs.stop(t)
			checkTLSGRPC(t, spans, n, kindServer, srv.port)
		})
	}
}

// TestE2ETLSGRPCClient: the tonic client over TLS of each build, traced,
// sees one client span per RPC of the same mix.
func TestE2ETLSGRPCClient(t *testing.T) {
	needE2E(t, "release/tonic-tls-server")
	ca := newTestCA(t)
	srv := startTonicTLS(t, "release", ca)
	for _, variant := range []string{"release", "release-lto", "release-rustc185", "release-split"} {
		t.Run(variant, func(t *testing.T) {
			needE2E(t, variant+"/tonic-tls-client")
			const n = 300
			cl := startWaitClient(t, variant, "tonic-tls-client", "--ca", ca.caFile, "--addr", srv.base, "--count", strconv.Itoa(n), "--concurrency", "16", "--mix")
			rs := attach(t, cl.cmd.Process.Pid)
			summary := cl.run(t)
			if !strings.Contains(summary, "unexpected=0") {
				t.Fatalf("client: %s", summary)
			}
			rs.waitSpans(t, n, spanWait)
			spans := rs.stop(t)
			cl.finish(t)
			checkTLSGRPC(t, spans, n, kindClient, srv.port)
		})
	}
}
