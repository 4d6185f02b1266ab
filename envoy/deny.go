package envoy

import (
	"strings"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// denyRow is one row of the deny table: what the client sees for a reason.
type denyRow struct {
	httpStatus typev3.StatusCode
	grpcCode   codes.Code
	// errorCode and message fill the ECS error body
	// {"error":{"code":"...","message":"..."}}. A message containing %s is
	// a policy deny, and %s becomes the denied action.
	errorCode string
	message   string
}

// denyTable maps every deny reason to its response. Envoy uses the HTTP
// status of denied_response and ignores the gRPC code except that any
// non-OK code means deny, so the gRPC code only distinguishes
// UNAUTHENTICATED in logs and metrics.
//
// Pdp.0001, Ecs.0023, Ecs.0005 and Common.0013 are the codes ECS itself
// returns for these cases. The Ecsauthz.* codes are ours, for cases ECS
// has no code for.
//
// The 5xx statuses are still denials: in gRPC mode Envoy applies
// failure_mode_allow only when the call fails, never to a CheckResponse.
// deadline_exceeded gets 504 because the decision was not made, and a retry
// may succeed.
var denyTable = map[evaluator.Reason]denyRow{
	evaluator.ReasonExplicitDeny: {typev3.StatusCode_Forbidden, codes.PermissionDenied,
		"Pdp.0001", "Policy doesn't allow %s to be performed."},
	evaluator.ReasonImplicitDeny: {typev3.StatusCode_Forbidden, codes.PermissionDenied,
		"Pdp.0001", "Policy doesn't allow %s to be performed."},
	evaluator.ReasonUnknownRoute: {typev3.StatusCode_Forbidden, codes.PermissionDenied,
		"Ecsauthz.0001", "The API is not in the authorization catalog."},
	evaluator.ReasonUnauthenticated: {typev3.StatusCode_Unauthorized, codes.Unauthenticated,
		"Common.0013", "Invalid token."},
	evaluator.ReasonInvalidPath: {typev3.StatusCode_BadRequest, codes.PermissionDenied,
		"Ecs.0005", "The request path is invalid."},
	evaluator.ReasonInvalidRequest: {typev3.StatusCode_BadRequest, codes.PermissionDenied,
		"Ecs.0005", "The request is invalid."},
	evaluator.ReasonBodyRequired: {typev3.StatusCode_BadRequest, codes.PermissionDenied,
		"Ecs.0005", "The request body is missing or invalid."},
	evaluator.ReasonBodyTruncated: {typev3.StatusCode_BadRequest, codes.PermissionDenied,
		"Ecs.0005", "The request body is too large to authorize."},
	evaluator.ReasonProjectMismatch: {typev3.StatusCode_BadRequest, codes.PermissionDenied,
		"Ecs.0023", "project_id in token mismatches with project_id in url."},
	evaluator.ReasonPolicyUnavailable: {typev3.StatusCode_ServiceUnavailable, codes.PermissionDenied,
		"Ecsauthz.0002", "Authorization is temporarily unavailable. Retry later."},
	evaluator.ReasonDeadlineExceeded: {typev3.StatusCode_GatewayTimeout, codes.PermissionDenied,
		"Ecsauthz.0003", "Authorization timed out. Retry later."},
}

// denyTemplate is a denyRow prepared as protobuf messages.
type denyTemplate struct {
	status     *rpcstatus.Status
	httpStatus *typev3.HttpStatus
	// fixed holds the headers every deny of this reason carries.
	fixed []*corev3.HeaderValueOption
	// body is the complete JSON body, or "" for a policy deny, whose body
	// names the action and is built per request from bodyPrefix and
	// bodySuffix.
	body       string
	bodyPrefix string
	bodySuffix string
}

func (p *Responder) newDenyTemplate(reason evaluator.Reason, row denyRow) *denyTemplate {
	template := &denyTemplate{
		status:     &rpcstatus.Status{Code: int32(row.grpcCode), Message: string(reason)},
		httpStatus: &typev3.HttpStatus{Code: row.httpStatus},
	}
	template.fixed = []*corev3.HeaderValueOption{
		p.headerOption("content-type", "application/json"),
		p.headerOption(ReasonHeader, string(reason)),
	}
	if row.grpcCode == codes.Unauthenticated {
		// A 401 response must carry a challenge (RFC 9110, section 15.5.2).
		template.fixed = append(template.fixed, p.headerOption("www-authenticate", "Bearer"))
	}

	before, after, policyDeny := strings.Cut(row.message, "%s")
	prefix := `{"error":{"code":"` + row.errorCode + `","message":"`
	if policyDeny {
		template.bodyPrefix = prefix + before
		template.bodySuffix = after + `"}}`
	} else {
		template.body = prefix + row.message + `"}}`
	}
	return template
}

func (p *Responder) headerOption(name, value string) *corev3.HeaderValueOption {
	option := &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: name, Value: value}}
	p.setOverwrite(option)
	return option
}

// deniedResponse holds every message of one deny response, so building it
// costs one allocation plus the body of a policy deny.
type deniedResponse struct {
	response   authv3.CheckResponse
	oneof      authv3.CheckResponse_DeniedResponse
	denied     authv3.DeniedHttpResponse
	httpStatus typev3.HttpStatus
	pointers   [5]*corev3.HeaderValueOption
	options    [2]corev3.HeaderValueOption
	values     [2]corev3.HeaderValue
}

func (p *Responder) deny(r *Result) *authv3.CheckResponse {
	template, known := p.denies[r.Reason]
	if !known {
		template = p.fallback
	}

	block := &deniedResponse{}
	headers := append(block.pointers[:0], template.fixed...)
	if !known && r.Reason != "" {
		// An unrecognised reason gets the implicit-deny response, but the
		// header still reports the reason the caller passed.
		headers[1] = p.headerOption(ReasonHeader, string(r.Reason))
	}
	count := 0
	add := func(name, value string) {
		block.values[count] = corev3.HeaderValue{Key: name, Value: value}
		option := &block.options[count]
		option.Header = &block.values[count]
		p.setOverwrite(option)
		headers = append(headers, option)
		count++
	}
	if r.DeniedAction != "" && isPlainJSONString(r.DeniedAction) {
		add(DeniedActionHeader, r.DeniedAction)
	}
	if r.DecisionID != "" {
		add(DecisionIDHeader, r.DecisionID)
	}

	block.denied.Headers = headers
	block.denied.Status = template.httpStatus
	if r.HTTPStatus > 0 {
		block.httpStatus.Code = typev3.StatusCode(r.HTTPStatus)
		block.denied.Status = &block.httpStatus
	}
	block.denied.Body = template.body
	if template.body == "" {
		block.denied.Body = policyDenyBody(template, r.DeniedAction)
	}

	block.oneof.DeniedResponse = &block.denied
	block.response.Status = template.status
	block.response.HttpResponse = &block.oneof
	return &block.response
}

// policyDenyBody builds the Pdp.0001 body naming the action. An action name
// that is not plain printable ASCII without quotes or backslashes is
// replaced by a generic phrase, so the body is always valid JSON.
func policyDenyBody(template *denyTemplate, action string) string {
	if action == "" || !isPlainJSONString(action) {
		action = "the action"
	}
	return template.bodyPrefix + action + template.bodySuffix
}

func isPlainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
