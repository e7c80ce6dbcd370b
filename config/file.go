package config

// The configuration file (docs/configuration.md, "Configuration file"):
// TOML with the keys of Settings, plus [[target]] tables. Every error
// names the file and the line.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
	"go.opentelemetry.io/otel/attribute"
)

// file is a read and checked configuration file.
type file struct {
	path  string
	lines map[string]int // key path ("export.endpoint", "target[1].exe") -> line
	// values are the keys of Settings the file sets, by key, as Go values
	// of their Kind: string, bool, int, float64, []string,
	// map[string]string, or any.
	values  map[string]any
	tables  []map[string]any // the [[target]] tables, keyed as values
	targets []Target         // tables, checked
	attrs   []attribute.KeyValue
}

// loadFile reads the file --config or RUSTSCOPE_CONFIG names, else the
// default one if it exists. --config= reads none.
func (p *parser) loadFile() (*file, error) {
	v, named := p.lookup("config")
	if !named {
		return readFile(defaultPath, true)
	}
	if v.text == "" {
		return nil, nil
	}
	f, err := readFile(v.text, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, v.bad("no such file")
	}
	return f, err
}

// readFile reads and checks the file at path. A missing file is
// (nil, nil) when missingOK.
func readFile(path string, missingOK bool) (*file, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && missingOK {
			return nil, nil
		}
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	f := &file{path: path, lines: keyLines(b)}
	var doc map[string]any
	if err := toml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		return nil, f.decodeError(err)
	}
	if err := f.load(doc); err != nil {
		return nil, err
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	return f, nil
}

// value is the file's value of key, if it sets it.
func (f *file) value(key string) (value, bool) {
	if f == nil || key == "" {
		return value{}, false
	}
	raw, ok := f.values[key]
	if !ok {
		return value{}, false
	}
	return value{text: flagText(raw), raw: raw, src: f.src(key), origin: fromFile}, true
}

// flagText spells a file's value as the flag of its setting takes it. An
// empty list is "none", as the OTEL_* list variables spell it.
func flagText(raw any) string {
	switch v := raw.(type) {
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case []string:
		if len(v) == 0 {
			return "none"
		}
		return strings.Join(v, ",")
	case string:
		return v
	}
	return ""
}

// decodeError turns the TOML library's error into one line naming the file,
// the line and the key.
func (f *file) decodeError(err error) error {
	if de, ok := errors.AsType[*toml.DecodeError](err); ok {
		row, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if k := de.Key(); len(k) > 0 {
			msg = strings.Join(k, ".") + ": " + msg
		}
		return fmt.Errorf("config %s:%d: %s", f.path, row, msg)
	}
	return fmt.Errorf("config %s: %w", f.path, err)
}

// keyProblem is a key of the file that is unknown, or whose value is of
// the wrong type.
type keyProblem struct {
	at      string // the key, indexed: "target[1].exe"
	unknown bool
	msg     string
}

// load takes the keys of doc, checking each against its Setting. The
// first value of the wrong type in the file is the error, else the first
// unknown key (a misspelt key must not silently do nothing).
func (f *file) load(doc map[string]any) error {
	f.values = map[string]any{}
	var probs []keyProblem
	for _, k := range slices.Sorted(maps.Keys(doc)) {
		if k == targetTables {
			f.loadTargets(doc[k], &probs)
			continue
		}
		f.take(f.values, k, k, doc[k], &probs)
	}
	if len(probs) == 0 {
		return nil
	}
	first := slices.MinFunc(probs, func(a, b keyProblem) int {
		if a.unknown != b.unknown {
			return cmpBool(a.unknown, b.unknown)
		}
		if la, lb := f.line(a.at), f.line(b.at); la != lb {
			return la - lb
		}
		return strings.Compare(a.at, b.at)
	})
	if first.unknown {
		return fmt.Errorf("config %s:%d: unknown key %q", f.path, f.line(first.at), displayKey(first.at))
	}
	return fmt.Errorf("config %s:%d: %s", f.path, f.line(first.at), first.msg)
}

func cmpBool(a, b bool) int {
	if a == b {
		return 0
	}
	if a {
		return 1
	}
	return -1
}

// take puts v, the value of key (at: key indexed), into dst when it is a
// key of Settings of the right type; it descends into tables of such keys.
func (f *file) take(dst map[string]any, key, at string, v any, probs *[]keyProblem) {
	wrong := func(at, want string, v any) {
		*probs = append(*probs, keyProblem{at: at, msg: fmt.Sprintf("%s: want %s, not %s", displayKey(at), want, tomlType(v))})
	}
	s := settingByKey(key)
	if s == nil {
		if !slices.ContainsFunc(Settings, func(s Setting) bool { return strings.HasPrefix(s.Key, key+".") }) {
			*probs = append(*probs, keyProblem{at: at, unknown: true})
			return
		}
		m, ok := v.(map[string]any)
		if !ok {
			wrong(at, "a table", v)
			return
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			f.take(dst, key+"."+k, at+"."+k, m[k], probs)
		}
		return
	}
	switch s.Kind {
	case String:
		if _, ok := v.(string); !ok {
			wrong(at, s.Kind.want(), v)
			return
		}
	case Bool:
		if _, ok := v.(bool); !ok {
			wrong(at, s.Kind.want(), v)
			return
		}
	case Int:
		n, ok := v.(int64)
		if !ok || int64(int(n)) != n {
			wrong(at, s.Kind.want(), v)
			return
		}
		v = int(n)
	case Number:
		switch n := v.(type) {
		case int64:
			v = float64(n)
		case float64:
		default:
			wrong(at, s.Kind.want(), v)
			return
		}
	case List:
		l, ok := v.([]any)
		if !ok {
			wrong(at, s.Kind.want(), v)
			return
		}
		strs := make([]string, len(l))
		for i, e := range l {
			if strs[i], ok = e.(string); !ok {
				wrong(at, "a string", e)
				return
			}
		}
		v = strs
	case Table:
		m, ok := v.(map[string]any)
		if !ok {
			wrong(at, s.Kind.want(), v)
			return
		}
		strs := make(map[string]string, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if strs[k], ok = m[k].(string); !ok {
				wrong(at+"."+k, "a string", m[k])
				return
			}
		}
		v = strs
	}
	dst[key] = v
}

// loadTargets takes the [[target]] tables.
func (f *file) loadTargets(v any, probs *[]keyProblem) {
	l, ok := v.([]any)
	if !ok {
		*probs = append(*probs, keyProblem{at: targetTables, msg: targetTables + ": want [[target]] tables, not " + tomlType(v)})
		return
	}
	for i, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			*probs = append(*probs, keyProblem{at: targetTables, msg: targetTables + ": want a table, not " + tomlType(e)})
			continue
		}
		t := map[string]any{}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			f.take(t, targetTables+"."+k, fmt.Sprintf("%s[%d].%s", targetTables, i, k), m[k], probs)
		}
		f.tables = append(f.tables, t)
	}
}

// tomlType names the TOML type of a decoded value, for errors.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a datetime"
	case toml.LocalDateTime:
		return "a local datetime"
	case toml.LocalDate:
		return "a local date"
	case toml.LocalTime:
		return "a local time"
	}
	return fmt.Sprintf("%T", v)
}

// keyLines maps every key of doc to its line. A key in an array of tables
// is indexed: "target[0].exe".
func keyLines(doc []byte) map[string]int {
	lines := map[string]int{}
	var p unstable.Parser
	p.Reset(doc)
	arrays := map[string]int{}
	prefix := ""
	for p.NextExpression() {
		e := p.Expression()
		it := e.Key()
		var parts []string
		line := 0
		for it.Next() {
			n := it.Node()
			parts = append(parts, string(n.Data))
			if line == 0 {
				line = p.Shape(n.Raw).Start.Line
			}
		}
		k := strings.Join(parts, ".")
		switch e.Kind {
		case unstable.Table:
			prefix = k
		case unstable.ArrayTable:
			n := arrays[k]
			arrays[k] = n + 1
			k = fmt.Sprintf("%s[%d]", k, n)
			prefix = k
		case unstable.KeyValue:
			if prefix != "" {
				k = prefix + "." + k
			}
		default:
			continue
		}
		lines[k] = line
	}
	return lines
}

// line is the line of key, or of the nearest enclosing key that has one
// (a key inside an inline table).
func (f *file) line(key string) int {
	for key != "" {
		if l, ok := f.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

// src names key for messages: "config FILE:LINE: key".
func (f *file) src(key string) string {
	return fmt.Sprintf("config %s:%d: %s", f.path, f.line(key), displayKey(key))
}

// errorf is an error about key.
func (f *file) errorf(key, format string, args ...any) error {
	return fmt.Errorf("%s: %s", f.src(key), fmt.Sprintf(format, args...))
}

// bad is an error about key's value v, spelt as value.bad's are.
func (f *file) bad(key, v, why string) error {
	return fmt.Errorf("%s %q: %s", f.src(key), v, why)
}

// displayKey drops array indexes: the line tells which table.
func displayKey(key string) string {
	return arrayIndex.ReplaceAllString(key, "")
}

var arrayIndex = regexp.MustCompile(`\[\d+\]`)
