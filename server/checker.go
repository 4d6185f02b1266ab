package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	// Principal, when non-nil, is a caller that the transport already
	// identified (a trusted direct API caller naming a user id). CheckHTTP
	// then skips identity resolution and uses it as is.
	Principal *evaluator.Principal
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
	// AllGrantedEPs is true for a list request with
	// enterprise_project_id=all_granted_eps. Decision.GrantedEnterpriseProjects
	// then lists the granted enterprise projects.
	AllGrantedEPs bool
	// Err is the underlying error of a non-policy denial (bad path, bad
	// token, ...), for logs only; it is never sent to the caller.
	Err error
}

// CheckHTTPFunc is the signature of [Checker.CheckHTTP], for adapters that
// only need the decision.
type CheckHTTPFunc func(ctx context.Context, in *HTTPCheck, out *Outcome)

// RouteResolver resolves a request to its catalog route and required
// actions. [*catalog.Catalog] implements it.
type RouteResolver interface {
	Resolve(req *catalog.Request, res *catalog.Resolution) error
}

// Identifier establishes the caller of a request. [*identity.Resolver]
// implements it.
type Identifier interface {
	Identify(ctx context.Context, in *identity.Input) (evaluator.Principal, error)
}

// Decider decides one request against a compiled policy set.
// [*evaluator.Engine] implements it.
type Decider interface {
	Decide(req *evaluator.Request, d *evaluator.Decision)
}

// CheckerOptions are the components a [Checker] runs a request through.
// Catalog, Identity and Policies are required.
type CheckerOptions struct {
	Catalog  RouteResolver
	Identity Identifier
	// Policies returns the current policy engine and whether it may be used.
	// It returns false before the first snapshot is loaded and when the
	// snapshot is older than the configured maximum staleness.
	Policies func() (Decider, bool)
	// Region is the region name used in resource URNs, e.g. "region-1".
	Region string
	// Logger receives one Debug record per decision. Nil discards them.
	Logger *slog.Logger
	// Registerer receives the decision metrics. Nil registers nothing.
	Registerer prometheus.Registerer
	// Now returns the decision time. Nil means the time the check started.
	Now func() time.Time
}

// Checker runs one HTTP request through the decision pipeline: route
// resolution, caller identification and policy evaluation. It is safe for
// concurrent use.
type Checker struct {
	catalog  RouteResolver
	identity Identifier
	policies func() (Decider, bool)
	region   string
	logger   *slog.Logger
	now      func() time.Time
	metrics  *checkMetrics
	ids      *decisionIDs
	states   sync.Pool

	// unavailable counts policy_unavailable denials since the last warning,
	// and lastWarning is the Unix time in nanoseconds of that warning.
	unavailable atomic.Int64
	lastWarning atomic.Int64
}

// unavailableWarningInterval is the minimum time between two warnings about
// checks denied for lack of a usable policy snapshot.
const unavailableWarningInterval = 10 * time.Second

// checkState contains the per-request values that the pipeline passes by
// pointer, pooled so that a check allocates none of them.
type checkState struct {
	start           time.Time
	routeRequest    catalog.Request
	resolution      catalog.Resolution
	identityInput   identity.Input
	evaluationInput evaluator.Request
}

// NewChecker returns a Checker over the given components, or an error naming
// the first missing required option.
func NewChecker(opts CheckerOptions) (*Checker, error) {
	switch {
	case opts.Catalog == nil:
		return nil, errors.New("failed to create checker: catalog is missing")
	case opts.Identity == nil:
		return nil, errors.New("failed to create checker: identity resolver is missing")
	case opts.Policies == nil:
		return nil, errors.New("failed to create checker: policy source is missing")
	}

	metrics, err := newCheckMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("failed to create checker: %w", err)
	}
	ids, err := newDecisionIDs()
	if err != nil {
		return nil, fmt.Errorf("failed to create checker: %w", err)
	}

	c := &Checker{
		catalog:  opts.Catalog,
		identity: opts.Identity,
		policies: opts.Policies,
		region:   opts.Region,
		logger:   opts.Logger,
		now:      opts.Now,
		metrics:  metrics,
		ids:      ids,
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	c.states.New = func() any { return new(checkState) }
	return c, nil
}

// CheckHTTP decides whether the request in may proceed and writes the result
// to out, overwriting every field. It returns no error: a malformed request, an
// unknown caller, missing policies or an expired ctx each yield a denial
// whose Decision.Reason names the cause.
func (c *Checker) CheckHTTP(ctx context.Context, in *HTTPCheck, out *Outcome) {
	start := time.Now()
	*out = Outcome{DecisionID: c.ids.next()}

	state := c.states.Get().(*checkState)
	state.start = start
	c.decide(ctx, in, out, state)
	*state = checkState{}
	c.states.Put(state)

	c.metrics.observe(out.Decision.Reason, time.Since(start))
	c.log(ctx, in, out)
}

// Reject records a denial decided before the pipeline could run, such as a
// request the transport could not parse: it writes the denial to out with a
// new decision id, counts it in the metrics and logs it like CheckHTTP.
// in may be nil.
func (c *Checker) Reject(ctx context.Context, in *HTTPCheck, reason evaluator.Reason, err error, out *Outcome) {
	*out = Outcome{DecisionID: c.ids.next()}
	deny(out, reason, err)
	c.metrics.observe(reason, 0)
	if in == nil {
		in = &HTTPCheck{}
	}
	c.log(ctx, in, out)
}

// decide runs the pipeline steps in order and stops at the first denial.
func (c *Checker) decide(ctx context.Context, in *HTTPCheck, out *Outcome, state *checkState) {
	if c.expired(ctx, out) {
		return
	}

	// Route: the actions the request requires.
	state.routeRequest = catalog.Request{
		Method:        in.Method,
		Target:        in.Target,
		Body:          in.Body,
		BodyTruncated: in.BodyTruncated,
	}
	res := &state.resolution
	if err := c.catalog.Resolve(&state.routeRequest, res); err != nil {
		deny(out, routeReason(err), err)
		return
	}
	out.Route = res.Route
	out.Actions = res.Actions
	out.AllGrantedEPs = res.AllGrantedEPs

	// Caller: identity sources may fetch keys, so the deadline is checked again.
	principal, ok := c.identify(ctx, in, out, state)
	if !ok || c.expired(ctx, out) {
		return
	}

	// Policy: the engine of the current snapshot.
	engine, ok := c.policies()
	if !ok || engine == nil {
		deny(out, evaluator.ReasonPolicyUnavailable, errPolicyUnavailable)
		c.warnUnavailable(ctx, state.start)
		return
	}
	state.evaluationInput = evaluator.Request{
		Principal:  principal,
		Resolution: res,
		Region:     c.region,
		SourceIP:   in.SourceIP,
		Time:       state.start,
		Explain:    in.Explain,
	}
	if c.now != nil {
		state.evaluationInput.Time = c.now()
	}
	engine.Decide(&state.evaluationInput, &out.Decision)
}

// identify returns the caller of in, or denies and returns false.
func (c *Checker) identify(ctx context.Context, in *HTTPCheck, out *Outcome, state *checkState) (evaluator.Principal, bool) {
	if in.Principal != nil {
		out.Principal = *in.Principal
		return out.Principal, true
	}

	state.identityInput = identity.Input{
		Headers:         in.Headers,
		SourcePrincipal: in.SourcePrincipal,
		JWTAuthn:        in.JWTAuthn,
		PathProjectID:   state.resolution.ProjectID,
	}
	principal, err := c.identity.Identify(ctx, &state.identityInput)
	if err != nil {
		deny(out, identityReason(err), err)
		return evaluator.Principal{}, false
	}
	out.Principal = principal
	return principal, true
}

// warnUnavailable logs a warning about checks denied with
// policy_unavailable, at most once per unavailableWarningInterval, with the
// number of such denials since the previous warning.
func (c *Checker) warnUnavailable(ctx context.Context, now time.Time) {
	denied := c.unavailable.Add(1)
	last := c.lastWarning.Load()
	if now.UnixNano()-last < int64(unavailableWarningInterval) {
		return
	}
	if !c.lastWarning.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	c.unavailable.Add(-denied)
	c.logger.WarnContext(ctx, "denying checks: no usable policy snapshot", "denied", denied, "error", errPolicyUnavailable.Error())
}

var errPolicyUnavailable = errors.New("no usable policy snapshot: not loaded yet or older than the maximum staleness")

// expired denies with deadline_exceeded when ctx is done.
func (c *Checker) expired(ctx context.Context, out *Outcome) bool {
	err := ctx.Err()
	if err == nil {
		return false
	}
	deny(out, evaluator.ReasonDeadlineExceeded, err)
	return true
}

func deny(out *Outcome, reason evaluator.Reason, err error) {
	out.Decision = evaluator.Decision{Reason: reason, Statement: -1}
	out.Err = err
}

// routeReason maps a catalog error to its reason. An error outside the
// catalog's sentinel set is treated as an invalid request.
func routeReason(err error) evaluator.Reason {
	switch {
	case errors.Is(err, catalog.ErrUnknownRoute):
		return evaluator.ReasonUnknownRoute
	case errors.Is(err, catalog.ErrInvalidPath):
		return evaluator.ReasonInvalidPath
	case errors.Is(err, catalog.ErrBodyRequired):
		return evaluator.ReasonBodyRequired
	case errors.Is(err, catalog.ErrBodyTruncated):
		return evaluator.ReasonBodyTruncated
	default:
		return evaluator.ReasonInvalidRequest
	}
}

// identityReason maps an identity error to its reason. Any error other than
// a project mismatch leaves the caller unauthenticated.
func identityReason(err error) evaluator.Reason {
	if errors.Is(err, identity.ErrProjectMismatch) {
		return evaluator.ReasonProjectMismatch
	}
	return evaluator.ReasonUnauthenticated
}

// log writes the decision at Debug level. Tokens and headers are never
// logged.
func (c *Checker) log(ctx context.Context, in *HTTPCheck, out *Outcome) {
	if !c.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	route := ""
	if out.Route != nil {
		route = out.Route.Method + " " + out.Route.Path
	}
	attrs := []slog.Attr{
		slog.String("decision_id", out.DecisionID),
		slog.String("request_id", in.RequestID),
		slog.String("user_id", out.Principal.UserID),
		slog.String("route", route),
		slog.Bool("allowed", out.Decision.Allowed),
		slog.String("reason", string(out.Decision.Reason)),
		slog.String("action", out.Decision.Action),
	}
	if out.Decision.Policy != "" {
		attrs = append(attrs, slog.String("policy", out.Decision.Policy), slog.Int("statement", out.Decision.Statement))
	}
	if out.Err != nil {
		attrs = append(attrs, slog.String("error", out.Err.Error()))
	}
	c.logger.LogAttrs(ctx, slog.LevelDebug, "decision", attrs...)
}
