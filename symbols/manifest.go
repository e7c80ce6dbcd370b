package symbols

import "strings"

// Want is one function rustscope wants to probe.
type Want struct {
	// ID is stable and unique: "hyper.h1.server.parse".
	ID string `json:"id"`
	// Crate is the package that contains the function ("hyper-util").
	Crate string `json:"crate"`
	// Versions constrains the crate version: "" (any), ">=1", "<1".
	Versions string `json:"versions,omitempty"`
	// Group is the feature the point belongs to ("hyper-h1-server"). A
	// group is in use in a binary when any of its points is found; a group
	// in use needs all its Required points for full tracing.
	Group string `json:"group"`
	// Match lists normalized demangled paths (see NormalizeName): generic
	// arguments removed, closures as {{closure}}. Every function whose
	// normalized name equals one of them is a copy (monomorphization).
	Match []string `json:"match"`
	// Required points carry the spans; the others are optional enrichment.
	Required bool `json:"required"`
	// Purpose says what the probe gives.
	Purpose string `json:"purpose"`
}

// Manifest is what rustscope wants, per library. The names were checked
// against `nm -C` of the test apps: hyper 1.5.2 / hyper-util 0.1.10 /
// h2 0.4.7 / axum 0.7.9 / matchit 0.7.3 / tonic 0.12.3 / reqwest 0.12.15
// and hyper 0.14 / reqwest 0.11 (legacy apps), release, debug, LTO and
// v0-mangled builds. Async fns are probed at their `::{{closure}}` (the
// future's poll function, once per poll).
var Manifest = []Want{
	// hyper HTTP/1 (1.x and 0.14 share these paths).
	{ID: "hyper.h1.server.parse", Crate: "hyper", Group: "hyper-h1-server", Required: true,
		Match:   []string{"<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::parse"},
		Purpose: "server: request head parsed (method, path, headers); returns at the end of the head"},
	{ID: "hyper.h1.server.encode", Crate: "hyper", Group: "hyper-h1-server", Required: true,
		Match:   []string{"<hyper::proto::h1::role::Server as hyper::proto::h1::Http1Transaction>::encode"},
		Purpose: "server: response head encoded (status, headers)"},
	{ID: "hyper.h1.server.recv_msg", Crate: "hyper", Group: "hyper-h1-server",
		Match:   []string{"<hyper::proto::h1::dispatch::Server as hyper::proto::h1::dispatch::Dispatch>::recv_msg"},
		Purpose: "server: parsed request handed to the service (handler start)"},
	{ID: "hyper.h1.client.parse", Crate: "hyper", Group: "hyper-h1-client", Required: true,
		Match:   []string{"<hyper::proto::h1::role::Client as hyper::proto::h1::Http1Transaction>::parse"},
		Purpose: "client: response head parsed"},
	{ID: "hyper.h1.client.encode", Crate: "hyper", Group: "hyper-h1-client", Required: true,
		Match:   []string{"<hyper::proto::h1::role::Client as hyper::proto::h1::Http1Transaction>::encode"},
		Purpose: "client: request head encoded"},
	{ID: "hyper.h1.client.recv_msg", Crate: "hyper", Group: "hyper-h1-client",
		Match:   []string{"<hyper::proto::h1::dispatch::Client as hyper::proto::h1::dispatch::Dispatch>::recv_msg"},
		Purpose: "client: response handed back to the caller"},
	{ID: "hyper.h1.dispatcher.poll_catch", Crate: "hyper", Group: "hyper-h1-conn",
		Match:   []string{"hyper::proto::h1::dispatch::Dispatcher::poll_catch"},
		Purpose: "connection task polled (both roles); connection lifetime"},

	// hyper HTTP/2 server (h2 does the framing).
	{ID: "hyper.h2.server.poll", Crate: "hyper", Group: "hyper-h2-server",
		Match:   []string{"<hyper::proto::h2::server::Server as core::future::future::Future>::poll"},
		Purpose: "HTTP/2 server connection polled (accepts streams); optional: rustc 1.85 inlines it in tonic-server"},
	{ID: "hyper.h2.stream.poll", Crate: "hyper", Group: "hyper-h2-server", Required: true,
		Match:   []string{"<hyper::proto::h2::server::H2Stream as core::future::future::Future>::poll"},
		Purpose: "HTTP/2 server stream (one request) polled; stream lifetime"},
	{ID: "h2.codec.decode_frame", Crate: "h2", Group: "h2-codec",
		Match:   []string{"h2::codec::framed_read::decode_frame"},
		Purpose: "an HTTP/2 frame decoded (type, stream id, flags)"},
	{ID: "h2.client.response_future.poll", Crate: "h2", Group: "h2-client",
		Match:   []string{"<h2::client::ResponseFuture as core::future::future::Future>::poll"},
		Purpose: "an HTTP/2 client stream's response awaited (which stream a response task serves)"},
	{ID: "h2.recv_stream.poll_data", Crate: "h2", Group: "h2-client",
		Match:   []string{"h2::share::RecvStream::poll_data"},
		Purpose: "an HTTP/2 stream's body read (which stream's body a task reads)"},

	// hyper 0.14's own client (hyper-util's legacy client is its successor).
	// Release builds inline send_request's future into
	// retryably_send_request's, which stays.
	{ID: "hyper.client.retryably_send_request", Crate: "hyper", Versions: "<1", Group: "hyper-client", Required: true,
		Match:   []string{"hyper::client::client::Client::retryably_send_request::{{closure}}"},
		Purpose: "client request future polled, retries included (hyper 0.14)"},
	{ID: "hyper.client.send_request", Crate: "hyper", Versions: "<1", Group: "hyper-client",
		Match:   []string{"hyper::client::client::Client::send_request::{{closure}}"},
		Purpose: "one attempt of a client request polled (hyper 0.14; inlined in release builds)"},
	{ID: "hyper.client.connect_to", Crate: "hyper", Versions: "<1", Group: "hyper-client",
		Match:   []string{"hyper::client::client::Client::connect_to"},
		Purpose: "new client connection (hyper 0.14)"},

	// hyper-util legacy client (used by reqwest 0.12).
	{ID: "hyper_util.client.send_request", Crate: "hyper-util", Group: "hyper-util-client", Required: true,
		Match:   []string{"hyper_util::client::legacy::client::Client::send_request::{{closure}}"},
		Purpose: "client request future polled"},
	{ID: "hyper_util.client.connect_to", Crate: "hyper-util", Group: "hyper-util-client",
		Match:   []string{"hyper_util::client::legacy::client::Client::connect_to"},
		Purpose: "new client connection"},

	// axum routing: http.route.
	{ID: "axum.router.call_with_state", Crate: "axum", Group: "axum-routing",
		Match:   []string{"axum::routing::Router::call_with_state"},
		Purpose: "request enters the router"},
	{ID: "axum.path_router.node_at", Crate: "axum", Group: "axum-routing", Required: true,
		Match:   []string{"axum::routing::path_router::Node::at"},
		Purpose: "route lookup: returns the matched route id (http.route)"},
	{ID: "axum.path_router.call_with_state", Crate: "axum", Group: "axum-routing",
		Match:   []string{"axum::routing::path_router::PathRouter::call_with_state"},
		Purpose: "path router dispatch (fallback when Node::at is inlined)"},
	{ID: "matchit.node_at", Crate: "matchit", Group: "axum-routing",
		Match:   []string{"matchit::tree::Node::at"},
		Purpose: "route tree lookup (pattern)"},

	// tonic gRPC.
	{ID: "tonic.server.map_response", Crate: "tonic", Group: "tonic-server", Required: true,
		Match:   []string{"tonic::server::grpc::Grpc::map_response"},
		Purpose: "server: handler result turned into a response (grpc-status)"},
	{ID: "tonic.client.create_response", Crate: "tonic", Group: "tonic-client", Required: true,
		Match:   []string{"tonic::client::grpc::Grpc::create_response"},
		Purpose: "client: response received (grpc-status)"},

	// tokio tasks: which task a thread polls and which task woke it, to
	// make a handler's client calls children of its server span. raw::poll
	// is reached through a task's vtable, so every build with symbols keeps
	// one copy per task type (LTO too); the wakers are not generic.
	{ID: "tokio.task.poll", Crate: "tokio", Group: "tokio-tasks",
		Match:   []string{"tokio::runtime::task::raw::poll"},
		Purpose: "a worker thread polls a task (argument: the task)"},
	{ID: "tokio.waker.wake_by_val", Crate: "tokio", Group: "tokio-tasks",
		Match:   []string{"tokio::runtime::task::waker::wake_by_val"},
		Purpose: "a task is woken (argument: the task)"},
	{ID: "tokio.waker.wake_by_ref", Crate: "tokio", Group: "tokio-tasks",
		Match:   []string{"tokio::runtime::task::waker::wake_by_ref"},
		Purpose: "a task is woken through a borrowed waker (argument: the task)"},
	{ID: "tokio.task.bind", Crate: "tokio", Group: "tokio-tasks",
		Match:   []string{"tokio::runtime::task::list::OwnedTasks::bind_inner"},
		Purpose: "a task is spawned (second argument: the task)"},

	// reqwest.
	{ID: "reqwest.execute_request", Crate: "reqwest", Group: "reqwest", Required: true,
		Match:   []string{"reqwest::async_impl::client::Client::execute_request"},
		Purpose: "request submitted (method, URL)"},
	{ID: "reqwest.pending_request.poll", Crate: "reqwest", Group: "reqwest", Required: true,
		Match:   []string{"<reqwest::async_impl::client::PendingRequest as core::future::future::Future>::poll"},
		Purpose: "request future polled; completion"},
}

// wantKeys are precomputed substrings every raw (mangled) name of a copy
// must contain: the length-prefixed last identifier ("5parse") and the
// plain path identifiers ("hyper", "role", "Server"). Both manglings spell
// identifiers literally at least once (legacy trait impls as
// "$LT$hyper..proto..", v0 with back-references after the first use).
type wantKeys struct {
	final  string   // "5parse": checked first, it is the most selective
	idents []string // "hyper", "proto", ...
}

func keysFor(pattern string) wantKeys {
	var ids []string
	cur := strings.Builder{}
	flush := func() {
		if cur.Len() > 0 {
			ids = append(ids, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if isIdentByte(c) {
			cur.WriteByte(c)
			continue
		}
		flush()
	}
	flush()
	var k wantKeys
	// Drop keywords and closure markers; the last real identifier is final.
	var real []string
	for _, id := range ids {
		switch id {
		case "as", "closure", "impl", "for", "dyn", "mut", "const":
			continue
		}
		real = append(real, id)
	}
	if len(real) == 0 {
		return k
	}
	last := real[len(real)-1]
	k.final = itoa(len(last)) + last
	k.idents = real[:len(real)-1]
	return k
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
