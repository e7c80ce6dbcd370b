package axum

import (
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"
)

func TestMatch(t *testing.T) {
	tpls := []string{
		"/health", "/users/:id", "/users/new", "/users/:id/posts/:post",
		"/files/*path", "/files/readme", "/api/v1/items/{id}", "/assets/{*rest}",
		"/", "/svc/*" + nestTailParam,
	}
	tab := newTable(slices.Clone(tpls))
	for _, tc := range []struct {
		path, want string
		ok         bool
	}{
		{"/health", "/health", true},
		{"/users/42", "/users/:id", true},
		{"/users/new", "/users/new", true},   // static beats parameter
		{"/users/newer", "/users/:id", true}, // backtracks from the static prefix
		{"/users/42/posts/7", "/users/:id/posts/:post", true},
		{"/users/", "", false}, // parameters are never empty
		{"/users/42/", "", false},
		{"/files/a/b/c", "/files/*path", true},
		{"/files/readme", "/files/readme", true},
		{"/files/", "", false},
		{"/api/v1/items/9", "/api/v1/items/{id}", true},
		{"/assets/x.css", "/assets/{*rest}", true},
		{"/", "/", true},
		{"/svc/inner/path", "/svc/*", true},
		{"/nope", "", false},
		{"", "", false},
	} {
		got, ok := tab.Match(tc.path)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Match(%q) = %q, %v; want %q, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
	if !tab.Nests || tab.Fallback {
		t.Errorf("router with a nested service: Nests %v, Fallback %v; want true, false", tab.Nests, tab.Fallback)
	}
	fb := newTable([]string{"/", "/*" + fallbackParam})
	if !fb.Fallback || fb.Nests {
		t.Fatalf("fallback router: Fallback %v, Nests %v; want true, false", fb.Fallback, fb.Nests)
	}
	if got, ok := fb.Match("/anything"); ok {
		t.Errorf("fallback router matched %q", got)
	}
}

// memory is a sparse fake of a process's address space.
type memory map[uint64][]byte

func (m memory) ReadAt(p []byte, off int64) (int, error) {
	for base, b := range m {
		if uint64(off) >= base && uint64(off)+uint64(len(p)) <= base+uint64(len(b)) {
			return copy(p, b[uint64(off)-base:]), nil
		}
	}
	return 0, io.EOF
}

// layout describes how the fake process lays out axum's Node.
type layout struct {
	ctrlFirst bool // RawTableInner as (ctrl, mask, ...) rather than (mask, ctrl, ...)
	arcAt     int  // offset of the Arc<str> in a bucket: 0 or 8
	tableAt   int  // offset of the RawTableInner in the Node
}

// fakeProcess builds a Node at 0x10000000 whose route map holds tpls.
func fakeProcess(tpls []string, l layout) (memory, uint64) {
	const node, heap, strs = 0x10000000, 0x20000000, 0x30000000
	mem := memory{}
	buckets := uint64(8)
	for buckets/8*7 < uint64(len(tpls)) || buckets-1 < uint64(len(tpls)) {
		buckets *= 2
	}
	data := make([]byte, buckets*elemSize+buckets+groupWidth)
	ctrl := heap + buckets*elemSize
	ctrlBytes := data[buckets*elemSize:]
	for i := range ctrlBytes {
		ctrlBytes[i] = 0xff // EMPTY
	}
	next := uint64(strs)
	for i, s := range tpls {
		slot := uint64(i * 3 % int(buckets)) // spread over the table
		for ctrlBytes[slot] != 0xff {
			slot = (slot + 1) % buckets
		}
		ctrlBytes[slot] = 0x12 // a full slot's hash bits
		arc := make([]byte, arcHeader+len(s))
		binary.LittleEndian.PutUint64(arc, 1)
		binary.LittleEndian.PutUint64(arc[8:], 1)
		copy(arc[arcHeader:], s)
		mem[next] = arc
		e := data[(buckets-1-slot)*elemSize:][:elemSize]
		binary.LittleEndian.PutUint64(e[l.arcAt:], next)
		binary.LittleEndian.PutUint64(e[l.arcAt+8:], uint64(len(s)))
		binary.LittleEndian.PutUint32(e[(l.arcAt+16)%24:], uint32(i)) // RouteId
		next += 0x1000
	}
	mem[heap] = data
	n := make([]byte, 300)
	for i := 0; i+8 <= l.tableAt; i += 8 { // the matchit tree: pointers and lengths
		binary.LittleEndian.PutUint64(n[i:], uint64(0x40000000+i*8))
	}
	w := []uint64{buckets - 1, ctrl, buckets/8*7 - uint64(len(tpls)), uint64(len(tpls))}
	if buckets-1 < 8 {
		w[2] = buckets - 1 - uint64(len(tpls))
	}
	if l.ctrlFirst {
		w[0], w[1] = w[1], w[0]
	}
	for i, v := range w {
		binary.LittleEndian.PutUint64(n[l.tableAt+8*i:], v)
	}
	mem[node] = n
	return mem, node
}

func TestRead(t *testing.T) {
	tpls := []string{"/health", "/users/:id", "/echo", "/api/v1/items/:id", "/api/v1/orders", "/slow", "/big", "/chunked", "/status/:code"}
	for _, l := range []layout{
		{ctrlFirst: false, arcAt: 0, tableAt: 96},
		{ctrlFirst: true, arcAt: 8, tableAt: 144},
		{ctrlFirst: false, arcAt: 8, tableAt: 0},
	} {
		mem, node := fakeProcess(tpls, l)
		tab, err := Read(mem, node)
		if err != nil {
			t.Fatalf("%+v: %v", l, err)
		}
		want := slices.Sorted(slices.Values(tpls))
		if !slices.Equal(tab.Templates, want) {
			t.Errorf("%+v: templates %q, want %q", l, tab.Templates, want)
		}
		if r, _ := tab.Match("/users/7"); r != "/users/:id" {
			t.Errorf("%+v: /users/7 matched %q", l, r)
		}
	}
}

func TestReadRefuses(t *testing.T) {
	for name, mutate := range map[string]func(memory, uint64){
		"not a node": func(m memory, node uint64) {
			m[node] = make([]byte, 300)
		},
		"unreadable node": func(m memory, node uint64) {
			delete(m, node)
		},
		"arc count zero": func(m memory, _ uint64) {
			for base, b := range m {
				if base >= 0x30000000 {
					binary.LittleEndian.PutUint64(b, 0)
				}
			}
		},
		"not a path": func(m memory, _ uint64) {
			for base, b := range m {
				if base >= 0x30000000 {
					b[arcHeader] = 'x'
				}
			}
		},
	} {
		mem, node := fakeProcess([]string{"/a", "/b/:id"}, layout{tableAt: 48})
		mutate(mem, node)
		if tab, err := Read(mem, node); !errors.Is(err, ErrNoTable) {
			t.Errorf("%s: Read = %v, %v; want ErrNoTable", name, tab, err)
		}
	}
}

func FuzzRead(f *testing.F) {
	mem, node := fakeProcess([]string{"/a", "/b/:id"}, layout{tableAt: 48})
	f.Add(mem[node], mem[0x20000000])
	f.Fuzz(func(t *testing.T, nodeBytes, heapBytes []byte) {
		m := memory{0x10000000: nodeBytes, 0x20000000: heapBytes}
		for base, b := range mem {
			if base >= 0x30000000 {
				m[base] = b
			}
		}
		tab, err := Read(m, 0x10000000)
		if err == nil {
			for _, s := range tab.Templates {
				if s == "" || s[0] != '/' {
					t.Fatalf("template %q", s)
				}
			}
		}
	})
}

func FuzzMatch(f *testing.F) {
	f.Add("/users/:id", "/users/42")
	f.Add("/files/{*rest}", "/files/a/b")
	f.Fuzz(func(t *testing.T, tpl, path string) {
		tab := newTable([]string{tpl, "/static"})
		if got, ok := tab.Match(path); ok && got == "" {
			t.Fatal("matched an empty route")
		}
	})
}
