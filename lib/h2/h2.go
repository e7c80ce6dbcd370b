// Package h2 is the home of rustscope's knowledge of the h2 crate (the
// HTTP/2 framing under hyper, tonic and reqwest): the frame decoder, whose
// frames name the stream a wake delivers, and the client's stream handles,
// read by the task that awaits a response or reads its body. They serve
// to link HTTP/2 client calls to the request that made them, so they are
// placed with the task probes (package tokio).
package h2

import "github.com/rustscope/rustscope/probe"

// Library is h2's declaration (h2 0.4 and 0.3).
var Library = probe.Library{
	Crate: "h2",
	// A program whose only HTTP crate is h2 is worth tracing (wire
	// capture reads its HTTP/2).
	Instrumented: true,
	Wants: []probe.Want{
		{ID: "h2.codec.decode_frame", Crate: "h2", Group: "h2-codec",
			Match:   []string{"h2::codec::framed_read::decode_frame"},
			Purpose: "an HTTP/2 frame decoded (type, stream id, flags)"},
		{ID: "h2.client.response_future.poll", Crate: "h2", Group: "h2-client",
			Match:   []string{"<h2::client::ResponseFuture as core::future::future::Future>::poll"},
			Purpose: "an HTTP/2 client stream's response awaited (which stream a response task serves)"},
		{ID: "h2.recv_stream.poll_data", Crate: "h2", Group: "h2-client",
			Match:   []string{"h2::share::RecvStream::poll_data"},
			Purpose: "an HTTP/2 stream's body read (which stream's body a task reads)"},
	},
	// The codec frames every HTTP/2 user.
	Implied: map[string][]string{"h2-codec": {"hyper-h2-server", "tonic-server", "tonic-client", "hyper-util-client", "hyper-client", "reqwest"}},
	Uprobes: []probe.Uprobe{
		{Points: []string{"h2.codec.decode_frame"}, Program: probe.ProgH2Frame, When: probe.WhileClientCalls, Optional: true,
			Gives: "HTTP/2 calls"},
		// Both begin with h2's OpaqueStreamRef: for responses that came
		// before anyone polled for them, so no frame woke anyone.
		{Points: []string{"h2.client.response_future.poll"}, Program: probe.ProgH2Resp, Cookie: ResponseFuture, When: probe.WhileClientCalls, Optional: true,
			Gives: "HTTP/2 responses that came before anyone polled for them"},
		{Points: []string{"h2.recv_stream.poll_data"}, Program: probe.ProgH2Resp, Cookie: RecvStream, When: probe.WhileClientCalls, Optional: true,
			Gives: "HTTP/2 responses that came before anyone polled for them"},
	},
}

// FramesID is the frame decoder's point: HTTP/2 client calls can be
// linked where it is found.
const FramesID = "h2.codec.decode_frame"

// Kinds of stream handle the ProgH2Resp probes read (their cookie).
const (
	// ResponseFuture: a task awaits a client stream's response.
	ResponseFuture = 0
	// RecvStream: a task reads a stream's body.
	RecvStream = 1
)

// StreamRef is what one process's wakes have taught about h2's stream
// handles (OpaqueStreamRef), whose first 16 bytes the ProgH2Resp probes
// read: a stream store pointer (one per connection), then a slab key whose
// one half is the stream id. Rust does not fix that layout, so it is
// learnt from handles whose stream is also known by its frame, and used
// only once enough samples agree and none contradicts.
type StreamRef struct {
	half   [2]int // samples whose stream id was the key's low / high half alone
	misses int    // samples where neither half was
}

// refSamples is how many agreeing samples make the layout trusted.
const refSamples = 4

// Learn takes a sample: the key of a handle of stream id. It reports
// whether the key named the stream in neither half (a contradiction).
func (r *StreamRef) Learn(key uint64, id uint32) (miss bool) {
	lo, hi := uint32(key) == id, uint32(key>>32) == id
	switch {
	case lo && !hi:
		r.half[0]++
	case hi && !lo:
		r.half[1]++
	case !lo && !hi:
		r.misses++
		return true
	}
	return false
}

// Trusted returns which half of the key holds the stream id, and the
// samples that say so, once the layout is known.
func (r *StreamRef) Trusted() (half, samples int, ok bool) {
	for h := range 2 {
		if r.half[h] >= refSamples && r.half[1-h] == 0 && r.misses == 0 {
			return h, r.half[h], true
		}
	}
	return 0, 0, false
}

// StreamID is the stream id in key's half (see Trusted).
func StreamID(key uint64, half int) uint32 { return uint32(key >> (32 * half)) }
