// Route tables: an axum router's route templates read out of a running
// process, matched against request paths the way axum does (match.go).
//
// axum keeps, beside its matchit tree, a map from route id to the template
// each route was registered with (`route_id_to_path: HashMap<RouteId,
// Arc<str>>`, and its inverse). A uprobe on `path_router::Node::at` gives
// the address of that Node; Read finds the maps in it, walks their
// hashbrown tables and returns the templates. Nothing is assumed about the
// Node's field order: every candidate table is validated (power-of-two
// bucket mask, control bytes counting exactly `items` full slots, every
// slot an Arc<str> whose counts are sane and whose text is a UTF-8 path),
// and a Node without such a table is refused with the reason.

package axum

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits on what is believed about a table in memory.
const (
	nodeBytes   = 512     // bytes of the Node scanned for the maps
	maxBuckets  = 1 << 16 // larger route tables are not plausible
	maxTemplate = 4096    // longest template read
	elemSize    = 24      // (RouteId, Arc<str>) or (Arc<str>, RouteId)
	arcHeader   = 16      // ArcInner: strong, weak, then the str
	groupWidth  = 16      // hashbrown's SSE2 group: trailing control bytes
)

// Internal templates axum registers for its own plumbing.
const (
	fallbackParam = "__private__axum_fallback"
	nestTailParam = "__private__axum_nest_tail_param"
)

// Table is the set of route templates of one axum path router.
type Table struct {
	Templates []string // sorted
	// Fallback marks axum's fallback router ("/" and "/*__private__axum_fallback"):
	// its matches are not routes.
	Fallback bool
	// Nests says a template is a nested service's catch-all: the service
	// looks the rest of the path up itself.
	Nests  bool
	routes []route
}

// ErrNoTable says the memory at the address does not hold a route map
// rustscope recognises (another axum layout, or not an axum Node).
var ErrNoTable = errors.New("no axum route map found")

// Read finds the route map of the axum path_router::Node at node in mem
// (a process's memory, as /proc/PID/mem).
func Read(mem io.ReaderAt, node uint64) (*Table, error) {
	buf := readPartial(mem, node, nodeBytes)
	if len(buf) < 32 {
		return nil, fmt.Errorf("read axum node at %#x: %w", node, ErrNoTable)
	}
	var lastErr error
	for off := 0; off+32 <= len(buf); off += 8 {
		w := [4]uint64{}
		for i := range w {
			w[i] = binary.LittleEndian.Uint64(buf[off+8*i:])
		}
		// hashbrown's RawTableInner is four words: bucket_mask, ctrl,
		// growth_left, items; rustc may move the NonNull ctrl first.
		for _, order := range [][4]int{{0, 1, 2, 3}, {1, 0, 2, 3}} {
			mask, ctrl, growth, items := w[order[0]], w[order[1]], w[order[2]], w[order[3]]
			if !plausibleTable(mask, ctrl, growth, items) {
				continue
			}
			tpls, err := readTable(mem, mask, ctrl, items)
			if err != nil {
				lastErr = err
				continue
			}
			return newTable(tpls), nil
		}
	}
	if lastErr != nil {
		return nil, fmt.Errorf("read axum node at %#x: %w (%v)", node, ErrNoTable, lastErr)
	}
	return nil, fmt.Errorf("read axum node at %#x: %w", node, ErrNoTable)
}

// readPartial reads up to n bytes at addr, fewer when the mapping ends.
func readPartial(mem io.ReaderAt, addr uint64, n int) []byte {
	buf := make([]byte, n)
	for n > 0 {
		m, _ := mem.ReadAt(buf[:n], int64(addr))
		if m > 0 {
			return buf[:m]
		}
		n /= 2 // crossed into an unmapped page: try less
	}
	return nil
}

func plausibleTable(mask, ctrl, growth, items uint64) bool {
	if mask < 3 || mask >= maxBuckets || mask&(mask+1) != 0 {
		return false
	}
	if ctrl < 0x10000 || ctrl >= 1<<47 || ctrl%groupWidth != 0 {
		return false
	}
	capacity := mask
	if mask >= 8 {
		capacity = (mask + 1) / 8 * 7
	}
	return items >= 1 && items <= capacity && growth <= capacity-items
}

// readTable walks the buckets of a hashbrown table whose elements hold one
// Arc<str> each; the buckets lie below ctrl, bucket i at ctrl-(i+1)*24.
func readTable(mem io.ReaderAt, mask, ctrl, items uint64) ([]string, error) {
	n := mask + 1
	ctrlBytes := make([]byte, n)
	if _, err := mem.ReadAt(ctrlBytes, int64(ctrl)); err != nil {
		return nil, fmt.Errorf("read control bytes: %w", err)
	}
	var full []uint64
	for i, c := range ctrlBytes {
		if c&0x80 == 0 {
			full = append(full, uint64(i))
		}
	}
	if uint64(len(full)) != items {
		return nil, fmt.Errorf("%d full buckets, table says %d", len(full), items)
	}
	data := make([]byte, n*elemSize)
	if _, err := mem.ReadAt(data, int64(ctrl-n*elemSize)); err != nil {
		return nil, fmt.Errorf("read buckets: %w", err)
	}
	// The Arc<str> (pointer, length) sits at offset 0 or 8 of the element;
	// the layout must be the same in every bucket.
	for _, at := range []int{0, 8} {
		var out []string
		for _, i := range full {
			e := data[(n-1-i)*elemSize:][:elemSize]
			s, err := readArcStr(mem, binary.LittleEndian.Uint64(e[at:]), binary.LittleEndian.Uint64(e[at+8:]))
			if err != nil {
				out = nil
				break
			}
			out = append(out, s)
		}
		if out != nil {
			return out, nil
		}
	}
	return nil, errors.New("buckets do not hold Arc<str> route templates")
}

func readArcStr(mem io.ReaderAt, ptr, n uint64) (string, error) {
	if ptr < 0x10000 || ptr >= 1<<47 || ptr%8 != 0 || n == 0 || n > maxTemplate {
		return "", errors.New("not an Arc<str>")
	}
	b := make([]byte, arcHeader+n)
	if _, err := mem.ReadAt(b, int64(ptr)); err != nil {
		return "", err
	}
	strong, weak := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	if strong == 0 || strong > 1<<32 || weak == 0 || weak > 1<<32 {
		return "", errors.New("implausible Arc counts")
	}
	s := b[arcHeader:]
	if s[0] != '/' || !utf8.Valid(s) {
		return "", errors.New("not a path template")
	}
	return string(s), nil
}

func newTable(tpls []string) *Table {
	slices.Sort(tpls)
	t := &Table{Templates: tpls}
	for _, s := range tpls {
		t.Fallback = t.Fallback || strings.Contains(s, fallbackParam)
		t.Nests = t.Nests || strings.Contains(s, nestTailParam)
		t.routes = append(t.routes, parseRoute(s))
	}
	return t
}

// Match returns the template path matches, with axum's precedence (static
// before parameter before catch-all, backtracking like matchit), and
// whether one did. Templates axum uses internally do not count as routes;
// a nested service's tail reads as "*".
func (t *Table) Match(path string) (string, bool) {
	if t == nil || t.Fallback || path == "" {
		return "", false
	}
	best := -1
	var bestRank []byte
	for i := range t.routes {
		rank, ok := t.routes[i].match(path)
		if ok && (best < 0 || bytes.Compare(rank, bestRank) > 0) {
			best, bestRank = i, rank
		}
	}
	if best < 0 {
		return "", false
	}
	return t.routes[best].display, true
}

// NewTable builds the table of a router with these templates, as Read
// would find it.
func NewTable(templates []string) *Table { return newTable(slices.Clone(templates)) }
