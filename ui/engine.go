package ui

import (
	"github.com/rustscope/rustscope/tracer"
)

// Engine is the tracer as the UI sees it: a source of processes to pick
// and of sessions to watch.
type Engine interface {
	// Processes lists the Rust processes that can be picked.
	Processes() ([]Process, error)
	// Attach starts tracing the processes, watched together in one
	// session. It may take a second (probes attach).
	Attach(pids []int) (Session, error)
}

// Process is one row of the picker.
type Process struct {
	PID       int
	User      string
	Command   string
	Crates    string // "hyper 1.5.2, axum 0.7.9"
	Rustc     string
	Stripped  bool
	Container bool
	Traceable string   // how it can be traced: "full", "wire", "none"
	Why       string   // why not fully
	TLS       string   // its TLS libraries, "(blind)" where their plaintext is not captured; "-": none
	TLSWhy    []string // per TLS library, what rustscope sees of its connections
}

// Session is the processes watched together.
type Session interface {
	// Targets describes what was attached, in the order asked for.
	Targets() []*tracer.Target
	// Service is the service.name of pid's spans.
	Service(pid uint32) string
	// Spans delivers finished requests in batches; it is closed when the
	// session ends (every target exited, or Close).
	Spans() <-chan []tracer.Span
	// Err is why Spans was closed, nil after Close.
	Err() error
	// Stats are the running counters shown in the status bar.
	Stats() SessionStats
	Close() error
}

// SessionStats are the status bar's counters.
type SessionStats struct {
	Lost    uint64   // records the kernel could not queue
	Dropped uint64   // spans the UI could not keep up with
	Export  string   // where spans also go ("stdout", "otlp grpc ..."), empty if nowhere
	Exited  []uint32 // targets of the session that exited while others go on
}
