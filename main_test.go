package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rustscope/rustscope/config"
	"github.com/rustscope/rustscope/process"
)

// TestRunExitCodes: invalid configuration exits 2 with one line naming the
// variable; --help exits 0 and lists every variable.
func TestRunExitCodes(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
	var stderr strings.Builder
	if code := run([]string{"--headless"}, io.Discard, &stderr); code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if s := stderr.String(); strings.Count(s, "\n") != 1 || !strings.Contains(s, "OTEL_EXPORTER_OTLP_PROTOCOL") {
		t.Errorf("want one line naming the variable, got %q", s)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "")
	stderr.Reset()
	if code := run([]string{"--headless"}, io.Discard, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "no target") {
		t.Errorf("no target: exit %d, %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"--help"}, io.Discard, &stderr); code != exitOK {
		t.Errorf("--help: exit %d", code)
	}
	for _, s := range config.Settings {
		if s.Flag != "" && !strings.Contains(stderr.String(), "  -"+s.Flag+" ") && !strings.Contains(stderr.String(), "  -"+s.Flag+"\n") ||
			!strings.Contains(stderr.String(), s.Env) {
			t.Errorf("--help does not list --%s / %s", s.Flag, s.Env)
		}
	}
}

// TestRunConfigFileError: run exits 2 with one line naming the file and
// the line, before anything needs root.
func TestRunConfigFileError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(path, []byte("headless = true\n[[target]]\ncrate = \"axum\"\ntargts = 1\n"), 0o600)
	t.Setenv("RUSTSCOPE_CONFIG", path)
	var stderr strings.Builder
	code := run(nil, io.Discard, &stderr)
	want := fmt.Sprintf("rustscope: config %s:4: unknown key \"target.targts\"\n", path)
	if code != exitUsage || stderr.String() != want {
		t.Errorf("exit %d, stderr %q; want %d, %q", code, stderr.String(), exitUsage, want)
	}
}

// TestSelectorFromConfig: the configuration file's targets, and all =
// true, become the watcher's targets in order.
func TestSelectorFromConfig(t *testing.T) {
	cfg := config.Config{All: true, Targets: []config.Target{
		{Exe: "/srv/checkout/bin/checkout", ServiceName: "checkout"},
		{Exe: "/srv/*/bin/worker", Cmdline: "--queue[= ]payments", ServiceName: "payments-worker"},
		{Crate: "tonic", Container: &config.Container{Other: true}},
		{Container: &config.Container{ID: "3f2a9c0d"}, ServiceName: "legacy-api"},
		{Crate: "axum", Container: &config.Container{}},
	}}
	var got []string
	for _, tg := range targets(cfg) {
		got = append(got, tg.String()+" => "+tg.ServiceName)
	}
	want := []string{
		"processes running /srv/checkout/bin/checkout => checkout",
		`processes running /srv/*/bin/worker with a command line matching "--queue[= ]payments" => payments-worker`,
		"Rust processes using tonic in a container => ",
		"Rust processes using axum, hyper, h2, tonic or reqwest in container 3f2a9c0d => legacy-api",
		"Rust processes using axum outside containers => ",
		"Rust processes using axum, hyper, h2, tonic or reqwest => ", // all = true
	}
	if !slices.Equal(got, want) {
		t.Errorf("targets:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	sel, err := process.NewSelector(targets(config.Config{Exe: "/srv/a", ExeSrc: "--exe"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := sel.String(); s != "processes running /srv/a" {
		t.Errorf("--exe: %q", s)
	}
}
