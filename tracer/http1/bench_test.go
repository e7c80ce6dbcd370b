package http1

import (
	"testing"

	"github.com/rustscope/rustscope/tracer/flow"
)

// BenchmarkConnExchange is the parser's share of one request on a
// keep-alive connection, with heads as a browser-like client and a JSON
// API send them.
func BenchmarkConnExchange(b *testing.B) {
	req := []byte("GET /api/v1/users/12345/orders?include=items&limit=20 HTTP/1.1\r\nHost: api.example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\nAccept: application/json\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.5\r\nConnection: keep-alive\r\n" +
		"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 24\r\nvary: accept-encoding\r\n" +
		"date: Sat, 21 Nov 2026 22:00:00 GMT\r\n\r\n{\"id\":7,\"name\":\"user-7\"}")
	c := NewConn(flow.RoleServer)
	b.ReportAllocs()
	for i := range b.N {
		ts := uint64(i) * 10
		c.Feed(flow.Ingress, req, len(req), ts)
		if xs := c.Feed(flow.Egress, resp, len(resp), ts+5); len(xs) != 1 {
			b.Fatalf("%d exchanges", len(xs))
		}
	}
}
