// Package flow names which way captured bytes move and which side of a
// connection the traced process is on: the words the HTTP/1 and HTTP/2
// parsers and the tracer share.
package flow

// Direction of a capture relative to the traced process.
type Direction uint8

const (
	Ingress Direction = iota // read, recvfrom, readv
	Egress                   // write, sendto, writev
)

// Role of the traced process on the connection.
type Role uint8

const (
	RoleUnknown Role = iota // decided from the first request line seen
	RoleServer              // requests are Ingress
	RoleClient              // requests are Egress
)
