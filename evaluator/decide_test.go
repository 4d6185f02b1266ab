package evaluator

import (
	"fmt"
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

// TestDecidingStatementBySize checks that a decision names the first
// statement, in grant order and then statement order, both in buckets small
// enough to be scanned and in buckets with a statement index.
func TestDecidingStatementBySize(t *testing.T) {
	for _, n := range []int{1, 2, maxScannedPolicies, maxScannedPolicies + 1, 3 * maxScannedPolicies} {
		t.Run(fmt.Sprintf("policies=%d", n), func(t *testing.T) {
			// Policy i allows listing in statement 1 from the middle policy
			// on, and denies deleting in statement 0 from the last but one
			// on. Statement 0 of the others allows an unrelated action.
			firstAllow, firstDeny := n/2, max(n-2, 0)
			data := &Data{
				Users:       []User{{ID: "u-1", DomainID: exampleDomain}},
				Groups:      []Group{{ID: "g-1", DomainID: exampleDomain}},
				Memberships: []Membership{{GroupID: "g-1", UserID: "u-1"}},
				Servers:     []Server{{ID: "s-0001", ProjectID: exampleProject, EnterpriseProjectID: "0"}},
			}
			for i := range n {
				first := `{"Effect":"Allow","Action":["ecs:flavors:get"]}`
				if i >= firstDeny {
					first = `{"Effect":"Deny","Action":["ecs:cloudServers:delete"]}`
				}
				second := `{"Effect":"Allow","Action":["ecs:flavors:get"]}`
				if i >= firstAllow {
					second = `{"Effect":"Allow","Action":["ecs:cloudServers:list","ecs:cloudServers:delete"]}`
				}
				name := fmt.Sprintf("p-%02d", i)
				data.Policies = append(data.Policies, Policy{Name: name, Document: []byte(`{"Version":"1.1","Statement":[` + first + "," + second + `]}`)})
				data.Grants = append(data.Grants, Grant{Policy: name, GroupID: "g-1", Scope: ScopeProject, ScopeID: exampleProject})
			}
			engine, _, err := Compile(data, testCatalog(t), Config{})
			if err != nil {
				t.Fatal(err)
			}

			var d Decision
			list := &Request{Principal: examplePrincipal("u-1"), Resolution: resolve(t, "GET", "/v1/"+exampleProject+"/cloudservers/detail", "")}
			engine.Decide(list, &d)
			if !d.Allowed || d.Policy != fmt.Sprintf("p-%02d", firstAllow) || d.Statement != 1 {
				t.Errorf("list: got %+v, want allowed by p-%02d statement 1", d, firstAllow)
			}
			checkExplainAgrees(t, engine, list, &d)

			del := &Request{Principal: examplePrincipal("u-1"), Resolution: resolve(t, "POST", "/v1/"+exampleProject+"/cloudservers/delete", `{"servers":[{"id":"s-0001"}]}`)}
			engine.Decide(del, &d)
			if d.Allowed || d.Reason != ReasonExplicitDeny || d.Policy != fmt.Sprintf("p-%02d", firstDeny) || d.Statement != 0 {
				t.Errorf("delete: got %+v, want explicit deny by p-%02d statement 0", d, firstDeny)
			}
		})
	}
}
