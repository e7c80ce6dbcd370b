// Package reqwest is the home of rustscope's knowledge of the reqwest
// crate. reqwest sends through hyper's client, whose probe sees its
// requests: in a program that links reqwest, those client spans are
// reqwest's.
package reqwest

import "github.com/rustscope/rustscope/probe"

// Library is reqwest's declaration (reqwest 0.12 and 0.11).
var Library = probe.Library{
	Crate:        "reqwest",
	Instrumented: true,
	Wants: []probe.Want{
		{ID: "reqwest.execute_request", Crate: "reqwest", Group: "reqwest", Required: true,
			Match:   []string{"reqwest::async_impl::client::Client::execute_request"},
			Purpose: "request submitted (method, URL)"},
		{ID: "reqwest.pending_request.poll", Crate: "reqwest", Group: "reqwest", Required: true,
			Match:   []string{"<reqwest::async_impl::client::PendingRequest as core::future::future::Future>::poll"},
			Purpose: "request future polled; completion"},
	},
	ScopeOf: []probe.Hit{probe.HitClient},
}
