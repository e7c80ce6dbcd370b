package export

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadCertificate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	if _, err := LoadCertificate(bad); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("bad PEM: %v", err)
	}
	if _, err := LoadCertificate(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("missing file: no error")
	}
}

// TestOTLPOptions: the explicit settings, and only those, become options.
func TestOTLPOptions(t *testing.T) {
	opts := func(cfg Config, endpoint string) ([]string, error) {
		return otlpOptions(cfg, endpoint, func(u string) string { return "url " + u },
			func(h map[string]string) string { return fmt.Sprint("headers ", h) },
			func() string { return "insecure" }, func(*tls.Config) string { return "tls" })
	}
	got, err := opts(Config{Headers: map[string]string{"a": "b"}, Insecure: true}, "http://c:4318/v1/metrics")
	if want := []string{"url http://c:4318/v1/metrics", "headers map[a:b]", "insecure"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	if got, err := opts(Config{}, ""); err != nil || len(got) != 0 {
		t.Errorf("nothing explicit: %q, %v", got, err)
	}
	if _, err := opts(Config{Certificate: filepath.Join(t.TempDir(), "missing.pem")}, ""); err == nil {
		t.Error("missing certificate: no error")
	}
}
