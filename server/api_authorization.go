package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ecsauthz/ecsauthz/catalog"
	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/identity"
	ecsauthzv1 "github.com/ecsauthz/ecsauthz/proto/gen/ecsauthz/v1"
)

// Limits of the direct API.
const (
	// MaxAPIActions is the maximum number of actions in one CheckActions
	// request. It matches Huawei IAM's limit of 100 actions per statement.
	MaxAPIActions = 100
	// MaxAPIBatchItems is the maximum number of checks in one BatchCheck
	// request. It bounds the work of one call.
	MaxAPIBatchItems = 100
)

// CheckActions decides whether a principal may perform a list of actions.
func (a *API) CheckActions(ctx context.Context, req *ecsauthzv1.CheckActionsRequest) (*ecsauthzv1.CheckActionsResponse, error) {
	return a.checkActions(ctx, req, "")
}

func (a *API) checkActions(ctx context.Context, req *ecsauthzv1.CheckActionsRequest, fieldPrefix string) (*ecsauthzv1.CheckActionsResponse, error) {
	input, urnDomainID, err := a.parseActionsRequest(req, fieldPrefix)
	if err != nil {
		return nil, err
	}

	decisionID := a.ids.next()
	var d evaluator.Decision
	a.decideActions(ctx, req, input, urnDomainID, &d)
	a.logDecision(ctx, "CheckActions", input.Principal.UserID, &d, decisionID)
	return &ecsauthzv1.CheckActionsResponse{Decision: decisionToProto(&d, decisionID)}, nil
}

// parseActionsRequest validates req and returns every problem at once as
// an INVALID_ARGUMENT status. It also returns the domain that the resource
// URN names, "" without one.
func (a *API) parseActionsRequest(req *ecsauthzv1.CheckActionsRequest, prefix string) (*evaluator.ActionsRequest, string, error) {
	var violations fieldViolations
	checkPrincipal(&violations, prefix+"principal", req.GetPrincipal())
	switch n := len(req.GetActions()); {
	case n == 0:
		violations.add(prefix+"actions", "missing: name at least one action")
	case n > MaxAPIActions:
		violations.add(prefix+"actions", fmt.Sprintf("%d actions exceed the maximum of %d", n, MaxAPIActions))
	}
	// Requested actions are concrete names. A pattern such as
	// ecs:cloudServers:* would match Allow statements for any one action
	// while no Deny names the pattern itself.
	for i, name := range req.GetActions() {
		if err := catalog.ValidateActionName(name); err != nil {
			violations.add(fmt.Sprintf("%sactions[%d]", prefix, i), "invalid: "+err.Error())
		}
	}
	if req.GetProjectId() == "" {
		violations.add(prefix+"project_id", "missing")
	}

	urnDomainID := ""
	if urn := req.GetResourceUrn(); urn != "" {
		var problem string
		urnDomainID, problem = a.checkInstanceURN(urn)
		if problem != "" {
			violations.add(prefix+"resource_urn", problem)
		}
	}
	sourceIP, problem := parseSourceIP(req.GetConditionContext().GetSourceIp())
	if problem != "" {
		violations.add(prefix+"condition_context.source_ip", problem)
	}
	if err := violations.err(); err != nil {
		return nil, "", err
	}

	// Enterprise-project grants apply when the request names an enterprise
	// project or a server, whose enterprise project the server registry
	// records.
	return &evaluator.ActionsRequest{
		Actions:                    req.GetActions(),
		ProjectID:                  req.GetProjectId(),
		EnterpriseProjectID:        req.GetEnterpriseProjectId(),
		EnterpriseProjectSupported: req.GetEnterpriseProjectId() != "" || req.GetResourceUrn() != "",
		Resource:                   req.GetResourceUrn(),
		Region:                     a.region,
		SourceIP:                   sourceIP,
		Time:                       a.requestTime(req.GetConditionContext()),
		RequestTags:                req.GetConditionContext().GetRequestTags(),
		Explain:                    true,
	}, urnDomainID, nil
}

// decideActions identifies the caller and decides in, writing the result
// to d.
func (a *API) decideActions(ctx context.Context, req *ecsauthzv1.CheckActionsRequest, in *evaluator.ActionsRequest, urnDomainID string, d *evaluator.Decision) {
	principal, reason, err := a.identifyPrincipal(ctx, req.GetPrincipal(), req.GetProjectId(), req.GetConditionContext())
	if err != nil {
		denyDecision(d, reason)
		return
	}
	in.Principal = principal

	engine, ok := a.policies()
	if !ok || engine == nil {
		denyDecision(d, evaluator.ReasonPolicyUnavailable)
		return
	}
	// A resource of another account is never covered by this account's
	// grants, not even those of its root user.
	if urnDomainID != "" && urnDomainID != principal.DomainID {
		denyDecision(d, evaluator.ReasonImplicitDeny)
		d.Action = in.Actions[0]
		return
	}
	engine.DecideActions(in, d)
}

// CheckHttp decides an HTTP request to the ECS API through the same
// pipeline as the Envoy path.
func (a *API) CheckHttp(ctx context.Context, req *ecsauthzv1.CheckHttpRequest) (*ecsauthzv1.CheckHttpResponse, error) {
	return a.checkHTTPRequest(ctx, req, "")
}

func (a *API) checkHTTPRequest(ctx context.Context, req *ecsauthzv1.CheckHttpRequest, prefix string) (*ecsauthzv1.CheckHttpResponse, error) {
	var violations fieldViolations
	if req.GetMethod() == "" {
		violations.add(prefix+"method", "missing")
	}
	if req.GetPath() == "" {
		violations.add(prefix+"path", "missing")
	}
	if req.GetPrincipal() != nil {
		checkPrincipal(&violations, prefix+"principal", req.GetPrincipal())
	}
	sourceIP, problem := parseSourceIP(req.GetSourceIp())
	if problem != "" {
		violations.add(prefix+"source_ip", problem)
	}
	if err := violations.err(); err != nil {
		return nil, err
	}

	headers := newAPIHeaders(req.GetHeaders())
	in := &HTTPCheck{
		Method:        req.GetMethod(),
		Target:        req.GetPath(),
		Headers:       headers,
		Body:          req.GetBody(),
		BodyTruncated: req.GetBodyTruncated(),
		SourceIP:      sourceIP,
		Explain:       true,
	}
	in.RequestID, _ = headers.Header("x-request-id")
	if err := a.setHTTPPrincipal(req.GetPrincipal(), headers, in); err != nil {
		return nil, err
	}

	var out Outcome
	a.checkHTTP(ctx, in, &out)
	a.logDecision(ctx, "CheckHttp", out.Principal.UserID, &out.Decision, out.DecisionID)
	return &ecsauthzv1.CheckHttpResponse{
		Decision: decisionToProto(&out.Decision, out.DecisionID),
		Route:    routeToProto(out.Route),
		Actions:  actionNames(out.Actions),
		UserId:   out.Principal.UserID,
		DomainId: out.Principal.DomainID,
	}, nil
}

// setHTTPPrincipal applies the request's principal to in. A token replaces
// any authorization header. A user id is looked up in the store and skips
// identity resolution. Its project, for g:ProjectId conditions, is the
// project of the request path.
func (a *API) setHTTPPrincipal(p *ecsauthzv1.Principal, headers apiHeaders, in *HTTPCheck) error {
	switch id := p.GetIdentity().(type) {
	case nil:
		return nil
	case *ecsauthzv1.Principal_Token:
		headers["authorization"] = []string{"Bearer " + id.Token}
		return nil
	case *ecsauthzv1.Principal_UserId:
		principal := a.userPrincipal(id.UserId, nil)
		var res catalog.Resolution
		if a.catalog.Resolve(&catalog.Request{Method: in.Method, Target: in.Target, Body: in.Body, BodyTruncated: in.BodyTruncated}, &res) == nil {
			principal.ProjectID = res.ProjectID
		}
		in.Principal = &principal
		return nil
	default:
		return status.Errorf(codes.InvalidArgument, "principal: unsupported identity %T", id)
	}
}

// BatchCheck runs every item and returns one result per item. A malformed
// item gets an error result and does not fail the others.
func (a *API) BatchCheck(ctx context.Context, req *ecsauthzv1.BatchCheckRequest) (*ecsauthzv1.BatchCheckResponse, error) {
	items := req.GetItems()
	if len(items) > MaxAPIBatchItems {
		return nil, status.Errorf(codes.InvalidArgument, "invalid request: items: %d items exceed the maximum of %d, split them into several calls", len(items), MaxAPIBatchItems)
	}

	resp := &ecsauthzv1.BatchCheckResponse{Results: make([]*ecsauthzv1.BatchCheckResult, len(items))}
	for i, item := range items {
		prefix := fmt.Sprintf("items[%d].", i)
		result := &ecsauthzv1.BatchCheckResult{}
		var err error
		switch check := item.GetCheck().(type) {
		case *ecsauthzv1.BatchCheckItem_CheckActions:
			var r *ecsauthzv1.CheckActionsResponse
			r, err = a.checkActions(ctx, check.CheckActions, prefix+"check_actions.")
			result.Result = &ecsauthzv1.BatchCheckResult_CheckActions{CheckActions: r}
		case *ecsauthzv1.BatchCheckItem_CheckHttp:
			var r *ecsauthzv1.CheckHttpResponse
			r, err = a.checkHTTPRequest(ctx, check.CheckHttp, prefix+"check_http.")
			result.Result = &ecsauthzv1.BatchCheckResult_CheckHttp{CheckHttp: r}
		default:
			err = status.Errorf(codes.InvalidArgument, "invalid request: %scheck: missing: set check_actions or check_http", prefix)
		}
		if err != nil {
			st := status.Convert(err)
			result.Result = &ecsauthzv1.BatchCheckResult_Error{Error: &ecsauthzv1.BatchCheckError{Code: int32(st.Code()), Message: st.Message()}}
		}
		resp.Results[i] = result
	}
	return resp, nil
}

// ResolveRoute resolves a request to its route and actions without a
// principal. A request that does not resolve is a response with
// failure_reason set, not an error.
func (a *API) ResolveRoute(ctx context.Context, req *ecsauthzv1.ResolveRouteRequest) (*ecsauthzv1.ResolveRouteResponse, error) {
	var violations fieldViolations
	if req.GetMethod() == "" {
		violations.add("method", "missing")
	}
	if req.GetPath() == "" {
		violations.add("path", "missing")
	}
	if err := violations.err(); err != nil {
		return nil, err
	}

	var res catalog.Resolution
	err := a.catalog.Resolve(&catalog.Request{
		Method:        req.GetMethod(),
		Target:        req.GetPath(),
		Body:          req.GetBody(),
		BodyTruncated: req.GetBodyTruncated(),
	}, &res)
	if err != nil {
		return &ecsauthzv1.ResolveRouteResponse{
			FailureReason:  apiReasons[routeReason(err)],
			FailureMessage: err.Error(),
		}, nil
	}

	resp := &ecsauthzv1.ResolveRouteResponse{
		Route:               routeToProto(res.Route),
		ProjectId:           res.ProjectID,
		ServerIds:           res.ServerIDs,
		EnterpriseProjectId: res.EnterpriseProjectID,
		AllGrantedEps:       res.AllGrantedEPs,
		Params:              make(map[string]string, len(res.Params())),
	}
	for _, action := range res.Actions {
		resp.Actions = append(resp.Actions, actionToProto(action))
	}
	for _, p := range res.Params() {
		resp.Params[p.Name] = p.Value
	}
	return resp, nil
}

// ListAllowedApis decides every catalog route for a principal in a project.
// It fails with UNAUTHENTICATED when the token is invalid and UNAVAILABLE
// when no usable policy snapshot is loaded, because no route can be
// decided then.
func (a *API) ListAllowedApis(ctx context.Context, req *ecsauthzv1.ListAllowedApisRequest) (*ecsauthzv1.ListAllowedApisResponse, error) {
	var violations fieldViolations
	checkPrincipal(&violations, "principal", req.GetPrincipal())
	if req.GetProjectId() == "" {
		violations.add("project_id", "missing")
	}
	sourceIP, problem := parseSourceIP(req.GetConditionContext().GetSourceIp())
	if problem != "" {
		violations.add("condition_context.source_ip", problem)
	}
	if err := violations.err(); err != nil {
		return nil, err
	}

	principal, reason, err := a.identifyPrincipal(ctx, req.GetPrincipal(), req.GetProjectId(), req.GetConditionContext())
	if err != nil {
		return nil, status.Errorf(codes.Unauthenticated, "failed to identify principal: %s", reason)
	}
	engine, ok := a.policies()
	if !ok || engine == nil {
		return nil, status.Error(codes.Unavailable, "no usable policy snapshot is loaded, retry later")
	}

	evaluation := evaluator.Request{
		Principal:   principal,
		Region:      a.region,
		SourceIP:    sourceIP,
		Time:        a.requestTime(req.GetConditionContext()),
		RequestTags: req.GetConditionContext().GetRequestTags(),
	}
	resp := &ecsauthzv1.ListAllowedApisResponse{}
	for _, route := range a.catalog.Routes() {
		api := a.decideRoute(route, req, &evaluation, engine)
		if api.Allowed || req.GetIncludeDenied() {
			resp.Apis = append(resp.Apis, api)
		}
	}
	return resp, nil
}

// decideRoute decides the actions that every request to route requires.
// Routes whose actions all come from a body rule cannot be decided without
// a body and are reported as denied with reason body_required.
func (a *API) decideRoute(route *catalog.Route, req *ecsauthzv1.ListAllowedApisRequest, evaluation *evaluator.Request, engine Decider) *ecsauthzv1.AllowedApi {
	api := &ecsauthzv1.AllowedApi{Route: routeToProto(route)}
	if len(route.Actions) == 0 {
		api.Reason = ecsauthzv1.DecisionReason_DECISION_REASON_BODY_REQUIRED
		return api
	}

	res := catalog.Resolution{Route: route, Actions: route.Actions, ProjectID: req.GetProjectId()}
	if route.EnterpriseProject {
		res.EnterpriseProjectID = req.GetEnterpriseProjectId()
	}
	evaluation.Resolution = &res
	var d evaluator.Decision
	engine.Decide(evaluation, &d)

	api.Allowed = d.Allowed
	api.DeniedAction = d.Action
	api.Reason = apiReasons[d.Reason]
	return api
}

// identifyPrincipal returns the evaluator principal for p. On failure it
// returns the denial reason and the underlying error, which is for logs
// only.
func (a *API) identifyPrincipal(ctx context.Context, p *ecsauthzv1.Principal, projectID string, cond *ecsauthzv1.ConditionContext) (evaluator.Principal, evaluator.Reason, error) {
	if token, ok := p.GetIdentity().(*ecsauthzv1.Principal_Token); ok {
		input := identity.Input{
			Headers:       apiHeaders{"authorization": {"Bearer " + token.Token}},
			PathProjectID: projectID,
		}
		principal, err := a.identity.Identify(ctx, &input)
		if err != nil {
			a.logger.LogAttrs(ctx, slog.LevelDebug, "api identification failed", slog.String("error", err.Error()))
			return evaluator.Principal{}, identityReason(err), err
		}
		return principal, "", nil
	}

	principal := a.userPrincipal(p.GetUserId(), cond)
	principal.ProjectID = projectID
	return principal, "", nil
}

// userPrincipal builds the principal of a user named by id. A user unknown
// to the store gets a principal without a domain, which no grant covers,
// so every action is denied implicitly.
func (a *API) userPrincipal(userID string, cond *ecsauthzv1.ConditionContext) evaluator.Principal {
	principal := evaluator.Principal{UserID: userID, MFAAge: -1}
	if user, ok := a.lookupUser(userID); ok {
		principal.UserName = user.Name
		principal.DomainID = user.DomainID
		principal.DomainName = user.DomainName
	}
	if cond == nil {
		return principal
	}
	if cond.MfaPresent != nil {
		principal.MFAPresent = cond.GetMfaPresent()
	}
	if cond.MfaAgeSeconds != nil {
		principal.MFAAge = cond.GetMfaAgeSeconds()
	}
	return principal
}

func (a *API) requestTime(cond *ecsauthzv1.ConditionContext) time.Time {
	if cond.GetCurrentTime() != nil {
		return cond.GetCurrentTime().AsTime()
	}
	return a.now()
}

// checkInstanceURN checks an instance URN of the form
// "ecs:<region>:<domain_id>:instance:<server_id>" and returns its domain
// id. It returns a description of the problem when the URN is malformed or
// names another region.
func (a *API) checkInstanceURN(urn string) (domainID, problem string) {
	parts := strings.Split(urn, ":")
	if len(parts) != 5 || !strings.EqualFold(parts[0], "ecs") || parts[2] == "" || parts[3] != "instance" || parts[4] == "" {
		return "", fmt.Sprintf("invalid URN %q: expected ecs:<region>:<domain_id>:instance:<server_id>", urn)
	}
	if a.region != "" && parts[1] != a.region {
		return "", fmt.Sprintf("URN %q names region %q, but this server decides for region %q", urn, parts[1], a.region)
	}
	return parts[2], ""
}

func checkPrincipal(v *fieldViolations, field string, p *ecsauthzv1.Principal) {
	switch {
	case p.GetIdentity() == nil:
		v.add(field, "missing: set user_id or token")
	case p.GetUserId() == "" && p.GetToken() == "":
		v.add(field, "empty user_id or token")
	}
}

func parseSourceIP(text string) (netip.Addr, string) {
	if text == "" {
		return netip.Addr{}, ""
	}
	addr, err := netip.ParseAddr(text)
	if err != nil {
		return netip.Addr{}, fmt.Sprintf("invalid IP address %q", text)
	}
	return addr, ""
}

func denyDecision(d *evaluator.Decision, reason evaluator.Reason) {
	*d = evaluator.Decision{Reason: reason, Statement: -1}
}
