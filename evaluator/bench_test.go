package evaluator

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecsauthz/ecsauthz/catalog"
)

// syntheticData builds an account of users principals. Every user is in one
// of 100 groups, and each group has attached condition-free policies at
// project scope. The first attached-1 are filler policies that allow
// unrelated actions and deny one. ECS FullAccess comes last, so that a
// decision has to look past every other grant.
func syntheticData(users, attached int) *Data {
	const groups = 100
	data := &Data{}
	for i := range attached - 1 {
		doc := map[string]any{"Version": "1.1", "Statement": []any{
			map[string]any{"Effect": "Allow", "Action": []string{fmt.Sprintf("ecs:filler%d:*", i), "evs:*:get*", "vpc:ports:*"}},
			map[string]any{"Effect": "Deny", "Action": []string{fmt.Sprintf("ecs:cloudServers:filler%d", i)}},
		}}
		raw, _ := json.Marshal(doc)
		data.Policies = append(data.Policies, Policy{Name: fmt.Sprintf("filler-%d", i), Document: raw})
	}
	for g := range groups {
		id := fmt.Sprintf("g-%d", g)
		data.Groups = append(data.Groups, Group{ID: id, DomainID: exampleDomain})
		for i := range attached - 1 {
			data.Grants = append(data.Grants, Grant{Policy: fmt.Sprintf("filler-%d", i), GroupID: id, Scope: ScopeProject, ScopeID: exampleProject})
		}
		data.Grants = append(data.Grants, Grant{Policy: PolicyECSFullAccess, GroupID: id, Scope: ScopeProject, ScopeID: exampleProject})
	}
	for u := range users {
		id := fmt.Sprintf("u-%05d", u)
		data.Users = append(data.Users, User{ID: id, DomainID: exampleDomain})
		data.Memberships = append(data.Memberships, Membership{GroupID: fmt.Sprintf("g-%d", u%groups), UserID: id})
	}
	data.Servers = []Server{{ID: "s-0001", ProjectID: exampleProject, EnterpriseProjectID: "0"}}
	return data
}

// BenchmarkDecide measures one condition-free decision on the 1-action list
// route and the 26-action Nova create route, for principals with 1, 8, 10
// and 100 attached policies, with 10,000 principals loaded. 8 is the largest
// bucket whose deciding statement is found by a scan of its policies.
func BenchmarkDecide(b *testing.B) {
	routes := []struct{ name, method, target, body string }{
		{"list-1-action", "GET", "/v1/" + exampleProject + "/cloudservers/detail", ""},
		{"nova-create-26-actions", "POST", "/v2.1/" + exampleProject + "/servers", `{"server":{}}`},
		{"delete-1-server", "POST", "/v1/" + exampleProject + "/cloudservers/delete", `{"servers":[{"id":"s-0001"}]}`},
	}
	for _, attached := range []int{1, maxScannedPolicies, 10, 100} {
		engine, _, err := Compile(syntheticData(10000, attached), testCatalog(b), Config{})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range routes {
			req := &Request{Principal: examplePrincipal("u-04321"), Resolution: resolve(b, r.method, r.target, r.body)}
			b.Run(fmt.Sprintf("%s/policies=%d/principals=10000", r.name, attached), func(b *testing.B) {
				var d Decision
				b.ReportAllocs()
				for b.Loop() {
					engine.Decide(req, &d)
				}
				if !d.Allowed {
					b.Fatalf("decision %+v, want allowed", d)
				}
			})
		}
	}
}

// BenchmarkDecideConditions measures the slow path: one Allow statement with
// two conditions on top of ECS ReadOnlyAccess.
func BenchmarkDecideConditions(b *testing.B) {
	data := syntheticData(1000, 10)
	data.Policies = append(data.Policies, Policy{Name: "mfa-list", Document: []byte(
		`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:cloudServers:list"],"Condition":{"Bool":{"g:MFAPresent":["true"]},"StringEquals":{"g:DomainId":["` + exampleDomain + `"]}}}]}`)})
	data.Users = append(data.Users, User{ID: "u-mfa", DomainID: exampleDomain})
	data.Grants = append(data.Grants, Grant{Policy: "mfa-list", UserID: "u-mfa", Scope: ScopeDomain})
	engine, _, err := Compile(data, testCatalog(b), Config{})
	if err != nil {
		b.Fatal(err)
	}
	principal := examplePrincipal("u-mfa")
	principal.MFAPresent = true
	req := &Request{Principal: principal, Resolution: resolve(b, "GET", "/v1/"+exampleProject+"/cloudservers/detail", "")}
	var d Decision
	b.ReportAllocs()
	for b.Loop() {
		engine.Decide(req, &d)
	}
	if !d.Allowed {
		b.Fatalf("decision %+v, want allowed", d)
	}
}

// BenchmarkCompile measures compiling 10,000 users with 10 direct grants
// each (100,000 grants) over 100 policies.
func BenchmarkCompile(b *testing.B) {
	data := syntheticData(0, 100)
	data.Grants = nil
	for u := range 10000 {
		id := fmt.Sprintf("u-%05d", u)
		data.Users = append(data.Users, User{ID: id, DomainID: exampleDomain})
		for i := range 10 {
			data.Grants = append(data.Grants, Grant{Policy: fmt.Sprintf("filler-%d", (u+i*7)%99), UserID: id, Scope: ScopeProject, ScopeID: exampleProject})
		}
	}
	cat := testCatalog(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Compile(data, cat, Config{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecisionCases decides every HTTP case of testdata/cases once per
// iteration, with the engine of its file.
func BenchmarkDecisionCases(b *testing.B) {
	for _, file := range caseFiles(b) {
		cf, engine, data := loadCaseFile(b, file)
		var reqs []*Request
		for _, c := range cf.Cases {
			if c.Method != "" && c.Policy == nil {
				reqs = append(reqs, c.httpRequest(b, data))
			}
		}
		if len(reqs) == 0 {
			continue
		}
		b.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(b *testing.B) {
			var d Decision
			b.ReportAllocs()
			for b.Loop() {
				for _, req := range reqs {
					engine.Decide(req, &d)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(reqs)), "ns/decision")
		})
	}
}

// BenchmarkResolveAndDecide measures one whole in-process decision without
// identity: canonicalize the request target, match the route, then decide,
// for a principal with 10 condition-free policies and 10,000 principals
// loaded.
func BenchmarkResolveAndDecide(b *testing.B) {
	engine, _, err := Compile(syntheticData(10000, 10), testCatalog(b), Config{})
	if err != nil {
		b.Fatal(err)
	}
	cat := testCatalog(b)
	targets := []struct{ name, method, target, body string }{
		{"get-1-action", "GET", "/v1/" + exampleProject + "/cloudservers/s-0001", ""},
		{"nova-create-26-actions", "POST", "/v2.1/" + exampleProject + "/servers", `{"server":{}}`},
	}
	for _, target := range targets {
		b.Run(target.name, func(b *testing.B) {
			routeRequest := catalog.Request{Method: target.method, Target: target.target}
			if target.body != "" {
				routeRequest.Body = []byte(target.body)
			}
			var resolution catalog.Resolution
			req := &Request{Principal: examplePrincipal("u-04321"), Resolution: &resolution}
			var d Decision
			b.ReportAllocs()
			for b.Loop() {
				if err := cat.Resolve(&routeRequest, &resolution); err != nil {
					b.Fatal(err)
				}
				engine.Decide(req, &d)
			}
			if !d.Allowed {
				b.Fatalf("decision %+v, want allowed", d)
			}
		})
	}
}
