package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/identity"
)

const (
	testProject = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	testDomain  = "d0000000000000000000000000000001"
)

// testChecker returns a checker over the built-in catalog, the example
// policy store and an identity resolver that reads jwt_authn metadata.
func testChecker(t testing.TB, reg prometheus.Registerer) *Checker {
	t.Helper()
	conf := &Config{}
	conf.Store.Dir = "../examples/policies"
	conf.Identity.Sources = []string{identity.SourceJWTAuthn}
	conf.SetDefaults()
	if err := conf.Validate(); err != nil {
		t.Fatalf("invalid test config: %v", err)
	}

	offline, err := NewOffline(context.Background(), conf, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("NewOffline: %v", err)
	}
	t.Cleanup(func() { offline.Close() })
	resolver, err := newIdentity(conf, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resolver.Close() })

	checker, err := NewChecker(CheckerOptions{
		Catalog:    offline.Catalog,
		Identity:   resolver,
		Policies:   func() (Decider, bool) { return offline.Engine, true },
		Region:     conf.Evaluator.Region,
		Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	return checker
}

// jwtAuthnPayload returns jwt_authn filter metadata for an example user.
func jwtAuthnPayload(t testing.TB, userID, projectID string) *structpb.Struct {
	t.Helper()
	payload, err := structpb.NewStruct(map[string]any{
		"iss":        "https://iam.example.invalid/v3",
		"aud":        "ecs",
		"sub":        userID,
		"domain_id":  testDomain,
		"project_id": projectID,
		"exp":        2082758400,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &structpb.Struct{Fields: map[string]*structpb.Value{"jwt_payload": structpb.NewStructValue(payload)}}
}

type headerMap map[string]string

func (h headerMap) Header(name string) (string, int) {
	v, ok := h[name]
	if !ok {
		return "", 0
	}
	return v, 1
}

func TestCheckHTTPReasons(t *testing.T) {
	checker := testChecker(t, nil)
	const v1 = "/v1/" + testProject

	tests := []struct {
		name       string
		user       string // "" sends no identity
		method     string
		target     string
		body       string
		truncated  bool
		wantReason evaluator.Reason
		wantAction string
		wantRoute  string
	}{
		{"allowed get", "u-0002", "GET", v1 + "/cloudservers/s-0001", "", false, evaluator.ReasonAllowed, "", "/v1/{project_id}/cloudservers/{server_id}"},
		{"implicit deny", "u-0005", "GET", v1 + "/cloudservers/s-0001", "", false, evaluator.ReasonImplicitDeny, "ecs:cloudServers:get", "/v1/{project_id}/cloudservers/{server_id}"},
		{"explicit deny", "u-0003", "POST", v1 + "/cloudservers/delete", `{"servers":[{"id":"s-0001"}]}`, false, evaluator.ReasonExplicitDeny, "ecs:cloudServers:delete", "/v1/{project_id}/cloudservers/delete"},
		{"unknown route", "u-0001", "GET", v1 + "/no-such-route", "", false, evaluator.ReasonUnknownRoute, "", ""},
		{"invalid path", "u-0001", "GET", v1 + "/cloudservers/%2e%2e/detail", "", false, evaluator.ReasonInvalidPath, "", ""},
		{"body required", "u-0001", "POST", v1 + "/cloudservers/action", `{"os-fly":{}}`, false, evaluator.ReasonBodyRequired, "", ""},
		{"body invalid", "u-0001", "POST", v1 + "/cloudservers/action", `{not json`, false, evaluator.ReasonInvalidRequest, "", ""},
		{"body truncated", "u-0001", "POST", v1 + "/cloudservers", `{"server":{"na`, true, evaluator.ReasonBodyTruncated, "", ""},
		{"unauthenticated", "", "GET", v1 + "/cloudservers/s-0001", "", false, evaluator.ReasonUnauthenticated, "", "/v1/{project_id}/cloudservers/{server_id}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &HTTPCheck{Method: tc.method, Target: tc.target, Headers: headerMap{}, BodyTruncated: tc.truncated}
			if tc.body != "" {
				in.Body = []byte(tc.body)
			}
			if tc.user != "" {
				in.JWTAuthn = jwtAuthnPayload(t, tc.user, testProject)
			}
			var out Outcome
			checker.CheckHTTP(context.Background(), in, &out)

			if out.Decision.Reason != tc.wantReason {
				t.Errorf("reason = %q, want %q (err %v)", out.Decision.Reason, tc.wantReason, out.Err)
			}
			if got, want := out.Decision.Allowed, tc.wantReason == evaluator.ReasonAllowed; got != want {
				t.Errorf("allowed = %v, want %v", got, want)
			}
			if out.Decision.Action != tc.wantAction {
				t.Errorf("action = %q, want %q", out.Decision.Action, tc.wantAction)
			}
			route := ""
			if out.Route != nil {
				route = out.Route.Path
			}
			if route != tc.wantRoute {
				t.Errorf("route = %q, want %q", route, tc.wantRoute)
			}
			if out.DecisionID == "" {
				t.Error("decision id is empty")
			}
		})
	}
}

func TestCheckHTTPProjectMismatch(t *testing.T) {
	checker := testChecker(t, nil)
	in := &HTTPCheck{
		Method:   "GET",
		Target:   "/v1/1b2c3d4e5f60718293a4b5c6d7e8f90a/cloudservers/s-0003",
		Headers:  headerMap{},
		JWTAuthn: jwtAuthnPayload(t, "u-0001", testProject),
	}
	var out Outcome
	checker.CheckHTTP(context.Background(), in, &out)
	if out.Decision.Reason != evaluator.ReasonProjectMismatch {
		t.Errorf("reason = %q, want project_mismatch (err %v)", out.Decision.Reason, out.Err)
	}
}

func TestCheckHTTPExpiredContext(t *testing.T) {
	checker := testChecker(t, nil)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()

	in := &HTTPCheck{Method: "GET", Target: "/v1/" + testProject + "/cloudservers/s-0001", Headers: headerMap{},
		JWTAuthn: jwtAuthnPayload(t, "u-0001", testProject)}
	var out Outcome
	checker.CheckHTTP(ctx, in, &out)
	if out.Decision.Allowed {
		t.Error("request with an expired deadline was allowed")
	}
	if out.Decision.Reason != evaluator.ReasonDeadlineExceeded {
		t.Errorf("reason = %q, want deadline_exceeded", out.Decision.Reason)
	}
	if !errors.Is(out.Err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", out.Err)
	}
}

func TestCheckHTTPPolicyUnavailable(t *testing.T) {
	base := testChecker(t, nil)
	var logs bytes.Buffer
	checker, err := NewChecker(CheckerOptions{
		Catalog:  base.catalog,
		Identity: base.identity,
		Policies: func() (Decider, bool) { return nil, false },
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	in := &HTTPCheck{Method: "GET", Target: "/v1/" + testProject + "/cloudservers/s-0001", Headers: headerMap{},
		JWTAuthn: jwtAuthnPayload(t, "u-0001", testProject)}
	var out Outcome
	checker.CheckHTTP(context.Background(), in, &out)
	if out.Decision.Reason != evaluator.ReasonPolicyUnavailable {
		t.Errorf("reason = %q, want policy_unavailable", out.Decision.Reason)
	}
	if out.Principal.UserID != "u-0001" {
		t.Errorf("principal user = %q, want u-0001", out.Principal.UserID)
	}

	// A second denial within the warning interval logs no second warning.
	checker.CheckHTTP(context.Background(), in, &out)
	if n := strings.Count(logs.String(), "denying checks"); n != 1 {
		t.Errorf("logged %d warnings for two denials within %v, want 1:\n%s", n, unavailableWarningInterval, logs.String())
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("warning not at WARN level:\n%s", logs.String())
	}
}

func TestCheckHTTPGivenPrincipal(t *testing.T) {
	checker := testChecker(t, nil)
	principal := evaluator.Principal{UserID: "u-0001", DomainID: testDomain, ProjectID: testProject, MFAAge: -1}
	in := &HTTPCheck{Method: "GET", Target: "/v1/" + testProject + "/cloudservers/s-0001", Headers: headerMap{}, Principal: &principal}
	var out Outcome
	checker.CheckHTTP(context.Background(), in, &out)
	if !out.Decision.Allowed {
		t.Errorf("given principal u-0001 denied: reason %q, err %v", out.Decision.Reason, out.Err)
	}
}

func TestCheckerMetricsAndReject(t *testing.T) {
	reg := prometheus.NewRegistry()
	checker := testChecker(t, reg)

	var out Outcome
	checker.Reject(context.Background(), nil, evaluator.ReasonInvalidRequest, errors.New("bad request"), &out)
	if out.Decision.Reason != evaluator.ReasonInvalidRequest || out.Decision.Allowed {
		t.Errorf("Reject outcome = %+v, want an invalid_request denial", out.Decision)
	}
	first := out.DecisionID
	checker.CheckHTTP(context.Background(), &HTTPCheck{Method: "GET", Target: "/x", Headers: headerMap{}}, &out)
	if out.DecisionID == first {
		t.Errorf("two decisions share the id %q", first)
	}

	for reason, want := range map[string]float64{"invalid_request": 1, "unknown_route": 1, "allowed": 0} {
		if got := counterValue(t, reg, "ecsauthz_decisions_total", "reason", reason); got != want {
			t.Errorf("ecsauthz_decisions_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
}

// counterValue returns the value of the counter name{label="value"} in reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{%s=%q} not found", name, label, value)
	return 0
}

func TestNewCheckerMissingOptions(t *testing.T) {
	_, err := NewChecker(CheckerOptions{})
	if err == nil || !strings.Contains(err.Error(), "catalog is missing") {
		t.Errorf("NewChecker with no options: err = %v, want it to name the missing catalog", err)
	}
}

func TestDecisionIDFormat(t *testing.T) {
	ids, err := newDecisionIDs()
	if err != nil {
		t.Fatal(err)
	}
	a, b := ids.next(), ids.next()
	if len(a) != 18 || a[16] != '-' || !strings.HasSuffix(a, "-1") || !strings.HasSuffix(b, "-2") {
		t.Errorf("ids %q, %q: want <16 hex>-1 and <16 hex>-2", a, b)
	}
}

func TestCheckHTTPConcurrent(t *testing.T) {
	checker := testChecker(t, nil)
	cases := []struct {
		user string
		want evaluator.Reason
	}{
		{"u-0002", evaluator.ReasonAllowed},
		{"u-0005", evaluator.ReasonImplicitDeny},
	}
	payloads := []*structpb.Struct{jwtAuthnPayload(t, "u-0002", testProject), jwtAuthnPayload(t, "u-0005", testProject)}
	errs := make(chan string, 8)
	for worker := range 8 {
		go func() {
			c := cases[worker%len(cases)]
			in := &HTTPCheck{Method: "GET", Target: "/v1/" + testProject + "/cloudservers/s-0001", Headers: headerMap{},
				JWTAuthn: payloads[worker%len(cases)]}
			var out Outcome
			for range 200 {
				checker.CheckHTTP(context.Background(), in, &out)
				if out.Decision.Reason != c.want || out.Principal.UserID != c.user {
					errs <- fmt.Sprintf("user %s: reason %q, principal %q; want %q for %s", c.user, out.Decision.Reason, out.Principal.UserID, c.want, c.user)
					return
				}
			}
			errs <- ""
		}()
	}
	for range 8 {
		if msg := <-errs; msg != "" {
			t.Error(msg)
		}
	}
}
