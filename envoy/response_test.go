package envoy

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

type responseCase struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Config      struct {
		UnknownRouteNotFound bool     `yaml:"unknown_route_not_found"`
		TrustedHeaders       []string `yaml:"trusted_headers"`
	} `yaml:"config"`
	Result struct {
		Allowed       bool     `yaml:"allowed"`
		Reason        string   `yaml:"reason"`
		DeniedAction  string   `yaml:"denied_action"`
		DecisionID    string   `yaml:"decision_id"`
		UserID        string   `yaml:"user_id"`
		DomainID      string   `yaml:"domain_id"`
		AllGrantedEPs bool     `yaml:"all_granted_eps"`
		GrantedEPs    []string `yaml:"granted_eps"`
		HTTPStatus    int      `yaml:"http_status"`
	} `yaml:"result"`
}

func loadResponseCases(t testing.TB) []responseCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "responses.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []responseCase
	if err := yaml.UnmarshalWithOptions(raw, &cases, yaml.Strict()); err != nil {
		t.Fatalf("testdata/responses.yaml: %v", err)
	}
	return cases
}

func (c *responseCase) build() *authv3.CheckResponse {
	responder := NewResponder(ResponseConfig{
		UnknownRouteNotFound: c.Config.UnknownRouteNotFound,
		TrustedHeaders:       c.Config.TrustedHeaders,
	})
	return responder.Response(&Result{
		Allowed:                   c.Result.Allowed,
		Reason:                    evaluator.Reason(c.Result.Reason),
		DeniedAction:              c.Result.DeniedAction,
		DecisionID:                c.Result.DecisionID,
		UserID:                    c.Result.UserID,
		DomainID:                  c.Result.DomainID,
		AllGrantedEPs:             c.Result.AllGrantedEPs,
		GrantedEnterpriseProjects: c.Result.GrantedEPs,
		HTTPStatus:                c.Result.HTTPStatus,
	})
}

func TestResponseGolden(t *testing.T) {
	for _, tc := range loadResponseCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			got := tc.build()
			path := filepath.Join("testdata", "responses", tc.Name+".json")
			if *update {
				raw, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(got)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}

			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			want := &authv3.CheckResponse{}
			if err := protojson.Unmarshal(raw, want); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("%s\nResponse() mismatch (-want +got):\n%s", tc.Description, diff)
			}
			if err := got.ValidateAll(); err != nil {
				t.Errorf("Response() fails the proto validation rules: %v", err)
			}
			if denied := got.GetDeniedResponse(); denied != nil {
				var body struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal([]byte(denied.GetBody()), &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
					t.Errorf("denied body %q is not an ECS error document: %v", denied.GetBody(), err)
				}
			}
		})
	}
}

func TestDenyTableComplete(t *testing.T) {
	for _, reason := range evaluator.Reasons {
		if reason == evaluator.ReasonAllowed {
			continue
		}
		if _, ok := denyTable[reason]; !ok {
			t.Errorf("denyTable has no row for reason %s", reason)
		}
	}
}

func TestResponseDoesNotShareMutableParts(t *testing.T) {
	responder := NewResponder(ResponseConfig{})
	first := responder.Response(&Result{Reason: evaluator.ReasonUnknownRoute, DecisionID: "a"})
	second := responder.Response(&Result{Reason: "custom_reason", DecisionID: "b"})
	third := responder.Response(&Result{Reason: evaluator.ReasonImplicitDeny, DecisionID: "c"})

	reason := func(response *authv3.CheckResponse) string {
		for _, header := range response.GetDeniedResponse().GetHeaders() {
			if header.GetHeader().GetKey() == ReasonHeader {
				return header.GetHeader().GetValue()
			}
		}
		return ""
	}
	if got := reason(first); got != "unknown_route" {
		t.Errorf("first reason header = %q, want unknown_route", got)
	}
	if got := reason(second); got != "custom_reason" {
		t.Errorf("second reason header = %q, want custom_reason", got)
	}
	if got := reason(third); got != "implicit_deny" {
		t.Errorf("third reason header = %q, want implicit_deny (the fallback template must stay unchanged)", got)
	}
}

// BenchmarkParseAndAllow measures the adapter's share of an allowed list
// request: ParseCheckRequest on an Envoy-shaped request with jwt_authn
// metadata, the header lookups identity makes, and the allow response.
func BenchmarkParseAndAllow(b *testing.B) {
	req := loadCheckRequest(b, "list-with-jwt-authn-metadata.json")
	result := &Result{
		Allowed: true, Reason: evaluator.ReasonAllowed, UserID: "u-0002",
		DomainID: "d0000000000000000000000000000001", DecisionID: "7f3a-000001",
	}
	var parsed Request

	b.ReportAllocs()
	for b.Loop() {
		if err := ParseCheckRequest(req, &parsed); err != nil {
			b.Fatal(err)
		}
		parsed.Headers.Header("authorization")
		if Response(result).GetOkResponse() == nil {
			b.Fatal("Response() is not an allow")
		}
	}
}

// BenchmarkPolicyDeny measures the response side of a policy deny, which
// builds the body naming the action.
func BenchmarkPolicyDeny(b *testing.B) {
	result := &Result{Reason: evaluator.ReasonExplicitDeny, DeniedAction: "ecs:cloudServers:delete", DecisionID: "7f3a-000002"}
	b.ReportAllocs()
	for b.Loop() {
		if Response(result).GetDeniedResponse() == nil {
			b.Fatal("Response() is not a deny")
		}
	}
}
