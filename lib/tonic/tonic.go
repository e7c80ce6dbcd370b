// Package tonic is the home of rustscope's knowledge of the tonic crate.
// A tonic server routes with axum's router, whose route probe gives its
// gRPC spans the route `/<package.Service>/*`; tonic's own points are
// found and shown by `inspect`.
package tonic

import (
	"strings"

	"github.com/rustscope/rustscope/probe"
)

// Library is tonic's declaration (tonic 0.12).
var Library = probe.Library{
	Crate:        "tonic",
	Instrumented: true,
	Wants: []probe.Want{
		{ID: "tonic.server.map_response", Crate: "tonic", Group: "tonic-server", Required: true,
			Match:   []string{"tonic::server::grpc::Grpc::map_response"},
			Purpose: "server: handler result turned into a response (grpc-status)"},
		{ID: "tonic.client.create_response", Crate: "tonic", Group: "tonic-client", Required: true,
			Match:   []string{"tonic::client::grpc::Grpc::create_response"},
			Purpose: "client: response received (grpc-status)"},
	},
}

// serviceRoute ends the route template tonic registers for each service
// in its axum router (`/<package.Service>/*rest`).
const serviceRoute = "/*rest"

// ServiceRoute reports whether route is one tonic's router registered for
// a gRPC service: a request it matched is a gRPC call to that service.
func ServiceRoute(route string) bool { return strings.HasSuffix(route, serviceRoute) }
