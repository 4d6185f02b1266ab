package envoy

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// Headers that ecsauthz sets on requests it allows. The upstream may trust
// them because every allow response either overwrites them or lists them in
// headers_to_remove, so a value sent by the client never reaches it.
const (
	UserIDHeader       = "x-ecsauthz-user-id"
	DomainIDHeader     = "x-ecsauthz-domain-id"
	GrantedEPsHeader   = "x-ecsauthz-granted-eps"
	DecisionIDHeader   = "x-ecsauthz-decision-id"
	ReasonHeader       = "x-ecsauthz-reason"
	DeniedActionHeader = "x-ecsauthz-denied-action"
)

// Result is the decision that [Responder.Response] turns into a
// CheckResponse.
type Result struct {
	Allowed bool
	// Reason is the stable reason code. It is sent in the x-ecsauthz-reason
	// header of a deny.
	Reason evaluator.Reason
	// DeniedAction is the first action the policy denied, "" when unknown.
	DeniedAction string
	// DecisionID correlates the response with the decision log line.
	DecisionID string
	// UserID and DomainID identify the caller of an allowed request.
	UserID   string
	DomainID string
	// AllGrantedEPs is true for a list request with
	// enterprise_project_id=all_granted_eps. The allow response then carries
	// GrantedEnterpriseProjects in x-ecsauthz-granted-eps, even when empty.
	AllGrantedEPs             bool
	GrantedEnterpriseProjects []string
	// HTTPStatus overrides the HTTP status of a deny; 0 keeps the status
	// from the reason table.
	HTTPStatus int
}

// ResponseConfig sets how a [Responder] builds responses.
type ResponseConfig struct {
	// UnknownRouteNotFound sends 404 instead of 403 for unknown_route.
	// Default false, so a caller cannot probe which APIs exist.
	UnknownRouteNotFound bool
	// TrustedHeaders are identity headers that a trusted proxy may set
	// (see the identity package's header source). Every allow response
	// removes them before the request reaches the upstream.
	TrustedHeaders []string
}

// Responder builds CheckResponses. The parts that never vary are built
// once, and the responses it returns share them, so callers must not modify
// a returned response. A Responder is safe for concurrent use.
type Responder struct {
	denies       map[evaluator.Reason]*denyTemplate
	fallback     *denyTemplate
	allowStatus  *rpcstatus.Status
	keepExisting *wrapperspb.BoolValue
	// removeAll is sent when the response sets no granted-EP header, and
	// removeTrusted when it does.
	removeAll     []string
	removeTrusted []string
	// wire holds the same invariant parts serialized, for AppendResponse.
	wire *wireTemplates
}

var defaultResponder = NewResponder(ResponseConfig{})

// Response builds the CheckResponse for r with the default configuration:
// 403 for unknown routes and no trusted identity headers.
func Response(r *Result) *authv3.CheckResponse {
	return defaultResponder.Response(r)
}

// NewResponder builds a Responder for conf.
func NewResponder(conf ResponseConfig) *Responder {
	responder := &Responder{
		denies:       make(map[evaluator.Reason]*denyTemplate, len(denyTable)),
		allowStatus:  &rpcstatus.Status{Code: int32(codes.OK)},
		keepExisting: wrapperspb.Bool(false),
	}
	for reason, row := range denyTable {
		if reason == evaluator.ReasonUnknownRoute && conf.UnknownRouteNotFound {
			row.httpStatus = typev3.StatusCode_NotFound
		}
		responder.denies[reason] = responder.newDenyTemplate(reason, row)
	}
	responder.fallback = responder.denies[evaluator.ReasonImplicitDeny]

	// Envoy applies headers_to_remove after the headers to set (Filter::
	// onComplete in source/extensions/filters/http/ext_authz/ext_authz.cc),
	// so a header this response sets must not be listed here or Envoy would
	// drop it. Overwriting already replaces every client-sent value.
	trusted := make([]string, 0, len(conf.TrustedHeaders))
	for _, name := range conf.TrustedHeaders {
		name = strings.ToLower(name)
		switch name {
		case UserIDHeader, DomainIDHeader, DecisionIDHeader, GrantedEPsHeader:
			// Every allow response overwrites these already.
			continue
		}
		trusted = append(trusted, name)
	}
	responder.removeTrusted = trusted
	responder.removeAll = append([]string{GrantedEPsHeader}, trusted...)
	responder.buildWire()
	return responder
}

// Response builds the CheckResponse for r: status OK with ok_response for
// an allow, and a non-OK status with denied_response for every deny.
func (p *Responder) Response(r *Result) *authv3.CheckResponse {
	if r.Allowed {
		return p.allow(r)
	}
	return p.deny(r)
}

// setOverwrite makes option replace every existing value of its header.
// Both fields are set because Envoy releases differ in which one they read
// in source/extensions/filters/common/ext_authz/ext_authz_grpc_impl.cc:
// older ones read only the deprecated append field, newer ones switch on
// append_action.
func (p *Responder) setOverwrite(option *corev3.HeaderValueOption) {
	//lint:ignore SA1019 append is deprecated but still read by the Envoy releases described above.
	option.Append = p.keepExisting
	option.AppendAction = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
}

// allowResponse holds every message of one allow response, so building it
// costs one allocation.
type allowResponse struct {
	response authv3.CheckResponse
	oneof    authv3.CheckResponse_OkResponse
	ok       authv3.OkHttpResponse
	pointers [4]*corev3.HeaderValueOption
	options  [4]corev3.HeaderValueOption
	values   [4]corev3.HeaderValue
}

func (p *Responder) allow(r *Result) *authv3.CheckResponse {
	block := &allowResponse{}
	count := 0
	add := func(name, value string, keepEmpty bool) {
		block.values[count] = corev3.HeaderValue{Key: name, Value: value}
		option := &block.options[count]
		option.Header = &block.values[count]
		p.setOverwrite(option)
		option.KeepEmptyValue = keepEmpty
		block.pointers[count] = option
		count++
	}

	// Empty identity values are still sent, so a client-sent value is
	// always overwritten.
	add(UserIDHeader, r.UserID, true)
	add(DomainIDHeader, r.DomainID, true)
	add(DecisionIDHeader, r.DecisionID, true)
	block.ok.HeadersToRemove = p.removeAll
	if r.AllGrantedEPs {
		add(GrantedEPsHeader, strings.Join(r.GrantedEnterpriseProjects, ","), true)
		block.ok.HeadersToRemove = p.removeTrusted
	}

	block.ok.Headers = block.pointers[:count]
	block.oneof.OkResponse = &block.ok
	block.response.Status = p.allowStatus
	block.response.HttpResponse = &block.oneof
	return &block.response
}
