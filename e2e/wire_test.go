package e2e

// Wire-layer edge cases the Rust apps do not produce on demand: responses
// written as one writev of many iovecs, chunk-size lines split across
// write syscalls, heads longer than a capture, trailers. The target is this
// test binary re-executed as a small HTTP server whose writes are scripted
// (the wire layer does not care what language its target is written in).

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const wireHelperEnv = "RUSTSCOPE_E2E_WIRE_SERVER"

// wireServerMain is the scripted server (run by TestMain when
// wireHelperEnv is set). Routes:
//
//	/iov/N      chunked, N chunks of varied sizes, all in one writev (3N+2 iovecs)
//	/split/N    chunked, N chunks, each size line split over two writes
//	/bighead/N  an N-byte response head and a 5-byte body in one writev
//	/trailer    chunked with trailer fields, 200 KB in one write
//
// A second port serves connections full duplex: one goroutine reads
// (pipelined) requests while another writes the responses, so reads and
// writes of one connection run at the same time on different threads.
func wireServerMain() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dup, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\nduplex on %s\n", ln.Addr(), dup.Addr())
	go func() {
		for {
			c, err := dup.Accept()
			if err != nil {
				os.Exit(1)
			}
			go serveDuplex(c)
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		go serveWire(c.(*net.TCPConn))
	}
}

// serveDuplex answers /dup/N with N bytes, from a writer goroutine that
// runs while the reader goroutine reads the next requests.
func serveDuplex(c net.Conn) {
	defer c.Close()
	sizes := make(chan int, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := range sizes {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", n)
			c.Write(bytes.Repeat([]byte{'d'}, n))
		}
	}()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			break
		}
		io.Copy(io.Discard, req.Body)
		n, _ := strconv.Atoi(strings.TrimPrefix(req.URL.Path, "/dup/"))
		sizes <- n
	}
	close(sizes)
	<-done
}

func serveWire(c *net.TCPConn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		route, arg, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
		n, _ := strconv.Atoi(arg)
		const chunkedHead = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
		switch route {
		case "iov":
			bufs := net.Buffers{[]byte(chunkedHead)}
			for i := range n {
				size := wireChunk(i)
				bufs = append(bufs, fmt.Appendf(nil, "%x\r\n", size), bytes.Repeat([]byte{'a' + byte(i%26)}, size), []byte("\r\n"))
			}
			bufs = append(bufs, []byte("0\r\n\r\n"))
			bufs.WriteTo(c) // writev
		case "split":
			c.Write([]byte(chunkedHead))
			for i := range n {
				size := wireChunk(i)
				line := fmt.Sprintf("%x;i=%d\r\n", size, i)
				cut := 1 + i%(len(line)-1) // somewhere inside the line
				c.Write([]byte(line[:cut]))
				c.Write(append([]byte(line[cut:]), append(bytes.Repeat([]byte{'b'}, size), "\r\n"...)...))
			}
			c.Write([]byte("0\r\n\r\n"))
		case "bighead":
			head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Pad: %s\r\n\r\n", strings.Repeat("p", max(0, n-60)))
			bufs := net.Buffers{[]byte(head), []byte("hello")}
			bufs.WriteTo(c)
		case "trailer":
			var b bytes.Buffer
			b.WriteString("HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n")
			for i := range 40 {
				fmt.Fprintf(&b, "%x\r\n%s\r\n", 5000, bytes.Repeat([]byte{'t' + byte(i%3)}, 5000))
			}
			b.WriteString("0\r\nX-Sum: 42\r\n\r\n")
			c.Write(b.Bytes())
		default:
			c.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
		}
	}
}

// wireChunk is the size of chunk i: mostly beyond one capture.
func wireChunk(i int) int { return 1 + (i*7919)%9000 }

func startWireServer(t *testing.T) (*server, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), wireHelperEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	br := bufio.NewReader(out)
	line, err := readLineTimeout(br, 10*time.Second)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("wire server: %q, %v", line, err)
	}
	line, err = readLineTimeout(br, 10*time.Second)
	dup, ok := strings.CutPrefix(strings.TrimSpace(line), "duplex on ")
	if err != nil || !ok {
		t.Fatalf("wire server: %q, %v", line, err)
	}
	port, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	return &server{cmd: cmd, base: "http://" + addr, port: port}, dup
}

// pipeline sends n requests for /dup/<size> over one connection to addr,
// up to 60 ahead of their responses (the parser keeps up to 64 waiting),
// from one goroutine while another reads the responses. It returns the
// keys of the spans they must give.
func pipeline(t *testing.T, addr string, n int) (keys []string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.TCPAddr).Port
	size := func(i int) int { return 1 + (i*4099)%20000 }
	ahead := make(chan struct{}, 60)
	go func() {
		for i := range n {
			ahead <- struct{}{}
			fmt.Fprintf(c, "GET /dup/%d HTTP/1.1\r\nHost: %s\r\n\r\n", size(i), addr)
		}
	}()
	br := bufio.NewReader(c)
	for i := range n {
		<-ahead
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("pipelined response %d: %v", i, err)
		}
		m, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if m != int64(size(i)) {
			t.Fatalf("pipelined response %d: %d bytes, want %d", i, m, size(i))
		}
		keys = append(keys, fmt.Sprintf("GET /dup/%d 200 0 %d %d", size(i), size(i), port))
	}
	return keys
}

// TestE2EWireEdges: exact spans for responses whose framing bytes lie where
// a prefix capture does not reach.
func TestE2EWireEdges(t *testing.T) {
	needE2E(t)
	srv, dup := startWireServer(t)
	// A Go program: rustscope takes it with --wire-only.
	rs := startRustscope(t, []string{"--pid", strconv.Itoa(srv.pid()), "--stdout", "--wire-only"})
	wantSize := func(n int) int64 {
		var s int64
		for i := range n {
			s += int64(wireChunk(i))
		}
		return s
	}
	var reqs []*httpReq
	for i := range 40 {
		var r *httpReq
		switch i % 5 {
		case 0: // 3*20+2 = 62 iovecs, just under the 64 followed
			r = &httpReq{target: "/iov/20", wantBody: wantSize(20), wantChunked: true}
		case 1:
			r = &httpReq{target: "/iov/" + strconv.Itoa(1+i%7), wantBody: wantSize(1 + i%7), wantChunked: true}
		case 2:
			r = &httpReq{target: "/split/12", wantBody: wantSize(12), wantChunked: true}
		case 3:
			r = &httpReq{target: "/bighead/" + strconv.Itoa(5000+i*500), wantBody: 5}
		case 4:
			r = &httpReq{target: "/trailer", wantBody: 40 * 5000, wantChunked: true}
		}
		r.method, r.status = "GET", 200
		if i%4 == 3 {
			r.mode = fresh
		}
		reqs = append(reqs, r)
	}
	// Meanwhile pipelined connections, read and written at once: records of
	// one connection's two directions come from two CPUs at the same time
	// (rustscope must report no sequence gap: see rustscopeRun.stop).
	var dupKeys []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys := pipeline(t, dup, 500)
			mu.Lock()
			dupKeys = append(dupKeys, keys...)
			mu.Unlock()
		}()
	}
	s0 := stealTime(t)
	load(t, srv.base, reqs, 4)
	stolen := stealTime(t) - s0
	wg.Wait()
	rs.waitSpans(t, len(reqs)+len(dupKeys), spanWait)
	var spans, dupSpans []jsonSpan
	for _, s := range rs.stop(t) {
		if s.attr("server.port") == strconv.Itoa(srv.port) {
			spans = append(spans, s)
		} else {
			dupSpans = append(dupSpans, s)
		}
	}
	exe, _ := os.Executable()
	errorAll(t, checkServerSpans(t, srv, filepath.Base(exe), libExpect{scope: "rustscope/wire"}, reqs, spans, stolen))
	matchMultiset(t, "full-duplex pipelined spans", dupKeys, dupSpans, serverSpanKey)
}
