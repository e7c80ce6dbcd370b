// framing.h: the capture planner's view of one direction of a connection,
// kept in the conns map between syscalls (see capture.h).

#ifndef RUSTSCOPE_FRAMING_H
#define RUSTSCOPE_FRAMING_H

#include "vmlinux.h"

#define MAX_HEAD (64 << 10) // longest head followed (the parser's bound too)

enum mode {
	M_IDLE = 0, // between messages: one may start at a boundary
	M_LINE1,    // first line of a head
	M_LSTART,   // start of a header line
	M_NAME,     // header name, matched against Content-Length / Transfer-Encoding
	M_CL,       // Content-Length value
	M_TE,       // Transfer-Encoding value
	M_SKIP,     // rest of a header line
	M_HEAD_CR,  // CR of the empty line that ends the head
	M_BODY,     // Content-Length body: remain bytes left
	M_CRLF,     // CRLF after chunk data (chunk states from here on)
	M_CRLF_LF,  // its LF
	M_SIZE,     // chunk-size digits
	M_EXT,      // chunk extension, up to LF
	M_DATA,     // chunk data: remain bytes left
	M_TLSTART,  // start of a trailer line, or the final empty line
	M_TCR,      // CR of the final empty line
	M_TSKIP,    // rest of a trailer line
	M_H2,       // HTTP/2: at a frame header (idx bytes of it in h2)
	M_H2_SKIP,  // HTTP/2: remain bytes of a frame payload to pass
	M_LAZY,     // HTTP/1: the last syscalls were captured whole, not walked;
	            // where they left the framing is user space's to know
};

#define F_RESP 1    // the head is a response
#define F_CL 2      // it has a Content-Length
#define F_CHUNKED 4 // its last transfer coding is chunked
#define F_H2 8      // the direction speaks HTTP/2 (kept across desyncs)

// framing is just enough HTTP/1 (and HTTP/2 framing) to know where the
// bytes the parser needs (heads, chunk-size lines, trailers, frame headers
// and non-DATA payloads) lie in a long syscall. It is a hint only: user
// space parses everything again and decides. A wrong guess costs a few
// extra bytes or loses track until a syscall starts a message again, which
// is no worse than capturing prefixes alone.
struct framing {
	__u64 remain; // M_BODY, M_DATA: bytes left; M_SIZE: chunk size so far
	__u64 cl;     // Content-Length of the head being read
	__u32 head;   // bytes of the head so far (bounded by MAX_HEAD)
	__u16 code;   // status code of a response head
	__u8 mode;    // enum mode
	__u8 idx;     // M_LINE1: line bytes; M_NAME: bytes matched; M_CL, M_SIZE: digits; M_TE: "chunked" matched
	__u8 cand;    // M_NAME: header names still matching
	__u8 flags;   // F_*
	__u8 h2[16];  // M_H2: frame header bytes so far (idx of them), split across syscalls
	__u8 _pad[6];
};

#endif
