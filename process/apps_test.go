package process

import (
	"os"
	"path/filepath"
	"testing"
)

// appPath is a Rust test app (testapps/bin/<variant>/<app>, built by `make
// testapps`). A missing one skips the test, except with CI=true, where it
// fails.
func appPath(t testing.TB, variant, app string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "testapps", "bin", variant, app))
	if err == nil {
		_, err = os.Stat(p)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("test app %s missing with CI=true: %v (run make testapps)", p, err)
		}
		t.Skipf("test app %s missing: run make testapps", p)
	}
	return p
}
