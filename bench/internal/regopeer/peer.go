// Package regopeer is the benchmark's comparison server: an Envoy ext_authz
// server that makes the same decisions as ecsauthz with OPA and a Rego
// policy. It is set up the way OPA is fastest: one prepared query, input
// passed as a parsed value, and data stored as AST values.
package regopeer

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown/cache"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"
)

//go:embed policy.rego
var policySource string

// DefaultData is the built-in data file: the ECS lifecycle routes and the
// example policy store.
//
//go:embed data.json
var DefaultData []byte

// jwtAuthnNamespace is the filter_metadata key of Envoy's jwt_authn filter.
const jwtAuthnNamespace = "envoy.filters.http.jwt_authn"

// jwtCacheConfig turns on OPA's inter-query cache of verified tokens
// (named "io_jwt", off by default in OPA v1.22), the counterpart of the
// verified-token cache of ecsauthz.
const jwtCacheConfig = `{"inter_query_builtin_value_cache": {"named": {"io_jwt": {"max_num_entries": 10000}}}}`

// Options sets how the peer verifies bearer tokens.
type Options struct {
	// JWKS is the JSON Web Key Set that verifies bearer tokens. When empty,
	// the peer decodes token payloads without verifying them.
	JWKS []byte
	// Issuer and Audience are the required iss and aud claims.
	Issuer   string
	Audience string
}

// Peer implements the ext_authz Authorization service with OPA.
type Peer struct {
	authv3.UnimplementedAuthorizationServer
	query    rego.PreparedEvalQuery
	jwtCache cache.InterQueryValueCache
	ids      *decisionIDs
}

var _ authv3.AuthorizationServer = (*Peer)(nil)

// New compiles the policy against data, a data file in the form of
// [DefaultData], and prepares the decision query.
func New(ctx context.Context, data []byte, opts Options) (*Peer, error) {
	document, err := buildData(data)
	if err != nil {
		return nil, err
	}
	document["jwt"] = map[string]any{"jwks": string(opts.JWKS), "issuer": opts.Issuer, "audience": opts.Audience}
	cacheConfig, err := cache.ParseCachingConfig([]byte(jwtCacheConfig))
	if err != nil {
		return nil, fmt.Errorf("invalid OPA cache config: %w", err)
	}
	store := inmem.NewFromObjectWithOpts(document, inmem.OptReturnASTValuesOnRead(true))
	query, err := rego.New(
		rego.Query("data.ecsauthz.decision"),
		rego.Module("policy.rego", policySource),
		rego.Store(store),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to prepare the Rego query: %w", err)
	}
	return &Peer{query: query, jwtCache: cache.NewInterQueryValueCache(ctx, cacheConfig), ids: newDecisionIDs()}, nil
}

// Decision is the policy's result for one request.
type Decision struct {
	Allowed  bool
	Reason   string
	Action   string
	UserID   string
	DomainID string
	// GrantedEPs lists, for all_granted_eps list requests, the enterprise
	// projects in which every action is allowed, comma-separated.
	GrantedEPs string
}

// Decide evaluates the policy for one CheckRequest.
func (p *Peer) Decide(ctx context.Context, request *authv3.CheckRequest) (Decision, error) {
	results, err := p.query.Eval(ctx,
		rego.EvalParsedInput(buildInput(request)),
		rego.EvalInterQueryBuiltinValueCache(p.jwtCache))
	if err != nil {
		return Decision{}, fmt.Errorf("failed to evaluate the policy: %w", err)
	}
	if len(results) != 1 || len(results[0].Expressions) != 1 {
		return Decision{}, fmt.Errorf("policy returned %d results, want 1", len(results))
	}
	value, ok := results[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return Decision{}, fmt.Errorf("policy returned %T, want an object", results[0].Expressions[0].Value)
	}
	decision := Decision{}
	decision.Allowed, _ = value["allowed"].(bool)
	decision.Reason, _ = value["reason"].(string)
	decision.Action, _ = value["action"].(string)
	decision.UserID, _ = value["user_id"].(string)
	decision.DomainID, _ = value["domain_id"].(string)
	if eps, ok := value["granted_eps"].([]any); ok {
		names := make([]string, 0, len(eps))
		for _, ep := range eps {
			name, _ := ep.(string)
			names = append(names, name)
		}
		decision.GrantedEPs = strings.Join(names, ",")
	}
	return decision, nil
}

// Check returns a CheckResponse for every request. An evaluation failure
// is a denial, never a gRPC error, because Envoy with failure_mode_allow
// would let the request through on an error.
func (p *Peer) Check(ctx context.Context, request *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	decision, err := p.Decide(ctx, request)
	if err != nil {
		decision = Decision{Reason: "evaluation_error"}
	}
	return buildResponse(decision, p.ids.next()), nil
}

// buildInput converts the parts of a CheckRequest the policy reads into a
// parsed input value, so OPA does not convert Go values on every request.
func buildInput(request *authv3.CheckRequest) ast.Value {
	http := request.GetAttributes().GetRequest().GetHttp()
	headers := http.GetHeaders()

	method := http.GetMethod()
	if method == "" {
		method = headers[":method"]
	}
	path := http.GetPath()
	if path == "" {
		path = headers[":path"]
	}
	body := http.GetBody()
	if body == "" && len(http.GetRawBody()) > 0 {
		body = string(http.GetRawBody())
	}

	input := ast.NewObject(
		ast.Item(ast.StringTerm("method"), ast.StringTerm(method)),
		ast.Item(ast.StringTerm("path"), ast.StringTerm(path)),
		ast.Item(ast.StringTerm("body"), ast.StringTerm(body)),
		ast.Item(ast.StringTerm("body_truncated"), ast.BooleanTerm(headers["x-envoy-auth-partial-body"] == "true")),
	)
	metadata := request.GetAttributes().GetMetadataContext().GetFilterMetadata()[jwtAuthnNamespace]
	if payload := metadata.GetFields()["jwt_payload"].GetStructValue(); payload != nil {
		input.Insert(ast.StringTerm("claims"), structTerm(payload))
	} else if token, ok := strings.CutPrefix(headers["authorization"], "Bearer "); ok {
		input.Insert(ast.StringTerm("bearer"), ast.StringTerm(token))
	}
	return input
}

func structTerm(s *structpb.Struct) *ast.Term {
	object := ast.NewObjectWithCapacity(len(s.GetFields()))
	for key, value := range s.GetFields() {
		object.Insert(ast.StringTerm(key), valueTerm(value))
	}
	return ast.NewTerm(object)
}

func valueTerm(v *structpb.Value) *ast.Term {
	switch kind := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return ast.StringTerm(kind.StringValue)
	case *structpb.Value_NumberValue:
		return ast.FloatNumberTerm(kind.NumberValue)
	case *structpb.Value_BoolValue:
		return ast.BooleanTerm(kind.BoolValue)
	case *structpb.Value_StructValue:
		return structTerm(kind.StructValue)
	case *structpb.Value_ListValue:
		terms := make([]*ast.Term, 0, len(kind.ListValue.GetValues()))
		for _, item := range kind.ListValue.GetValues() {
			terms = append(terms, valueTerm(item))
		}
		return ast.ArrayTerm(terms...)
	default:
		return ast.NullTerm()
	}
}

// decisionIDs hands out unique decision ids: a random per-process prefix and
// a counter, like the decision ids of ecsauthz.
type decisionIDs struct {
	prefix  string
	counter atomic.Uint64
}

func newDecisionIDs() *decisionIDs {
	var random [6]byte
	_, _ = rand.Read(random[:]) // Since Go 1.24, crypto/rand.Read never returns an error.
	return &decisionIDs{prefix: hex.EncodeToString(random[:]) + "-"}
}

func (d *decisionIDs) next() string {
	return d.prefix + strconv.FormatUint(d.counter.Add(1), 10)
}

// identityHeaders are set on allowed requests and removed from every
// request, so a client cannot pass its own values upstream.
var identityHeaders = []string{"x-ecsauthz-user-id", "x-ecsauthz-domain-id"}

func buildResponse(d Decision, decisionID string) *authv3.CheckResponse {
	if d.Allowed {
		headers := []*corev3.HeaderValueOption{
			header(identityHeaders[0], d.UserID),
			header(identityHeaders[1], d.DomainID),
			header("x-ecsauthz-decision-id", decisionID),
		}
		if d.GrantedEPs != "" {
			headers = append(headers, header("x-ecsauthz-granted-eps", d.GrantedEPs))
		}
		return &authv3.CheckResponse{
			Status: &status.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
				Headers:         headers,
				HeadersToRemove: identityHeaders,
			}},
		}
	}

	code, httpStatus := codes.PermissionDenied, typev3.StatusCode_Forbidden
	switch d.Reason {
	case "unauthenticated":
		code, httpStatus = codes.Unauthenticated, typev3.StatusCode_Unauthorized
	case "invalid_path", "invalid_request", "body_required", "body_truncated", "project_mismatch":
		httpStatus = typev3.StatusCode_BadRequest
	case "evaluation_error":
		httpStatus = typev3.StatusCode_InternalServerError
	}
	errorCode, message := "Ecs.0110", "Access denied."
	if d.Action != "" {
		errorCode, message = "Pdp.0001", "Policy doesn't allow "+d.Action+" to be performed."
	}
	return &authv3.CheckResponse{
		Status: &status.Status{Code: int32(code), Message: d.Reason},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: httpStatus},
			Headers: []*corev3.HeaderValueOption{
				header("x-ecsauthz-denied-action", d.Action),
				header("x-ecsauthz-reason", d.Reason),
				header("x-ecsauthz-decision-id", decisionID),
				header("content-type", "application/json"),
			},
			Body: `{"error":{"code":"` + errorCode + `","message":"` + message + `"}}`,
		}},
	}
}

func header(key, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: key, Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}
