package server

import (
	"context"
	"sync"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/ecsauthz/ecsauthz/envoy"
	"github.com/ecsauthz/ecsauthz/evaluator"
)

// Authorization serves Envoy's ext_authz gRPC service on top of a
// [Checker].
//
// Every request gets a CheckResponse, a deny one for a malformed request
// or an expired deadline. Envoy treats a gRPC error as a failure of the
// authorization server, and with failure_mode_allow: true it would let the
// request through (envoy.extensions.filters.http.ext_authz.v3.ExtAuthz).
// Only a panic, recovered by the interceptor chain, becomes an error.
type Authorization struct {
	checker   *Checker
	responder *envoy.Responder
	states    sync.Pool
}

var _ authv3.AuthorizationServer = (*Authorization)(nil)

// AuthorizationOptions configure the responses of an [Authorization].
type AuthorizationOptions struct {
	// UnknownRouteNotFound makes the response to an unknown route a 404
	// instead of a 403.
	UnknownRouteNotFound bool
	// TrustedHeaders are identity headers that every allow response removes
	// before the request reaches the upstream.
	TrustedHeaders []string
}

// authorizationState contains the per-call values, pooled so that a call
// allocates none of them.
type authorizationState struct {
	request envoy.Request
	check   HTTPCheck
	outcome Outcome
	result  envoy.Result
}

// NewAuthorization returns the Envoy Authorization service over checker.
func NewAuthorization(checker *Checker, opts AuthorizationOptions) *Authorization {
	a := &Authorization{
		checker: checker,
		responder: envoy.NewResponder(envoy.ResponseConfig{
			UnknownRouteNotFound: opts.UnknownRouteNotFound,
			TrustedHeaders:       opts.TrustedHeaders,
		}),
	}
	a.states.New = func() any { return new(authorizationState) }
	return a
}

// Check decides one request that Envoy forwards. It never returns an error.
func (a *Authorization) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	state := a.states.Get().(*authorizationState)
	defer a.release(state)

	err := envoy.ParseCheckRequest(req, &state.request)
	return a.decide(ctx, state, err), nil
}

// CheckWire decides one request from the wire form of its CheckRequest. It
// reads only the fields the decision needs, without decoding the whole
// message, and never returns an error.
func (a *Authorization) CheckWire(ctx context.Context, req *envoy.RawCheckRequest) (*authv3.CheckResponse, error) {
	state := a.states.Get().(*authorizationState)
	defer a.release(state)

	err := envoy.ParseCheckRequestWire(req.Wire, &state.request)
	return a.decide(ctx, state, err), nil
}

// CheckEncoded is CheckWire with the CheckResponse in wire form, from
// [envoy.Responder.EncodeResponse], so that [envoy.Codec] sends it without
// proto.Marshal. It never returns an error.
func (a *Authorization) CheckEncoded(ctx context.Context, req *envoy.RawCheckRequest) (any, error) {
	state := a.states.Get().(*authorizationState)
	defer a.release(state)

	err := envoy.ParseCheckRequestWire(req.Wire, &state.request)
	a.decideResult(ctx, state, err)
	return a.responder.EncodeResponse(&state.result), nil
}

// wireAuthorization serves [Authorization.CheckWire] as the Check method
// of envoy.RegisterRawAuthorizationServer. Its promoted CheckEncoded method
// makes it an [envoy.EncodingAuthorizationServer], so the service calls
// CheckEncoded and the codec sends the response bytes without proto.Marshal.
type wireAuthorization struct {
	*Authorization
}

var _ envoy.EncodingAuthorizationServer = wireAuthorization{}

func (w wireAuthorization) Check(ctx context.Context, req *envoy.RawCheckRequest) (*authv3.CheckResponse, error) {
	return w.CheckWire(ctx, req)
}

// decide runs the checker on the parsed request, or rejects it when parseErr
// is set, and returns the CheckResponse.
func (a *Authorization) decide(ctx context.Context, state *authorizationState, parseErr error) *authv3.CheckResponse {
	a.decideResult(ctx, state, parseErr)
	return a.responder.Response(&state.result)
}

// decideResult runs the checker on the parsed request, or rejects it when
// parseErr is set, and stores the decision in state.result.
func (a *Authorization) decideResult(ctx context.Context, state *authorizationState, parseErr error) {
	if parseErr != nil {
		a.checker.Reject(ctx, nil, evaluator.ReasonInvalidRequest, parseErr, &state.outcome)
	} else {
		r := &state.request
		state.check = HTTPCheck{
			Method:          r.Method,
			Target:          r.Target,
			Headers:         &r.Headers,
			Body:            r.Body,
			BodyTruncated:   r.BodyTruncated,
			SourceIP:        r.SourceIP,
			SourcePrincipal: r.SourcePrincipal,
			JWTAuthn:        r.JWTAuthn,
			RequestID:       r.RequestID,
		}
		a.checker.CheckHTTP(ctx, &state.check, &state.outcome)
	}

	out := &state.outcome
	state.result = envoy.Result{
		Allowed:                   out.Decision.Allowed,
		Reason:                    out.Decision.Reason,
		DeniedAction:              out.Decision.Action,
		DecisionID:                out.DecisionID,
		UserID:                    out.Principal.UserID,
		DomainID:                  out.Principal.DomainID,
		AllGrantedEPs:             out.AllGrantedEPs,
		GrantedEnterpriseProjects: out.Decision.GrantedEnterpriseProjects,
	}
}

// release returns state to the pool. The parsed request is kept, because
// ParseCheckRequestWire reuses its header storage and resets the rest.
func (a *Authorization) release(state *authorizationState) {
	state.check = HTTPCheck{}
	state.outcome = Outcome{}
	state.result = envoy.Result{}
	a.states.Put(state)
}
