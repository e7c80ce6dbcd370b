// Package hyper is the home of rustscope's knowledge of the hyper crate:
// the functions it probes (HTTP/1 head parsing on both sides, the HTTP/2
// server, hyper 0.14's client) and what their hits give spans.
package hyper

import "github.com/rustscope/rustscope/probe"

// Library is hyper's declaration. The names were checked against `nm -C`
// of the test apps (hyper 1.5.2 and 0.14, release, debug, LTO and
// v0-mangled builds); hyper 1.x and 0.14 share the HTTP/1 paths.
var Library = probe.Library{
	Crate:        "hyper",
	Instrumented: true,
	Wants: []probe.Want{
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

		// The HTTP/2 server (h2 does the framing).
		{ID: "hyper.h2.server.poll", Crate: "hyper", Group: "hyper-h2-server",
			Match:   []string{"<hyper::proto::h2::server::Server as core::future::future::Future>::poll"},
			Purpose: "HTTP/2 server connection polled (accepts streams); optional: rustc 1.85 inlines it in tonic-server"},
		{ID: "hyper.h2.stream.poll", Crate: "hyper", Group: "hyper-h2-server", Required: true,
			Match:   []string{"<hyper::proto::h2::server::H2Stream as core::future::future::Future>::poll"},
			Purpose: "HTTP/2 server stream (one request) polled; stream lifetime"},

		// hyper 0.14's own client (hyper-util's legacy client is its
		// successor). Release builds inline send_request's future into
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

		// hyper-util's legacy client (used by reqwest 0.12).
		{ID: "hyper_util.client.send_request", Crate: "hyper-util", Group: "hyper-util-client", Required: true,
			Match:   []string{"hyper_util::client::legacy::client::Client::send_request::{{closure}}"},
			Purpose: "client request future polled"},
		{ID: "hyper_util.client.connect_to", Crate: "hyper-util", Group: "hyper-util-client",
			Match:   []string{"hyper_util::client::legacy::client::Client::connect_to"},
			Purpose: "new client connection"},
	},
	// The h1 dispatcher runs both roles.
	Implied: map[string][]string{"hyper-h1-conn": {"hyper-h1-server", "hyper-h1-client"}},
	// One entry hit per request and role, at instructions the kernel
	// emulates in release builds (about 1 us a hit here). The parse
	// functions run right after the read that brought a head; LTO keeps
	// recv_msg where it removes them.
	Uprobes: []probe.Uprobe{
		{Points: []string{"hyper.h1.server.parse", "hyper.h1.server.recv_msg"}, Program: probe.ProgHit, Hit: probe.HitServer,
			Unless: probe.HitRoute, Gives: "hyper as the server spans' scope"},
		{Points: []string{"hyper.h1.client.parse", "hyper.h1.client.recv_msg"}, Program: probe.ProgHit, Hit: probe.HitClient,
			Gives: "hyper/reqwest as the client spans' scope"},
	},
}
