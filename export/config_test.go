package export

import (
	"os"
	"path/filepath"
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
