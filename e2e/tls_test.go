package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test, and a server
// certificate it signed for 127.0.0.1 and localhost, as PEM files.
type testCA struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rustscope test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCA{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	c.pool.AddCert(ca)
	for path, b := range map[string]*pem.Block{c.caFile: {Type: "CERTIFICATE", Bytes: caDER}, c.certFile: {Type: "CERTIFICATE", Bytes: der},
		c.keyFile: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// tlsServer is a running axum-tls-server: HTTPS at base, and plaintext
// HTTP at plain when asked for.
type tlsServer struct {
	cmd         *exec.Cmd
	base, plain string
}

func startTLSServer(t *testing.T, variant string, ca *testCA, plain bool, env ...string) *tlsServer {
	t.Helper()
	args := []string{"--listen", "127.0.0.1:0", "--cert", ca.certFile, "--key", ca.keyFile}
	if plain {
		args = append(args, "--plain", "127.0.0.1:0")
	}
	cmd := exec.Command(appPath(variant, "axum-tls-server"), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start axum-tls-server: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s := &tlsServer{cmd: cmd}
	r := bufio.NewReader(out)
	for _, want := range []struct {
		prefix string
		into   *string
		scheme string
		on     bool
	}{{"listening on ", &s.base, "https", true}, {"plain listening on ", &s.plain, "http", plain}} {
		if !want.on {
			continue
		}
		line, err := readLineTimeout(r, 10*time.Second)
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), want.prefix)
		if err != nil || !ok {
			t.Fatalf("axum-tls-server: line %q, %v; want %q", line, err, want.prefix)
		}
		*want.into = want.scheme + "://" + addr
	}
	go io.Copy(io.Discard, out)
	renice(t, cmd.Process.Pid, -10)
	return s
}

// TestE2ETLSConnectionsSaid: rustscope does not read TLS plaintext yet, so
// an HTTPS server gives no spans for its TLS connections: it says so
// (once, in the log) and counts them, and the same process's plaintext
// requests still give exactly their spans.
func TestE2ETLSConnectionsSaid(t *testing.T) {
	needE2E(t, "release/axum-tls-server")
	ca := newTestCA(t)
	srv := startTLSServer(t, "release", ca, true)
	rs := attach(t, srv.cmd.Process.Pid)
	const n = 50
	for _, proto := range []string{"h2", "http/1.1"} {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.pool, NextProtos: []string{proto}}, ForceAttemptHTTP2: proto == "h2"}}
		for i := range n {
			resp, err := client.Get(fmt.Sprintf("%s/users/%d", srv.base, i+1))
			if err != nil {
				t.Fatalf("HTTPS request: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Proto != map[string]string{"h2": "HTTP/2.0", "http/1.1": "HTTP/1.1"}[proto] {
				t.Fatalf("HTTPS request: %s %s, want 200 over %s", resp.Proto, resp.Status, proto)
			}
		}
		client.CloseIdleConnections()
	}
	var reqs []request
	for i := range n {
		reqs = append(reqs, request{method: "GET", path: fmt.Sprintf("/users/%d", 1000+i), status: 200})
	}
	send(t, srv.plain, reqs, 4)
	rs.waitSpans(t, n, spanWait)
	spans := rs.stop(t)
	if len(spans) != n {
		t.Errorf("%d spans, want the %d plaintext requests' alone", len(spans), n)
	}
	for _, s := range spans {
		id, _ := strconv.Atoi(strings.TrimPrefix(s.attr("url.path"), "/users/"))
		if id < 1000 || s.attr("url.scheme") != "http" {
			t.Errorf("span of %s %s: want only the plaintext requests (ids from 1000)", s.attr("url.scheme"), s.attr("url.path"))
		}
	}
	stderr := rs.stderr.String()
	if !strings.Contains(stderr, "TLS (rustls 0.23.26): its connections are encrypted on the wire and give no spans") {
		t.Errorf("the attached line does not say what TLS hides; stderr:\n%s", stderr)
	}
	if strings.Count(stderr, "TLS connections seen") != 1 {
		t.Errorf("want the log to say once that TLS connections give no spans; stderr:\n%s", stderr)
	}
	tlsConns := -1
	if m := regexp.MustCompile(`msg=stopped .*\btls_conns=(\d+)`).FindStringSubmatch(stderr); m != nil {
		tlsConns, _ = strconv.Atoi(m[1])
	}
	if tlsConns < 2 {
		t.Errorf("stop line's tls_conns %d, want the 2 or more TLS connections made; stderr:\n%s", tlsConns, stderr)
	}
}
