// Package identity establishes who is calling: from a bearer JWT verified
// against a JWKS, from the payload Envoy's jwt_authn filter verified, from the
// mTLS peer principal, or from a trusted header where explicitly enabled.
package identity

import (
	"errors"

	"google.golang.org/protobuf/types/known/structpb"
)

// Sentinel errors returned by [Resolver.Identify].
var (
	// ErrUnauthenticated means no configured source produced a valid identity.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrProjectMismatch means the token's project differs from the project
	// in the request path.
	ErrProjectMismatch = errors.New("project mismatch")
)

// Headers gives read access to request headers without copying them.
type Headers interface {
	// Header returns the value of the named header (lower-case name) and the
	// number of times it occurred; count is 0 when absent. Envoy joins
	// repeated headers with a comma into one value, so callers must also
	// treat a comma-joined credential as ambiguous.
	Header(name string) (value string, count int)
}

// Input is the caller information that the request side extracted.
type Input struct {
	Headers Headers
	// SourcePrincipal is the mTLS peer identity (a SPIFFE ID), "" without TLS.
	SourcePrincipal string
	// JWTAuthn is the filter_metadata["envoy.filters.http.jwt_authn"] struct,
	// nil when absent.
	JWTAuthn *structpb.Struct
	// PathProjectID is the project id from the request path, "" if none.
	PathProjectID string
}
