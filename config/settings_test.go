package config

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The settings that lack a mapping on purpose; any other row must have
// a flag, an environment variable and a key in the file.
var (
	noFileKey = map[string]string{
		"pid":        "a process ID changes at every start: the file has [[target]]",
		"exe":        "the file has [[target]] exe",
		"config":     "the file cannot name itself",
		"cpuprofile": "performance work, not configuration",
	}
	noEnv = map[string]string{ // the OTEL specification has no variable for these; nor has rustscope
		"all": "", "headless": "", "wire-only": "", "log-file": "", "cpuprofile": "", "buffer": "", "capture-bytes": "", "link-budget": "",
	}
	noFlag = map[string]string{
		"buffers.ring_bytes": "sized once for a host, in the file",
	}
)

// TestSettingsTable: every row has the flag, variable and key it should
// (or is listed above as lacking one), and none is declared twice.
func TestSettingsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Settings {
		name := "--" + s.Flag
		if s.Flag == "" {
			name = s.Key
		}
		for _, id := range []string{"--" + s.Flag, s.Env, s.TracesEnv, s.Key} {
			if id != "--" && id != "" && seen[id] {
				t.Errorf("%s: %s declared twice", name, id)
			}
			seen[id] = true
		}
		target := strings.HasPrefix(s.Key, targetTables+".")
		switch {
		case s.Flag == "" && s.Key == "":
			t.Errorf("a row with neither flag nor key: %+v", s)
		case s.Flag != "" && s.Usage == "":
			t.Errorf("%s: no --help line", name)
		case s.Flag == "" && s.Usage != "":
			t.Errorf("%s: a --help line but no flag", name)
		case s.Flag == "" && !target && noFlag[s.Key] == "":
			t.Errorf("%s: no flag", name)
		case s.Flag != "" && target:
			t.Errorf("%s: a [[target]] key with a flag", name)
		case s.Flag != "" && s.Key == "" && noFileKey[s.Flag] == "":
			t.Errorf("%s: no key in the configuration file", name)
		case s.Flag != "" && s.Env == "" && !hasKey(noEnv, s.Flag):
			t.Errorf("%s: no environment variable", name)
		case s.Env == "" && s.TracesEnv != "":
			t.Errorf("%s: a TRACES_ variable but no variable", name)
		case s.Kind == Int && s.Flag != "" && !isInt(s.Default):
			t.Errorf("%s: default %q is not an integer", name, s.Default)
		case s.Kind == Any && !target:
			t.Errorf("%s: only [[target]] keys are checked where they are used", name)
		}
	}
	for _, m := range []map[string]string{noFileKey, noEnv} {
		for flag := range m {
			if !slices.ContainsFunc(Settings, func(s Setting) bool { return s.Flag == flag }) {
				t.Errorf("--%s is listed as an exception but is no setting", flag)
			}
		}
	}
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

func isInt(s string) bool { _, err := strconv.Atoi(s); return err == nil }

// docType is how docs/configuration.md's tables spell a kind.
var docType = map[Kind]string{String: "string", Bool: "bool", Int: "integer", Number: "number",
	List: "list of strings", Table: "table of strings", Any: "bool or string"}

// keyRow is a row of docs/configuration.md's key tables: key, type, then
// (Keys) default, flag and variable, or (Targets) meaning.
var keyRow = regexp.MustCompile("(?m)^\\| `([a-z_.]+)` \\| (" + strings.Join([]string{"bool or string", "bool", "string", "integer", "number",
	"list of strings", "table of strings"}, "|") + ") \\|(.*)\\|$")

// TestSettingsDocumented: every setting is in docs/configuration.md (its
// key in the key tables with its type, flag and variable; its flag and
// variables in the text) and every flag in README's flag table with its
// variable; the tables document no key that does not exist.
func TestSettingsDocumented(t *testing.T) {
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	doc, readme := read("../docs/configuration.md"), read("../README.md")
	rows := map[string][]string{} // key -> type, other columns
	for _, m := range keyRow.FindAllStringSubmatch(doc, -1) {
		rows[m[1]] = append([]string{m[2]}, strings.Split(m[3], "|")...)
		if settingByKey(m[1]) == nil {
			t.Errorf("docs/configuration.md documents key %s, which is no setting", m[1])
		}
	}
	code := func(s string) string {
		if s == "" {
			return ""
		}
		return "`" + s + "`"
	}
	for _, s := range Settings {
		if s.Key != "" {
			r, ok := rows[s.Key]
			switch {
			case !ok:
				t.Errorf("key %s is not in docs/configuration.md's tables (| `%s` | type | ...)", s.Key, s.Key)
			case r[0] != docType[s.Kind]:
				t.Errorf("docs/configuration.md: key %s is a %s, the table says %s", s.Key, docType[s.Kind], r[0])
			case strings.HasPrefix(s.Key, targetTables+"."):
			case len(r) != 4 || strings.TrimSpace(r[2]) != code(flagName(s.Flag)) || strings.TrimSpace(r[3]) != code(s.Env):
				t.Errorf("docs/configuration.md: key %s: want flag %q and variable %q in its row, got %q", s.Key, code(flagName(s.Flag)), code(s.Env), r[1:])
			}
		}
		for _, name := range []string{flagName(s.Flag), s.Env, s.TracesEnv} {
			// The tables spell a TRACES_ variable short: `_TRACES_HEADERS`.
			short := "`_" + strings.TrimPrefix(name, "OTEL_EXPORTER_OTLP_")
			if name != "" && !strings.Contains(doc, "`"+name) && (name != s.TracesEnv || !strings.Contains(doc, short)) {
				t.Errorf("%s is not in docs/configuration.md", name)
			}
		}
		if s.Flag == "" {
			continue
		}
		row := regexp.MustCompile("(?m)^\\| `--" + regexp.QuoteMeta(s.Flag) + "[ `].*$").FindString(readme)
		switch {
		case row == "":
			t.Errorf("--%s is not in README's flag table", s.Flag)
		case s.Env != "" && !strings.Contains(row, "| `"+s.Env):
			t.Errorf("README's row of --%s does not name %s: %s", s.Flag, s.Env, row)
		}
	}
}

func flagName(flag string) string {
	if flag == "" {
		return ""
	}
	return "--" + flag
}
