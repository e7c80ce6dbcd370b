// Package axum is the home of rustscope's knowledge of the axum crate:
// its route lookup, where http.route comes from, and the route tables
// read from the target's memory (table.go) and matched like matchit
// (match.go).
package axum

import (
	"strings"

	"github.com/rustscope/rustscope/probe"
)

// Library is axum's declaration (axum 0.7 with matchit 0.7).
var Library = probe.Library{
	Crate:        "axum",
	Instrumented: true,
	Wants: []probe.Want{
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
	},
	// Node::at(&self, path: &str): every request axum serves passes it,
	// LTO builds included; the path is the third argument register (the
	// first holds the return slot).
	Uprobes: []probe.Uprobe{
		{Points: []string{"axum.path_router.node_at"}, Program: probe.ProgHit, Hit: probe.HitRoute, StrArg: 3,
			Gives: "http.route from axum's router"},
	},
}

// HeadersRecovered says a stream's path came from the router's lookup
// because its header block could not be decoded.
const HeadersRecovered = "path from tonic's router (uprobe on axum's Node::at); the other request headers unknown: the connection was opened before rustscope attached"

// LookupPath checks the path a route lookup hit copied (probed, at most
// max bytes) against the request's path, and returns what the router
// matched and the prefix a nesting router took off before it. ok is false
// when the copied path is neither the request's path nor its tail: the
// arguments are not where this build was expected to pass them, and no
// route is given rather than a guess.
func LookupPath(reqPath, probed string, max int) (prefix, match string, ok bool) {
	switch {
	case len(probed) == max && strings.HasPrefix(reqPath, probed):
		return "", reqPath, true // the probe copied a prefix of a long path
	case probed == "" || probed[0] != '/' || !strings.HasSuffix(reqPath, probed):
		return "", "", false
	}
	return reqPath[:len(reqPath)-len(probed)], probed, true
}

// Route returns the route template tab matched for match, under the
// nesting prefix: "" when none matched.
func Route(tab *Table, prefix, match string) string {
	r, ok := tab.Match(match)
	if !ok {
		return ""
	}
	return prefix + r
}
