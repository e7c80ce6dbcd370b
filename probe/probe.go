// Package probe holds the types in which each instrumented library's home
// (package lib and its folders) declares what rustscope wants from it: the
// functions to find in a binary (Want) and the uprobes to place at them
// (Uprobe). Binary analysis (symbols) finds the Wants; the tracer attaches
// the Uprobes; `inspect` and the UI read both. It imports nothing of
// rustscope's.
package probe

// Want is one function rustscope wants to find in a binary.
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
	// Match lists normalized demangled paths (see symbols.NormalizeName):
	// generic arguments removed, closures as {{closure}}. Every function
	// whose normalized name equals one of them is a copy
	// (monomorphization).
	Match []string `json:"match"`
	// Required points carry the spans; the others are optional enrichment.
	Required bool `json:"required"`
	// Purpose says what the probe gives.
	Purpose string `json:"purpose"`
	// Object, when set, is the shared library whose exported function
	// this is ("libssl.so"; its file name begins so), found where the
	// process maps it rather than in the executable; Match then holds
	// symbol names as they are.
	Object string `json:"object,omitempty"`
}

// Program names the BPF program a uprobe runs (package bpf).
type Program int

const (
	// ProgHit records a library hit: the argument registers and one
	// string argument, in the ring with the bytes (record_hit).
	ProgHit Program = iota + 1
	// ProgTaskPoll and ProgTaskPollRet follow which task a thread polls
	// (entry and return of the runtime's task poll).
	ProgTaskPoll
	ProgTaskPollRet
	// ProgTaskWake notes which task woke another, or spawned it; the
	// cookie names the argument register that holds the woken task.
	ProgTaskWake
	// ProgH2Frame names the HTTP/2 stream whose frame a thread decodes.
	ProgH2Frame
	// ProgH2Resp reads an HTTP/2 stream handle a task polls; the cookie is
	// the kind of handle (package h2).
	ProgH2Resp
	// ProgTLSEnter and ProgTLSExit capture the plaintext a TLS library
	// writes (entry and return); the entry's cookie is the kind of call
	// (package rustls).
	ProgTLSEnter
	ProgTLSExit
	// ProgSSLEnter and ProgSSLExit capture what OpenSSL's SSL_read and
	// SSL_write calls move (package openssl).
	ProgSSLEnter
	ProgSSLExit
	// ProgTLSTake captures a record's plaintext as rustls's connection
	// takes it, at entry (package rustls).
	ProgTLSTake
)

// Returns says whether p runs at the function's return.
func (p Program) Returns() bool {
	return p == ProgTaskPollRet || p == ProgTLSExit || p == ProgSSLExit
}

// Hit is what a ProgHit hit tells the tracer. Every kind is tied to a
// connection by the thread's last read: libraries parse a head, and
// routers match its path, on the thread that has just read it.
type Hit uint8

const (
	HitServer Hit = iota + 1 // a server parsed a request head
	HitRoute                 // a router looked a path up: args[1] is the router, the string argument the path
	HitClient                // a client parsed a response head
)

// When says when a uprobe is in place.
type When int

const (
	// Always: from attach to detach.
	Always When = iota
	// WhileClientCalls: only while the process makes client calls (the
	// task probes, which cost most and only serve to link calls).
	WhileClientCalls
)

// Uprobe is one probe a library asks for.
type Uprobe struct {
	// Points are Want IDs in order of preference: the first found in the
	// binary is attached, at every copy.
	Points []string
	// Program runs at each hit, with Cookie.
	Program Program
	Cookie  uint64
	// Args: the program reads only the first Args argument registers, so
	// where the function's first instruction is single-stepped it may go
	// at a later one the kernel emulates (symbols.ProbeCopy.Site). 0: at
	// the entry always (return probes, programs that read the stack).
	Args int
	// Hit says what a ProgHit hit means; StrArg is the argument register
	// (1-based) of a (pointer, length) string the program copies, 0: none.
	Hit    Hit
	StrArg int
	// Unless: not placed when a probe giving this Hit is in place (one
	// hit per request is enough).
	Unless Hit
	When   When
	// Optional: placed where found; the others of a library are all
	// needed, or none is placed (WhileClientCalls probes, and the Always
	// ones whose program is not ProgHit).
	Optional bool
	// Gives says, for people, what the probe adds; what is lost without.
	Gives string
}

// Library is everything one instrumented crate's home declares.
type Library struct {
	// Crate is the crate the library is ("hyper").
	Crate string
	// Instrumented: the crate's presence makes a process worth tracing
	// (--all, the picker).
	Instrumented bool
	Wants        []Want
	// Implied lists, per group of this library, the groups (of any
	// library) whose use means it is in use too, so a group whose only
	// point is inlined does not look unused.
	Implied map[string][]string
	Uprobes []Uprobe
	// ScopeOf lists the hits that name this crate as the span's scope
	// when the process links it, over the crate whose probe fired
	// (reqwest sends through hyper's client).
	ScopeOf []Hit
}
