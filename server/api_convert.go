package server

import (
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ecsauthz/ecsauthz/catalog"
	"github.com/ecsauthz/ecsauthz/evaluator"
	ecsauthzv1 "github.com/ecsauthz/ecsauthz/proto/gen/ecsauthz/v1"
)

// apiReasons maps evaluator reasons to their proto enum values. A reason
// missing here is sent as DECISION_REASON_UNSPECIFIED.
var apiReasons = map[evaluator.Reason]ecsauthzv1.DecisionReason{
	evaluator.ReasonAllowed:           ecsauthzv1.DecisionReason_DECISION_REASON_ALLOWED,
	evaluator.ReasonExplicitDeny:      ecsauthzv1.DecisionReason_DECISION_REASON_EXPLICIT_DENY,
	evaluator.ReasonImplicitDeny:      ecsauthzv1.DecisionReason_DECISION_REASON_IMPLICIT_DENY,
	evaluator.ReasonUnknownRoute:      ecsauthzv1.DecisionReason_DECISION_REASON_UNKNOWN_ROUTE,
	evaluator.ReasonUnauthenticated:   ecsauthzv1.DecisionReason_DECISION_REASON_UNAUTHENTICATED,
	evaluator.ReasonInvalidPath:       ecsauthzv1.DecisionReason_DECISION_REASON_INVALID_PATH,
	evaluator.ReasonInvalidRequest:    ecsauthzv1.DecisionReason_DECISION_REASON_INVALID_REQUEST,
	evaluator.ReasonBodyRequired:      ecsauthzv1.DecisionReason_DECISION_REASON_BODY_REQUIRED,
	evaluator.ReasonBodyTruncated:     ecsauthzv1.DecisionReason_DECISION_REASON_BODY_TRUNCATED,
	evaluator.ReasonProjectMismatch:   ecsauthzv1.DecisionReason_DECISION_REASON_PROJECT_MISMATCH,
	evaluator.ReasonPolicyUnavailable: ecsauthzv1.DecisionReason_DECISION_REASON_POLICY_UNAVAILABLE,
	evaluator.ReasonDeadlineExceeded:  ecsauthzv1.DecisionReason_DECISION_REASON_DEADLINE_EXCEEDED,
}

// apiScopes maps grant scopes to their proto enum values and back.
var apiScopes = map[evaluator.ScopeKind]ecsauthzv1.GrantScope{
	evaluator.ScopeDomain:            ecsauthzv1.GrantScope_GRANT_SCOPE_DOMAIN,
	evaluator.ScopeProject:           ecsauthzv1.GrantScope_GRANT_SCOPE_PROJECT,
	evaluator.ScopeEnterpriseProject: ecsauthzv1.GrantScope_GRANT_SCOPE_ENTERPRISE_PROJECT,
	evaluator.ScopeGlobal:            ecsauthzv1.GrantScope_GRANT_SCOPE_GLOBAL,
}

func scopeFromProto(s ecsauthzv1.GrantScope) (evaluator.ScopeKind, bool) {
	for kind, value := range apiScopes {
		if value == s {
			return kind, true
		}
	}
	return 0, false
}

func decisionToProto(d *evaluator.Decision, decisionID string) *ecsauthzv1.Decision {
	out := &ecsauthzv1.Decision{
		Allowed:                   d.Allowed,
		Reason:                    apiReasons[d.Reason],
		DeniedAction:              d.Action,
		Policy:                    d.Policy,
		Statement:                 int32(d.Statement),
		GrantedEnterpriseProjects: d.GrantedEnterpriseProjects,
		DecisionId:                decisionID,
	}
	for _, o := range d.Outcomes {
		outcome := &ecsauthzv1.ActionOutcome{Action: o.Action, Allowed: o.Allowed, Reason: apiReasons[o.Reason]}
		for _, m := range o.Matched {
			outcome.Matched = append(outcome.Matched, &ecsauthzv1.StatementRef{
				Policy:    m.Policy,
				Statement: int32(m.Statement),
				Effect:    m.Effect,
				Scope:     apiScopes[m.Scope],
				ScopeId:   m.ScopeID,
			})
		}
		out.Outcomes = append(out.Outcomes, outcome)
	}
	return out
}

func actionToProto(a *catalog.Action) *ecsauthzv1.Action {
	return &ecsauthzv1.Action{Name: a.Name, Aliases: a.Aliases}
}

func routeToProto(r *catalog.Route) *ecsauthzv1.Route {
	if r == nil {
		return nil
	}
	out := &ecsauthzv1.Route{
		Method:            r.Method,
		Path:              r.Path,
		DescriptionEn:     r.DescriptionEN,
		DescriptionZh:     r.DescriptionZH,
		EnterpriseProject: r.EnterpriseProject,
		Instance:          r.Instance,
		Tag:               r.Tag,
		ProjectParam:      r.ProjectParam,
		ResourceParam:     r.ResourceParam,
	}
	for _, a := range r.Actions {
		out.Actions = append(out.Actions, actionToProto(a))
	}
	return out
}

func actionNames(actions []*catalog.Action) []string {
	names := make([]string, len(actions))
	for i, a := range actions {
		names[i] = a.Name
	}
	return names
}

// fieldViolations collects the problems of one request, so that a caller
// learns every invalid field at once.
type fieldViolations []*errdetails.BadRequest_FieldViolation

func (v *fieldViolations) add(field, description string) {
	*v = append(*v, &errdetails.BadRequest_FieldViolation{Field: field, Description: description})
}

// err returns nil when there are no violations, and otherwise an
// INVALID_ARGUMENT status whose message lists every violation and whose
// details carry a google.rpc.BadRequest.
func (v fieldViolations) err() error {
	if len(v) == 0 {
		return nil
	}
	parts := make([]string, len(v))
	for i, fv := range v {
		parts[i] = fv.Field + ": " + fv.Description
	}
	st := status.New(codes.InvalidArgument, "invalid request: "+strings.Join(parts, "; "))
	if detailed, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: v}); err == nil {
		st = detailed
	}
	return st.Err()
}

// apiHeaders implements [identity.Headers] over request headers. Names are
// lower-cased when the value is built.
type apiHeaders map[string][]string

func newAPIHeaders(headers map[string]string) apiHeaders {
	h := make(apiHeaders, len(headers)+1)
	for name, value := range headers {
		lower := strings.ToLower(name)
		h[lower] = append(h[lower], value)
	}
	return h
}

// Header returns the first value of the named header and how many values
// it has.
func (h apiHeaders) Header(name string) (string, int) {
	values := h[name]
	if len(values) == 0 {
		return "", 0
	}
	return values[0], len(values)
}
