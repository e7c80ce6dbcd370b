//go:build linux

package e2e

// What hostile traffic must leave: a correct span for every valid request.

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// checkSpans matches the spans to the valid requests: each must have its
// span exactly once, with the right attributes. Other spans must come
// from hostile connections and must not claim a valid request of theirs.
func (h *hostile) checkSpans(spans []jsonSpan) {
	t := h.t
	t.Helper()
	key, what := serverSpanKey, func(s jsonSpan) string { return s.attr("http.request.method") + " " + s.attr("url.path") }
	if h.grpc {
		key = func(s jsonSpan) string { return grpcSpanKey(s) + " " + s.attr("client.port") }
		what = func(s jsonSpan) string { return s.Name }
	}
	left := map[string]int{}
	var want []string
	for k, n := range h.want {
		left[k] = n
		for range n {
			want = append(want, k)
		}
	}
	var got []string
	garbage, bad := 0, 0
	report := func(s jsonSpan, format string, args ...any) {
		t.Helper()
		if bad++; bad <= 30 {
			t.Errorf("%s\n    span: %s", fmt.Sprintf(format, args...), s)
		}
	}
	for _, s := range spans {
		k := key(s)
		if left[k] > 0 {
			left[k]--
			got = append(got, k)
			h.checkValid(s, report)
			continue
		}
		port, _ := strconv.Atoi(s.attr("client.port"))
		switch {
		case slices.Contains(h.validWhat[port], what(s)):
			var sent []string
			for k := range h.want {
				if strings.HasSuffix(k, " "+strconv.Itoa(port)) {
					sent = append(sent, k)
				}
			}
			report(s, "a span for %q on port %d that no request sent there matches, or a second one; sent there: %q", what(s), port, sent)
		case !h.hostilePorts[port]:
			report(s, "a span no request was sent for (port %d)", port)
		default:
			garbage++
		}
	}
	if d := diffKeys(want, got); d != "" {
		t.Errorf("valid requests without their span (key: %s; grpc: name code req-body resp-body port):\n%s", keyLegend, d)
	}
	t.Logf("%d spans: %d for valid requests, %d from hostile connections", len(spans), len(got), garbage)
}

// checkValid checks what a valid request's span carries beyond its key.
func (h *hostile) checkValid(s jsonSpan, report func(jsonSpan, string, ...any)) {
	if s.SpanKind != kindServer {
		report(s, "kind %d, want server", s.SpanKind)
	}
	if d := s.attrDiffs(map[string]string{"server.address": "127.0.0.1", "server.port": strconv.Itoa(h.srv.port), "client.address": "127.0.0.1"}); d != nil {
		report(s, "%s", strings.Join(d, "; "))
	}
	if h.grpc {
		if d := s.attrDiffs(map[string]string{"rpc.system": "grpc", "rpc.service": "demo.v1.Users", "network.protocol.version": "2"}); d != nil {
			report(s, "%s", strings.Join(d, "; "))
		}
		code, _ := strconv.Atoi(s.attr("rpc.grpc.status_code"))
		if s.Name != "demo.v1.Users/"+s.attr("rpc.method") || (s.Status.Code == "Error") != (code == 13) {
			report(s, "name or status do not match rpc.method %q, code %d", s.attr("rpc.method"), code)
		}
		// grpc-message comes percent-encoded: "simulated%20internal%20error".
		if want := map[int]string{13: "Internal: simulated internal error"}[code]; s.Status.Description != want {
			report(s, "status description %q, want %q", s.Status.Description, want)
		}
		if s.InstrumentationScope.Name != "tonic" {
			report(s, "scope %q, want tonic", s.InstrumentationScope.Name)
		}
		return
	}
	route := axumRoute(s.attr("url.path"))
	code, _ := strconv.Atoi(s.attr("http.response.status_code"))
	if s.attr("http.route") != route || s.hasAttr("http.route") != (route != "") || s.Name != strings.TrimSpace(s.attr("http.request.method")+" "+route) {
		report(s, "name %q, http.route %q; want route %q", s.Name, s.attr("http.route"), route)
	}
	if (s.Status.Code == "Error") != (code >= 500) || s.attr("network.protocol.version") != "1.1" || s.InstrumentationScope.Name != "axum" {
		report(s, "status %q, protocol %q, scope %q", s.Status.Code, s.attr("network.protocol.version"), s.InstrumentationScope.Name)
	}
}

// connPorts lists the local ports of pid's TCP connections to remotePort
// on 127.0.0.1 (its socket fds, found in /proc/net/tcp).
func connPorts(t *testing.T, pid, remotePort int) []int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if in, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(in, "]")] = true
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		t.Fatal(err)
	}
	var ports []int
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 || !inodes[f[9]] || !strings.HasSuffix(f[2], fmt.Sprintf(":%04X", remotePort)) {
			continue
		}
		_, lp, _ := strings.Cut(f[1], ":")
		if p, err := strconv.ParseUint(lp, 16, 16); err == nil {
			ports = append(ports, int(p))
		}
	}
	return ports
}

// procStart is the start time of pid (field 22 of /proc/PID/stat): the
// same pid with the same start time is the same process.
func procStart(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("target: %v", err)
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		t.Fatalf("target: short /proc/%d/stat", pid)
	}
	return f[19]
}
