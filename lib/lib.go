// Package lib lists the instrumented libraries. Each has one home, a
// folder named after its crate, that declares everything rustscope knows
// of it (package probe's types): the functions binary analysis looks for,
// the uprobes the tracer places, and what their hits give spans. Adding a
// library means adding its folder and a line here.
package lib

import (
	"github.com/rustscope/rustscope/lib/axum"
	"github.com/rustscope/rustscope/lib/h2"
	"github.com/rustscope/rustscope/lib/hyper"
	"github.com/rustscope/rustscope/lib/openssl"
	"github.com/rustscope/rustscope/lib/reqwest"
	"github.com/rustscope/rustscope/lib/rustls"
	"github.com/rustscope/rustscope/lib/tokio"
	"github.com/rustscope/rustscope/lib/tonic"
	"github.com/rustscope/rustscope/probe"
)

// All are the libraries, in the order `inspect` lists their points and
// the tracer places their probes. A probe's Unless looks at what is
// placed already, so the library giving that hit comes first (axum's
// route lookup before hyper's server parse, which it makes unneeded).
var All = []*probe.Library{&axum.Library, &hyper.Library, &h2.Library, &tonic.Library, &reqwest.Library, &tokio.Library, &rustls.Library, &openssl.Library}

// Manifest is every library's wants in the executable, in the order of
// All (not those in a shared library: probe.Want.Object).
func Manifest() []probe.Want {
	var ws []probe.Want
	for _, l := range All {
		for _, w := range l.Wants {
			if w.Object == "" {
				ws = append(ws, w)
			}
		}
	}
	return ws
}

// Implied merges the libraries' implied groups.
func Implied() map[string][]string {
	m := map[string][]string{}
	for _, l := range All {
		for g, by := range l.Implied {
			m[g] = append(m[g], by...)
		}
	}
	return m
}

// Crates are the instrumented crates: a process linking one is worth
// tracing.
func Crates() []string {
	var cs []string
	for _, l := range All {
		if l.Instrumented {
			cs = append(cs, l.Crate)
		}
	}
	return cs
}
