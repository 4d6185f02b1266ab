package server

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ecsauthz/ecsauthz/catalog"
	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/identity"
	ecsauthzv1 "github.com/ecsauthz/ecsauthz/proto/gen/ecsauthz/v1"
	"github.com/ecsauthz/ecsauthz/store"
)

const (
	apiTestProject      = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	apiTestOtherProject = "1b2c3d4e5f60718293a4b5c6d7e8f90a"
	apiTestRegion       = "region-1"
)

// apiTestEnv is an AuthorizationService on a loopback listener, backed by
// the built-in catalog, the example policy store and the example JWKS.
type apiTestEnv struct {
	client ecsauthzv1.AuthorizationServiceClient
	data   *evaluator.Data
}

func startAPI(t *testing.T) *apiTestEnv {
	t.Helper()
	api, data := newTestAPI(t)
	s := grpc.NewServer()
	api.Register(s)
	conn := serveLoopback(t, s)
	return &apiTestEnv{client: ecsauthzv1.NewAuthorizationServiceClient(conn), data: data}
}

// newTestAPI returns an API over the built-in catalog, the example policy
// store and the example JWKS.
func newTestAPI(t testing.TB) (*API, *evaluator.Data) {
	t.Helper()
	cat, err := catalog.Load()
	if err != nil {
		t.Fatalf("catalog.Load: %v", err)
	}
	snap, err := store.NewFileStore("../examples/policies").Load(context.Background())
	if err != nil {
		t.Fatalf("load example store: %v", err)
	}
	conf := evaluator.Config{Region: apiTestRegion}
	conf.SetDefaults()
	engine, _, err := evaluator.Compile(snap.Data, cat, conf)
	if err != nil {
		t.Fatalf("evaluator.Compile: %v", err)
	}

	var identityConf identity.Config
	identityConf.JWT.JWKSFile = "../examples/jwks/jwks.json"
	identityConf.SetDefaults()
	resolver, err := identity.New(identityConf)
	if err != nil {
		t.Fatalf("identity.New: %v", err)
	}
	t.Cleanup(func() { _ = resolver.Close() })

	checker, err := NewChecker(CheckerOptions{
		Catalog: cat, Identity: resolver, Region: apiTestRegion,
		Policies: func() (Decider, bool) { return engine, true },
	})
	if err != nil {
		t.Fatalf("NewChecker: %v", err)
	}
	api, err := NewAPI(APIOptions{
		Catalog:   cat,
		Identity:  resolver,
		Policies:  func() (APIDecider, bool) { return engine, true },
		Snapshot:  func() *store.Snapshot { return snap },
		CheckHTTP: checker.CheckHTTP,
		Region:    apiTestRegion,
	})
	if err != nil {
		t.Fatalf("NewAPI: %v", err)
	}
	return api, snap.Data
}

// serveLoopback serves s on a free 127.0.0.1 port and returns a client
// connection to it. Both are stopped when the test ends.
func serveLoopback(t testing.TB, s *grpc.Server, dialOpts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)

	if len(dialOpts) == 0 {
		dialOpts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(lis.Addr().String(), dialOpts...)
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func apiTestContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// exampleToken mints a token for an example user with the example key.
func exampleToken(t *testing.T, userID string, edit func(*identity.ExampleClaims)) string {
	t.Helper()
	key, err := os.ReadFile("../examples/jwks/private.jwk.json")
	if err != nil {
		t.Fatalf("read example key: %v", err)
	}
	claims, ok := identity.ExampleClaimsFor(userID)
	if !ok {
		t.Fatalf("no example claims for %s", userID)
	}
	if edit != nil {
		edit(&claims)
	}
	token, err := identity.MintExampleToken(key, claims)
	if err != nil {
		t.Fatalf("MintExampleToken: %v", err)
	}
	return token
}

func userPrincipal(id string) *ecsauthzv1.Principal {
	return &ecsauthzv1.Principal{Identity: &ecsauthzv1.Principal_UserId{UserId: id}}
}

func tokenPrincipal(token string) *ecsauthzv1.Principal {
	return &ecsauthzv1.Principal{Identity: &ecsauthzv1.Principal_Token{Token: token}}
}

// wantDecision is the part of a Decision a test case checks.
type wantDecision struct {
	allowed bool
	reason  ecsauthzv1.DecisionReason
	action  string
	policy  string
}

func checkDecision(t *testing.T, got *ecsauthzv1.Decision, want wantDecision) {
	t.Helper()
	if got.GetAllowed() != want.allowed {
		t.Errorf("allowed = %t, want %t (decision %v)", got.GetAllowed(), want.allowed, got)
	}
	if got.GetReason() != want.reason {
		t.Errorf("reason = %v, want %v", got.GetReason(), want.reason)
	}
	if got.GetDeniedAction() != want.action {
		t.Errorf("denied_action = %q, want %q", got.GetDeniedAction(), want.action)
	}
	if want.policy != "" && got.GetPolicy() != want.policy {
		t.Errorf("policy = %q, want %q", got.GetPolicy(), want.policy)
	}
	if got.GetDecisionId() == "" {
		t.Error("decision_id is empty")
	}
}

func TestAPICheckActions(t *testing.T) {
	env := startAPI(t)
	ctx := apiTestContext(t)
	bobToken := exampleToken(t, "u-0003", nil)

	tests := []struct {
		name string
		req  *ecsauthzv1.CheckActionsRequest
		want wantDecision
	}{
		{
			name: "admin lists servers",
			req:  &ecsauthzv1.CheckActionsRequest{Principal: userPrincipal("u-0001"), Actions: []string{"ecs:cloudServers:list"}, ProjectId: apiTestProject},
			want: wantDecision{allowed: true, reason: ecsauthzv1.DecisionReason_DECISION_REASON_ALLOWED},
		},
		{
			name: "viewer cannot delete",
			req:  &ecsauthzv1.CheckActionsRequest{Principal: userPrincipal("u-0002"), Actions: []string{"ecs:cloudServers:list", "ecs:cloudServers:delete"}, ProjectId: apiTestProject},
			want: wantDecision{reason: ecsauthzv1.DecisionReason_DECISION_REASON_IMPLICIT_DENY, action: "ecs:cloudServers:delete"},
		},
		{
			name: "operator delete denied explicitly",
			req:  &ecsauthzv1.CheckActionsRequest{Principal: userPrincipal("u-0003"), Actions: []string{"ecs:cloudServers:delete"}, ProjectId: apiTestProject},
			want: wantDecision{reason: ecsauthzv1.DecisionReason_DECISION_REASON_EXPLICIT_DENY, action: "ecs:cloudServers:delete", policy: "deny-server-delete"},
		},
		{
			name: "operator token delete denied",
			req:  &ecsauthzv1.CheckActionsRequest{Principal: tokenPrincipal(bobToken), Actions: []string{"ecs:cloudServers:delete"}, ProjectId: apiTestProject},
			want: wantDecision{reason: ecsauthzv1.DecisionReason_DECISION_REASON_EXPLICIT_DENY, action: "ecs:cloudServers:delete", policy: "deny-server-delete"},
		},
		{
			name: "token for another project",
			req:  &ecsauthzv1.CheckActionsRequest{Principal: tokenPrincipal(bobToken), Actions: []string{"ecs:cloudServers:list"}, ProjectId: apiTestOtherProject},
			want: wantDecision{reason: ecsauthzv1.DecisionReason_DECISION_REASON_PROJECT_MISMATCH},
		},
		{
			name: "invalid token",
			req:  &ecsauthzv1.CheckActionsRequest{Principal: tokenPrincipal("not-a-jwt"), Actions: []string{"ecs:cloudServers:list"}, ProjectId: apiTestProject},
			want: wantDecision{reason: ecsauthzv1.DecisionReason_DECISION_REASON_UNAUTHENTICATED},
		},
		{
			name: "user without grants",
			req:  &ecsauthzv1.CheckActionsRequest{Principal: userPrincipal("u-0005"), Actions: []string{"ecs:cloudServers:list"}, ProjectId: apiTestProject},
			want: wantDecision{reason: ecsauthzv1.DecisionReason_DECISION_REASON_IMPLICIT_DENY, action: "ecs:cloudServers:list"},
		},
		{
			name: "unknown user",
			req:  &ecsauthzv1.CheckActionsRequest{Principal: userPrincipal("u-9999"), Actions: []string{"ecs:cloudServers:list"}, ProjectId: apiTestProject},
			want: wantDecision{reason: ecsauthzv1.DecisionReason_DECISION_REASON_IMPLICIT_DENY, action: "ecs:cloudServers:list"},
		},
		{
			name: "enterprise project grant applies",
			req:  &ecsauthzv1.CheckActionsRequest{Principal: userPrincipal("u-0004"), Actions: []string{"ecs:cloudServers:list"}, ProjectId: apiTestProject, EnterpriseProjectId: "ep-dev-0001"},
			want: wantDecision{allowed: true, reason: ecsauthzv1.DecisionReason_DECISION_REASON_ALLOWED},
		},
		{
			name: "enterprise project grant without project",
			req:  &ecsauthzv1.CheckActionsRequest{Principal: userPrincipal("u-0004"), Actions: []string{"ecs:cloudServers:list"}, ProjectId: apiTestProject},
			want: wantDecision{reason: ecsauthzv1.DecisionReason_DECISION_REASON_IMPLICIT_DENY, action: "ecs:cloudServers:list"},
		},
		{
			name: "resource urn in dev enterprise project",
			req: &ecsauthzv1.CheckActionsRequest{Principal: userPrincipal("u-0004"), Actions: []string{"ecs:cloudServers:get"}, ProjectId: apiTestProject,
				ResourceUrn: "ecs:region-1:d0000000000000000000000000000001:instance:s-0002"},
			want: wantDecision{allowed: true, reason: ecsauthzv1.DecisionReason_DECISION_REASON_ALLOWED},
		},
		{
			name: "resource urn of another domain",
			req: &ecsauthzv1.CheckActionsRequest{Principal: userPrincipal("u-0001"), Actions: []string{"ecs:cloudServers:get"}, ProjectId: apiTestProject,
				ResourceUrn: "ecs:region-1:d0000000000000000000000000000009:instance:s-0001"},
			want: wantDecision{reason: ecsauthzv1.DecisionReason_DECISION_REASON_IMPLICIT_DENY, action: "ecs:cloudServers:get"},
		},
		{
			name: "root allowed everything",
			req:  &ecsauthzv1.CheckActionsRequest{Principal: userPrincipal("u-0000"), Actions: []string{"ecs:cloudServers:delete"}, ProjectId: apiTestOtherProject},
			want: wantDecision{allowed: true, reason: ecsauthzv1.DecisionReason_DECISION_REASON_ALLOWED},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := env.client.CheckActions(ctx, tt.req)
			if err != nil {
				t.Fatalf("CheckActions: %v", err)
			}
			checkDecision(t, resp.GetDecision(), tt.want)
		})
	}
}

func TestAPICheckActionsOutcomes(t *testing.T) {
	env := startAPI(t)
	resp, err := env.client.CheckActions(apiTestContext(t), &ecsauthzv1.CheckActionsRequest{
		Principal: userPrincipal("u-0003"),
		Actions:   []string{"ecs:cloudServers:list", "ecs:cloudServers:delete"},
		ProjectId: apiTestProject,
	})
	if err != nil {
		t.Fatalf("CheckActions: %v", err)
	}

	outcomes := resp.GetDecision().GetOutcomes()
	if len(outcomes) != 2 {
		t.Fatalf("got %d outcomes, want 2: %v", len(outcomes), outcomes)
	}
	if !outcomes[0].GetAllowed() || outcomes[0].GetAction() != "ecs:cloudServers:list" {
		t.Errorf("outcome[0] = %v, want ecs:cloudServers:list allowed", outcomes[0])
	}
	if outcomes[1].GetAllowed() || outcomes[1].GetReason() != ecsauthzv1.DecisionReason_DECISION_REASON_EXPLICIT_DENY {
		t.Errorf("outcome[1] = %v, want explicit deny", outcomes[1])
	}
	foundDeny := false
	for _, m := range outcomes[1].GetMatched() {
		if m.GetPolicy() == "deny-server-delete" && m.GetEffect() == "Deny" && m.GetScope() == ecsauthzv1.GrantScope_GRANT_SCOPE_DOMAIN {
			foundDeny = true
		}
	}
	if !foundDeny {
		t.Errorf("outcome[1].matched = %v, want the domain-scope Deny of deny-server-delete", outcomes[1].GetMatched())
	}
}

func TestAPICheckActionsInvalid(t *testing.T) {
	env := startAPI(t)
	_, err := env.client.CheckActions(apiTestContext(t), &ecsauthzv1.CheckActionsRequest{
		Actions:     []string{"ecs:cloudServers:list", "ecs-no-colons"},
		ResourceUrn: "arn:nothing",
		ConditionContext: &ecsauthzv1.ConditionContext{
			SourceIp: "300.1.1.1",
		},
	})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code = %v, want InvalidArgument (err %v)", st.Code(), err)
	}

	wantFields := []string{"principal", "actions[1]", "project_id", "resource_urn", "condition_context.source_ip"}
	got := badRequestFields(t, st)
	for _, field := range wantFields {
		if !got[field] {
			t.Errorf("violations %v lack field %q", got, field)
		}
		if !strings.Contains(st.Message(), field+":") {
			t.Errorf("message %q lacks field %q", st.Message(), field)
		}
	}
}

func TestAPICheckActionsRejectsPatterns(t *testing.T) {
	env := startAPI(t)
	ctx := apiTestContext(t)
	tests := []struct {
		name   string
		action string
	}{
		{"operation wildcard", "ecs:cloudServers:*"},
		{"all wildcards", "ecs:*:*"},
		{"prefix wildcard", "ecs:cloudServers:del*"},
		{"single-character wildcard", "ecs:cloudServers:delete?"},
		{"service wildcard", "*:cloudServers:delete"},
		{"upper-case service", "ECS:cloudServers:delete"},
		{"empty operation", "ecs:cloudServers:"},
		{"four parts", "ecs:cloudServers:delete:x"},
		{"space", "ecs:cloudServers:de lete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.client.CheckActions(ctx, &ecsauthzv1.CheckActionsRequest{
				Principal: userPrincipal("u-0003"), Actions: []string{"ecs:cloudServers:list", tt.action}, ProjectId: apiTestProject,
			})
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("CheckActions(%q) code = %v, want InvalidArgument (err %v)", tt.action, st.Code(), err)
			}
			if !badRequestFields(t, st)["actions[1]"] {
				t.Errorf("CheckActions(%q) error %q does not name actions[1]", tt.action, st.Message())
			}

			resp, err := env.client.BatchCheck(ctx, &ecsauthzv1.BatchCheckRequest{Items: []*ecsauthzv1.BatchCheckItem{
				{Check: &ecsauthzv1.BatchCheckItem_CheckActions{CheckActions: &ecsauthzv1.CheckActionsRequest{
					Principal: userPrincipal("u-0003"), Actions: []string{tt.action}, ProjectId: apiTestProject}}},
			}})
			if err != nil {
				t.Fatalf("BatchCheck: %v", err)
			}
			result := resp.GetResults()[0]
			if e := result.GetError(); e.GetCode() != int32(codes.InvalidArgument) || !strings.Contains(e.GetMessage(), "items[0].check_actions.actions[0]") {
				t.Errorf("BatchCheck(%q) result = %v, want an INVALID_ARGUMENT error naming items[0].check_actions.actions[0]", tt.action, result)
			}
		})
	}
}

func badRequestFields(t *testing.T, st *status.Status) map[string]bool {
	t.Helper()
	fields := map[string]bool{}
	for _, detail := range st.Details() {
		if br, ok := detail.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields[v.GetField()] = true
			}
		}
	}
	if len(fields) == 0 {
		t.Errorf("status %v has no BadRequest details", st)
	}
	return fields
}

func TestAPICheckHttp(t *testing.T) {
	env := startAPI(t)
	ctx := apiTestContext(t)
	aliceToken := exampleToken(t, "u-0001", nil)
	detail := "/v1/" + apiTestProject + "/cloudservers/detail?limit=25"

	tests := []struct {
		name      string
		req       *ecsauthzv1.CheckHttpRequest
		want      wantDecision
		wantRoute string
		wantUser  string
	}{
		{
			name:      "token in headers",
			req:       &ecsauthzv1.CheckHttpRequest{Method: "GET", Path: detail, Headers: map[string]string{"authorization": "Bearer " + aliceToken}},
			want:      wantDecision{allowed: true, reason: ecsauthzv1.DecisionReason_DECISION_REASON_ALLOWED},
			wantRoute: "/v1/{project_id}/cloudservers/detail",
			wantUser:  "u-0001",
		},
		{
			name:      "token principal",
			req:       &ecsauthzv1.CheckHttpRequest{Method: "GET", Path: detail, Principal: tokenPrincipal(aliceToken)},
			want:      wantDecision{allowed: true, reason: ecsauthzv1.DecisionReason_DECISION_REASON_ALLOWED},
			wantRoute: "/v1/{project_id}/cloudservers/detail",
			wantUser:  "u-0001",
		},
		{
			name: "user principal batch delete",
			req: &ecsauthzv1.CheckHttpRequest{Method: "POST", Path: "/v1/" + apiTestProject + "/cloudservers/delete",
				Body: []byte(`{"servers":[{"id":"s-0001"}]}`), Principal: userPrincipal("u-0003")},
			want:      wantDecision{reason: ecsauthzv1.DecisionReason_DECISION_REASON_EXPLICIT_DENY, action: "ecs:cloudServers:delete", policy: "deny-server-delete"},
			wantRoute: "/v1/{project_id}/cloudservers/delete",
			wantUser:  "u-0003",
		},
		{
			name:      "no credentials",
			req:       &ecsauthzv1.CheckHttpRequest{Method: "GET", Path: detail},
			want:      wantDecision{reason: ecsauthzv1.DecisionReason_DECISION_REASON_UNAUTHENTICATED},
			wantRoute: "/v1/{project_id}/cloudservers/detail",
		},
		{
			name: "unknown route",
			req:  &ecsauthzv1.CheckHttpRequest{Method: "GET", Path: "/v1/" + apiTestProject + "/nothing-here", Principal: userPrincipal("u-0001")},
			want: wantDecision{reason: ecsauthzv1.DecisionReason_DECISION_REASON_UNKNOWN_ROUTE},
		},
		{
			name: "dot segment",
			req:  &ecsauthzv1.CheckHttpRequest{Method: "GET", Path: "/v1/" + apiTestProject + "/cloudservers/../detail", Principal: userPrincipal("u-0001")},
			want: wantDecision{reason: ecsauthzv1.DecisionReason_DECISION_REASON_INVALID_PATH},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := env.client.CheckHttp(ctx, tt.req)
			if err != nil {
				t.Fatalf("CheckHttp: %v", err)
			}
			checkDecision(t, resp.GetDecision(), tt.want)
			if resp.GetRoute().GetPath() != tt.wantRoute {
				t.Errorf("route = %q, want %q", resp.GetRoute().GetPath(), tt.wantRoute)
			}
			if tt.wantRoute != "" && len(resp.GetActions()) == 0 {
				t.Error("actions are empty for a resolved route")
			}
			if resp.GetUserId() != tt.wantUser {
				t.Errorf("user_id = %q, want %q", resp.GetUserId(), tt.wantUser)
			}
		})
	}
}

func TestAPICheckHttpInvalid(t *testing.T) {
	env := startAPI(t)
	_, err := env.client.CheckHttp(apiTestContext(t), &ecsauthzv1.CheckHttpRequest{SourceIp: "nope"})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code = %v, want InvalidArgument (err %v)", st.Code(), err)
	}
	got := badRequestFields(t, st)
	for _, field := range []string{"method", "path", "source_ip"} {
		if !got[field] {
			t.Errorf("violations %v lack field %q", got, field)
		}
	}
}

func TestAPIBatchCheck(t *testing.T) {
	env := startAPI(t)
	ctx := apiTestContext(t)
	resp, err := env.client.BatchCheck(ctx, &ecsauthzv1.BatchCheckRequest{Items: []*ecsauthzv1.BatchCheckItem{
		{Check: &ecsauthzv1.BatchCheckItem_CheckActions{CheckActions: &ecsauthzv1.CheckActionsRequest{
			Principal: userPrincipal("u-0002"), Actions: []string{"ecs:cloudServers:list"}, ProjectId: apiTestProject}}},
		{Check: &ecsauthzv1.BatchCheckItem_CheckHttp{CheckHttp: &ecsauthzv1.CheckHttpRequest{
			Method: "POST", Path: "/v1/" + apiTestProject + "/cloudservers/delete", Body: []byte(`{"servers":[{"id":"s-0001"}]}`),
			Principal: userPrincipal("u-0002")}}},
		{Check: &ecsauthzv1.BatchCheckItem_CheckActions{CheckActions: &ecsauthzv1.CheckActionsRequest{
			Principal: userPrincipal("u-0002"), Actions: []string{"ecs:cloudServers:list"}}}},
		{},
	}})
	if err != nil {
		t.Fatalf("BatchCheck: %v", err)
	}

	results := resp.GetResults()
	if len(results) != 4 {
		t.Fatalf("got %d results, want 4", len(results))
	}
	if !results[0].GetCheckActions().GetDecision().GetAllowed() {
		t.Errorf("results[0] = %v, want allowed", results[0])
	}
	if d := results[1].GetCheckHttp().GetDecision(); d == nil || d.GetAllowed() || d.GetDeniedAction() != "ecs:cloudServers:delete" {
		t.Errorf("results[1] = %v, want ecs:cloudServers:delete denied", results[1])
	}
	if e := results[2].GetError(); e.GetCode() != int32(codes.InvalidArgument) || !strings.Contains(e.GetMessage(), "items[2].check_actions.project_id") {
		t.Errorf("results[2] = %v, want an INVALID_ARGUMENT error naming items[2].check_actions.project_id", results[2])
	}
	if e := results[3].GetError(); e.GetCode() != int32(codes.InvalidArgument) {
		t.Errorf("results[3] = %v, want an INVALID_ARGUMENT error for an empty item", results[3])
	}
}

func TestAPIBatchCheckTooLarge(t *testing.T) {
	env := startAPI(t)
	items := make([]*ecsauthzv1.BatchCheckItem, MaxAPIBatchItems+1)
	for i := range items {
		items[i] = &ecsauthzv1.BatchCheckItem{}
	}
	_, err := env.client.BatchCheck(apiTestContext(t), &ecsauthzv1.BatchCheckRequest{Items: items})
	if code := status.Code(err); code != codes.InvalidArgument {
		t.Errorf("code = %v, want InvalidArgument (err %v)", code, err)
	}
}

func TestAPIResolveRoute(t *testing.T) {
	env := startAPI(t)
	ctx := apiTestContext(t)

	tests := []struct {
		name        string
		req         *ecsauthzv1.ResolveRouteRequest
		wantRoute   string
		wantActions []string
		wantReason  ecsauthzv1.DecisionReason
		wantServers []string
	}{
		{
			name:        "get server",
			req:         &ecsauthzv1.ResolveRouteRequest{Method: "GET", Path: "/v1/" + apiTestProject + "/cloudservers/s-0001"},
			wantRoute:   "/v1/{project_id}/cloudservers/{server_id}",
			wantActions: []string{"ecs:cloudServers:get"},
			wantServers: []string{"s-0001"},
		},
		{
			name:        "create with new eip",
			req:         &ecsauthzv1.ResolveRouteRequest{Method: "POST", Path: "/v1/" + apiTestProject + "/cloudservers", Body: []byte(`{"server":{"publicip":{"eip":{}}}}`)},
			wantRoute:   "/v1/{project_id}/cloudservers",
			wantActions: []string{"ecs:cloudServers:create", "vpc:publicIps:create"},
		},
		{
			name:       "unknown route",
			req:        &ecsauthzv1.ResolveRouteRequest{Method: "GET", Path: "/v9/nothing"},
			wantReason: ecsauthzv1.DecisionReason_DECISION_REASON_UNKNOWN_ROUTE,
		},
		{
			name:       "truncated body",
			req:        &ecsauthzv1.ResolveRouteRequest{Method: "POST", Path: "/v1/" + apiTestProject + "/cloudservers/action", Body: []byte(`{"os-st`), BodyTruncated: true},
			wantReason: ecsauthzv1.DecisionReason_DECISION_REASON_BODY_TRUNCATED,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := env.client.ResolveRoute(ctx, tt.req)
			if err != nil {
				t.Fatalf("ResolveRoute: %v", err)
			}
			if resp.GetRoute().GetPath() != tt.wantRoute {
				t.Errorf("route = %q, want %q", resp.GetRoute().GetPath(), tt.wantRoute)
			}
			var names []string
			for _, a := range resp.GetActions() {
				names = append(names, a.GetName())
			}
			if strings.Join(names, ",") != strings.Join(tt.wantActions, ",") {
				t.Errorf("actions = %v, want %v", names, tt.wantActions)
			}
			if resp.GetFailureReason() != tt.wantReason {
				t.Errorf("failure_reason = %v, want %v (%s)", resp.GetFailureReason(), tt.wantReason, resp.GetFailureMessage())
			}
			if tt.wantReason != ecsauthzv1.DecisionReason_DECISION_REASON_UNSPECIFIED && resp.GetFailureMessage() == "" {
				t.Error("failure_message is empty for a failure")
			}
			if strings.Join(resp.GetServerIds(), ",") != strings.Join(tt.wantServers, ",") {
				t.Errorf("server_ids = %v, want %v", resp.GetServerIds(), tt.wantServers)
			}
			if tt.wantRoute != "" && resp.GetProjectId() != apiTestProject {
				t.Errorf("project_id = %q, want %q", resp.GetProjectId(), apiTestProject)
			}
		})
	}
}

func TestAPIListAllowedApis(t *testing.T) {
	env := startAPI(t)
	ctx := apiTestContext(t)
	listRoute := "GET /v1/{project_id}/cloudservers/detail"
	deleteRoute := "POST /v1/{project_id}/cloudservers/delete"

	routesOf := func(resp *ecsauthzv1.ListAllowedApisResponse) map[string]bool {
		routes := map[string]bool{}
		for _, api := range resp.GetApis() {
			routes[api.GetRoute().GetMethod()+" "+api.GetRoute().GetPath()] = api.GetAllowed()
		}
		return routes
	}

	viewer, err := env.client.ListAllowedApis(ctx, &ecsauthzv1.ListAllowedApisRequest{Principal: userPrincipal("u-0002"), ProjectId: apiTestProject})
	if err != nil {
		t.Fatalf("ListAllowedApis: %v", err)
	}
	routes := routesOf(viewer)
	if !routes[listRoute] {
		t.Errorf("viewer routes lack %s: %v", listRoute, routes)
	}
	if _, ok := routes[deleteRoute]; ok {
		t.Errorf("viewer routes contain %s", deleteRoute)
	}

	all, err := env.client.ListAllowedApis(ctx, &ecsauthzv1.ListAllowedApisRequest{Principal: userPrincipal("u-0002"), ProjectId: apiTestProject, IncludeDenied: true})
	if err != nil {
		t.Fatalf("ListAllowedApis include_denied: %v", err)
	}
	routes = routesOf(all)
	if allowed, ok := routes[deleteRoute]; !ok || allowed {
		t.Errorf("include_denied: %s present=%t allowed=%t, want present and denied", deleteRoute, ok, allowed)
	}
	if len(all.GetApis()) <= len(viewer.GetApis()) {
		t.Errorf("include_denied returned %d routes, no more than the %d allowed ones", len(all.GetApis()), len(viewer.GetApis()))
	}

	nobody, err := env.client.ListAllowedApis(ctx, &ecsauthzv1.ListAllowedApisRequest{Principal: userPrincipal("u-0005"), ProjectId: apiTestProject})
	if err != nil {
		t.Fatalf("ListAllowedApis no grants: %v", err)
	}
	if len(nobody.GetApis()) != 0 {
		t.Errorf("user without grants may call %d routes, want 0", len(nobody.GetApis()))
	}

	devWithProject, err := env.client.ListAllowedApis(ctx, &ecsauthzv1.ListAllowedApisRequest{Principal: userPrincipal("u-0004"), ProjectId: apiTestProject, EnterpriseProjectId: "ep-dev-0001"})
	if err != nil {
		t.Fatalf("ListAllowedApis enterprise project: %v", err)
	}
	if routes := routesOf(devWithProject); !routes[listRoute] {
		t.Errorf("enterprise-project user with its enterprise project lacks %s: %v", listRoute, routes)
	}
	devWithout, err := env.client.ListAllowedApis(ctx, &ecsauthzv1.ListAllowedApisRequest{Principal: userPrincipal("u-0004"), ProjectId: apiTestProject})
	if err != nil {
		t.Fatalf("ListAllowedApis without enterprise project: %v", err)
	}
	if routes := routesOf(devWithout); routes[listRoute] {
		t.Errorf("enterprise-project user without an enterprise project may call %s", listRoute)
	}

	_, err = env.client.ListAllowedApis(ctx, &ecsauthzv1.ListAllowedApisRequest{Principal: tokenPrincipal("bad"), ProjectId: apiTestProject})
	if code := status.Code(err); code != codes.Unauthenticated {
		t.Errorf("invalid token: code = %v, want Unauthenticated", code)
	}
}

func TestAPIPolicyUnavailable(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatalf("catalog.Load: %v", err)
	}
	client := startAPIWith(t, cat, func() (APIDecider, bool) { return nil, false }, func() *store.Snapshot { return nil })
	ctx := apiTestContext(t)

	resp, err := client.CheckActions(ctx, &ecsauthzv1.CheckActionsRequest{Principal: userPrincipal("u-0001"), Actions: []string{"ecs:cloudServers:list"}, ProjectId: apiTestProject})
	if err != nil {
		t.Fatalf("CheckActions: %v", err)
	}
	checkDecision(t, resp.GetDecision(), wantDecision{reason: ecsauthzv1.DecisionReason_DECISION_REASON_POLICY_UNAVAILABLE})

	_, err = client.ListAllowedApis(ctx, &ecsauthzv1.ListAllowedApisRequest{Principal: userPrincipal("u-0001"), ProjectId: apiTestProject})
	if code := status.Code(err); code != codes.Unavailable {
		t.Errorf("ListAllowedApis: code = %v, want Unavailable", code)
	}
}

// TestAPIConditionContext checks that each condition_context field reaches
// the policy conditions, with a policy that needs all of them.
func TestAPIConditionContext(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatalf("catalog.Load: %v", err)
	}
	data := &evaluator.Data{
		Policies: []evaluator.Policy{{Name: "conditional-list", Document: []byte(`{"Version":"1.1","Statement":[{
			"Effect":"Allow","Action":["ecs:cloudServers:list"],
			"Condition":{
				"IpAddress":{"g:SourceIp":["10.0.0.0/8"]},
				"Bool":{"g:MFAPresent":["true"]},
				"StringEquals":{"g:RequestTag/team":["dev"]},
				"DateLessThan":{"g:CurrentTime":["2030-01-01T00:00:00Z"]}
			}}]}`)}},
		Users:  []evaluator.User{{ID: "u-1", Name: "one", DomainID: "d-1"}},
		Grants: []evaluator.Grant{{Policy: "conditional-list", UserID: "u-1", Scope: evaluator.ScopeDomain}},
	}
	conf := evaluator.Config{Region: apiTestRegion}
	conf.SetDefaults()
	engine, _, err := evaluator.Compile(data, cat, conf)
	if err != nil {
		t.Fatalf("evaluator.Compile: %v", err)
	}
	snap := &store.Snapshot{Data: data}
	client := startAPIWith(t, cat, func() (APIDecider, bool) { return engine, true }, func() *store.Snapshot { return snap })

	mfa := true
	noMFA := false
	good := func() *ecsauthzv1.ConditionContext {
		return &ecsauthzv1.ConditionContext{
			SourceIp:    "10.1.2.3",
			MfaPresent:  &mfa,
			RequestTags: map[string]string{"team": "dev"},
			CurrentTime: timestamppb.New(time.Date(2029, 6, 1, 0, 0, 0, 0, time.UTC)),
		}
	}
	tests := []struct {
		name    string
		edit    func(*ecsauthzv1.ConditionContext)
		allowed bool
	}{
		{"every condition met", func(*ecsauthzv1.ConditionContext) {}, true},
		{"source ip outside range", func(c *ecsauthzv1.ConditionContext) { c.SourceIp = "192.168.0.1" }, false},
		{"no mfa", func(c *ecsauthzv1.ConditionContext) { c.MfaPresent = &noMFA }, false},
		{"other request tag", func(c *ecsauthzv1.ConditionContext) { c.RequestTags = map[string]string{"team": "ops"} }, false},
		{"time after limit", func(c *ecsauthzv1.ConditionContext) {
			c.CurrentTime = timestamppb.New(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cond := good()
			tt.edit(cond)
			resp, err := client.CheckActions(apiTestContext(t), &ecsauthzv1.CheckActionsRequest{
				Principal: userPrincipal("u-1"), Actions: []string{"ecs:cloudServers:list"}, ProjectId: "p-1", ConditionContext: cond,
			})
			if err != nil {
				t.Fatalf("CheckActions: %v", err)
			}
			if got := resp.GetDecision().GetAllowed(); got != tt.allowed {
				t.Errorf("allowed = %t, want %t (decision %v)", got, tt.allowed, resp.GetDecision())
			}
		})
	}
}
