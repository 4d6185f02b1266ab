package regopeer

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ecsauthz/ecsauthz/bench/internal/mix"
)

// TestDecideMix checks the peer against the fallback request mix, whose
// file names end in -allow or -deny, and pins each denial's reason and
// first failing action.
func TestDecideMix(t *testing.T) {
	peer, err := New(context.Background(), DefaultData, Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	requests, _, err := mix.Load("../../testdata/mix", false)
	if err != nil {
		t.Fatalf("mix.Load: %v", err)
	}
	wantDenials := map[string]string{
		"v1-create-new-eip-viewer-deny.json":      "implicit_deny ecs:cloudServers:create",
		"v1-delete-bob-deny.json":                 "explicit_deny ecs:cloudServers:delete",
		"v1-list-dave-deny.json":                  "implicit_deny ecs:cloudServers:list",
		"v1-get-ep-default-carol-deny.json":       "implicit_deny ecs:cloudServers:get",
		"v1-put-viewer-deny.json":                 "implicit_deny ecs:cloudServers:put",
		"v21-list-detail-viewer-deny.json":        "implicit_deny ecs:diskConfigs:use",
		"v21-get-ep-dev-carol-deny.json":          "implicit_deny ecs:servers:get",
		"v21-create-viewer-deny.json":             "implicit_deny ecs:servers:create",
		"v21-delete-dave-deny.json":               "implicit_deny ecs:servers:delete",
		"v21-put-viewer-deny.json":                "implicit_deny ecs:servers:update",
		"v1-get-alice-project-mismatch-deny.json": "project_mismatch ",
		"v1-unknown-route-deny.json":              "unknown_route ",
	}
	for _, request := range requests {
		decision, err := peer.Decide(context.Background(), request.Message)
		if err != nil {
			t.Errorf("%s: Decide error = %v", request.Name, err)
			continue
		}
		wantAllowed := strings.HasSuffix(request.Name, "-allow.json")
		if decision.Allowed != wantAllowed {
			t.Errorf("%s: allowed = %v (reason %s, action %s), want %v", request.Name, decision.Allowed, decision.Reason, decision.Action, wantAllowed)
			continue
		}
		if wantAllowed {
			continue
		}
		got := decision.Reason + " " + decision.Action
		if want := wantDenials[request.Name]; got != want {
			t.Errorf("%s: denial = %q, want %q", request.Name, got, want)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	peer, err := New(context.Background(), DefaultData, Options{})
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	requests, _, err := mix.Load("../../testdata/mix", false)
	if err != nil {
		b.Fatalf("mix.Load: %v", err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := peer.Decide(ctx, requests[i%len(requests)].Message); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecideExamples runs the peer on the repository's example
// CheckRequests, which carry bearer tokens signed by the example JWKS and
// whose names contain "denied" for every request that must be denied.
func TestDecideExamples(t *testing.T) {
	jwks, err := os.ReadFile("../../../examples/jwks/jwks.json")
	if err != nil {
		t.Skipf("example JWKS not available: %v", err)
	}
	peer, err := New(context.Background(), DefaultData, Options{JWKS: jwks, Issuer: "https://iam.example.invalid/v3", Audience: "ecs"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	requests, _, err := mix.Load("../../../examples/checkrequests", false)
	if err != nil {
		t.Skipf("example CheckRequests not available: %v", err)
	}
	for _, request := range requests {
		decision, err := peer.Decide(context.Background(), request.Message)
		if err != nil {
			t.Errorf("%s: Decide error = %v", request.Name, err)
			continue
		}
		wantAllowed := !strings.Contains(request.Name, "denied")
		if decision.Allowed != wantAllowed {
			t.Errorf("%s: allowed = %v (reason %s, action %s), want %v", request.Name, decision.Allowed, decision.Reason, decision.Action, wantAllowed)
		}
	}
}
