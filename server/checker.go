package server

import (
	"context"
	"net/netip"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/ecsauthz/ecsauthz/catalog"
	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/identity"
)

// HTTPCheck is one HTTP request to authorize, independent of the transport
// that carried it (Envoy's CheckRequest or the direct gRPC API).
type HTTPCheck struct {
	Method string
	// Target is the raw request target, query included, not decoded.
	Target          string
	Headers         identity.Headers
	Body            []byte
	BodyTruncated   bool
	SourceIP        netip.Addr
	SourcePrincipal string
	// JWTAuthn is the envoy.filters.http.jwt_authn metadata struct, or nil.
	JWTAuthn *structpb.Struct
	// RequestID correlates logs, usually the x-request-id header.
	RequestID string
	Explain   bool
}

// Outcome is the result of [Checker.CheckHTTP]. Decision.Reason is always
// set; Route and Actions are set once the route resolved, Principal once the
// caller was identified.
type Outcome struct {
	Decision   evaluator.Decision
	Route      *catalog.Route
	Actions    []*catalog.Action
	Principal  evaluator.Principal
	DecisionID string
	// Err is the underlying error of a non-policy denial (bad path, bad
	// token, ...), for logs only; it is never sent to the caller.
	Err error
}

// CheckHTTPFunc is the signature of [Checker.CheckHTTP], for adapters that
// only need the decision.
type CheckHTTPFunc func(ctx context.Context, in *HTTPCheck, out *Outcome)
