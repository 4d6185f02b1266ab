package evaluator

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ecsauthz/ecsauthz/catalog"
)

// fixtureEngine compiles the shared fixture with the built-in catalog.
func fixtureEngine(tb testing.TB) *Engine {
	tb.Helper()
	engine, _, err := Compile(fixtureData(tb), testCatalog(tb), Config{Region: "region-1"})
	if err != nil {
		tb.Fatal(err)
	}
	return engine
}

func resolve(tb testing.TB, method, target, body string) *catalog.Resolution {
	tb.Helper()
	res := &catalog.Resolution{}
	var raw []byte
	if body != "" {
		raw = []byte(body)
	}
	if err := testCatalog(tb).Resolve(&catalog.Request{Method: method, Target: target, Body: raw}, res); err != nil {
		tb.Fatalf("Resolve(%s %s): %v", method, target, err)
	}
	return res
}

func examplePrincipal(userID string) Principal {
	return Principal{UserID: userID, DomainID: exampleDomain, ProjectID: exampleProject, ProjectName: "region-1", MFAAge: -1}
}

func TestExplainListsEveryMatch(t *testing.T) {
	engine := fixtureEngine(t)
	req := &Request{
		Principal:  examplePrincipal("u-0003"),
		Resolution: resolve(t, "POST", "/v1/"+exampleProject+"/cloudservers/delete", `{"servers":[{"id":"s-0001"},{"id":"s-0002"}]}`),
		Explain:    true,
	}
	var d Decision
	engine.Decide(req, &d)
	matched := []StatementRef{
		{Policy: "deny-server-delete", Statement: 0, Effect: EffectDeny, Scope: ScopeDomain},
		{Policy: PolicyECSFullAccess, Statement: 0, Effect: EffectAllow, Scope: ScopeProject, ScopeID: exampleProject},
	}
	want := []ActionOutcome{
		{Action: "ecs:cloudServers:delete", Reason: ReasonExplicitDeny, Matched: matched, ServerID: "s-0001", EnterpriseProjectID: "0"},
		{Action: "ecs:cloudServers:delete", Reason: ReasonExplicitDeny, Matched: matched, ServerID: "s-0002", EnterpriseProjectID: "ep-dev-0001"},
	}
	if diff := cmp.Diff(want, d.Outcomes); diff != "" {
		t.Errorf("explain outcomes mismatch (-want +got):\n%s", diff)
	}
}

func TestDecideOverwritesDecision(t *testing.T) {
	engine := fixtureEngine(t)
	d := Decision{Allowed: true, Reason: ReasonAllowed, Action: "stale", Policy: "stale", Statement: 3, Outcomes: []ActionOutcome{{}}}
	engine.Decide(&Request{Principal: examplePrincipal("u-0005"), Resolution: resolve(t, "GET", "/v1/"+exampleProject+"/cloudservers/detail", "")}, &d)
	want := Decision{Reason: ReasonImplicitDeny, Action: "ecs:cloudServers:list", Statement: -1}
	if diff := cmp.Diff(want, d, cmpEmptySlices); diff != "" {
		t.Errorf("decision mismatch (-want +got):\n%s", diff)
	}
}

func TestDecideWithoutActions(t *testing.T) {
	engine := fixtureEngine(t)
	var d Decision
	engine.Decide(&Request{Principal: examplePrincipal("u-0000")}, &d)
	if d.Allowed || d.Reason != ReasonImplicitDeny {
		t.Errorf("Decide without resolution = %+v, want implicit deny", d)
	}
}

func TestDecideZeroAllocations(t *testing.T) {
	engine := fixtureEngine(t)
	tests := []struct {
		name, method, target, body, user string
	}{
		{"list", "GET", "/v1/" + exampleProject + "/cloudservers/detail", "", "u-0001"},
		{"nova create", "POST", "/v2.1/" + exampleProject + "/servers", `{"server":{}}`, "u-0001"},
		{"batch delete denied", "POST", "/v1/" + exampleProject + "/cloudservers/delete", `{"servers":[{"id":"s-0001"},{"id":"s-0002"}]}`, "u-0003"},
		{"enterprise project", "GET", "/v1/" + exampleProject + "/cloudservers/s-0002", "", "u-0004"},
		{"all granted", "GET", "/v1/" + exampleProject + "/cloudservers/detail?enterprise_project_id=all_granted_eps", "", "u-0004"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &Request{Principal: examplePrincipal(tt.user), Resolution: resolve(t, tt.method, tt.target, tt.body)}
			var d Decision
			engine.Decide(req, &d) // warm up d's slices
			if allocs := testing.AllocsPerRun(100, func() { engine.Decide(req, &d) }); allocs != 0 {
				t.Errorf("Decide allocates %.1f times per call, want 0", allocs)
			}
		})
	}
}

func TestHolderSwap(t *testing.T) {
	var h Holder
	if h.Load() != nil {
		t.Fatal("empty Holder.Load() != nil")
	}
	first, second := fixtureEngine(t), fixtureEngine(t)
	h.Store(first)
	h.Store(second)
	if h.Load() != second {
		t.Error("Holder.Load() does not return the last stored engine")
	}
}

func TestHolderConcurrentSwap(t *testing.T) {
	var h Holder
	engines := []*Engine{fixtureEngine(t), fixtureEngine(t)}
	h.Store(engines[0])
	req := &Request{Principal: examplePrincipal("u-0001"), Resolution: resolve(t, "GET", "/v1/"+exampleProject+"/cloudservers/detail", "")}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			h.Store(engines[i%2])
		}
	}()
	var d Decision
	for range 1000 {
		h.Load().Decide(req, &d)
		if !d.Allowed {
			t.Fatalf("decision during swaps = %+v, want allowed", d)
		}
	}
	<-done
}
