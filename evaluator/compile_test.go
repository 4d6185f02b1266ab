package evaluator

import (
	"errors"
	"strings"
	"testing"

	"github.com/ecsauthz/ecsauthz/catalog"
)

func TestCompileErrors(t *testing.T) {
	base := func() *Data {
		return &Data{
			Users:  []User{{ID: "u-1", DomainID: "d-1"}},
			Groups: []Group{{ID: "g-1", DomainID: "d-1"}},
		}
	}
	tests := []struct {
		name     string
		edit     func(*Data)
		sentinel error
		want     []string
	}{
		{
			name: "grant names unknown policy, user and group",
			edit: func(d *Data) {
				d.Grants = []Grant{
					{Policy: "missing", UserID: "u-1", Scope: ScopeDomain, Source: "grants.yaml:3"},
					{Policy: PolicyECSFullAccess, UserID: "u-9", Scope: ScopeDomain},
					{Policy: PolicyECSFullAccess, GroupID: "g-9", Scope: ScopeDomain},
				}
			},
			sentinel: ErrUnknownReference,
			want: []string{
				`grants.yaml:3: Grants[0]: unknown reference: policy "missing" not found`,
				`Grants[1]: unknown reference: user "u-9" not found`,
				`Grants[2]: unknown reference: group "g-9" not found`,
			},
		},
		{
			name: "grant scope and grantee",
			edit: func(d *Data) {
				d.Grants = []Grant{
					{Policy: PolicyECSFullAccess, UserID: "u-1", GroupID: "g-1", Scope: ScopeDomain},
					{Policy: PolicyECSFullAccess, UserID: "u-1", Scope: ScopeProject},
					{Policy: PolicyECSFullAccess, UserID: "u-1", Scope: ScopeDomain, ScopeID: "p-1"},
					{Policy: PolicyECSFullAccess, UserID: "u-1", Scope: 9},
				}
			},
			sentinel: ErrInvalidData,
			want: []string{
				`Grants[0]: invalid data: a grant names exactly one of a user and a group, got user "u-1" and group "g-1"`,
				`Grants[1]: invalid data: scope project needs a scope id`,
				`Grants[2]: invalid data: scope domain takes no scope id, got "p-1"`,
				`Grants[3]: invalid data: invalid scope kind 9`,
			},
		},
		{
			name: "membership references",
			edit: func(d *Data) {
				d.Memberships = []Membership{{GroupID: "g-9", UserID: "u-9"}}
			},
			sentinel: ErrUnknownReference,
			want: []string{
				`Memberships[0]: unknown reference: user "u-9" not found`,
				`Memberships[0]: unknown reference: group "g-9" not found`,
			},
		},
		{
			name: "policy problems carry their source",
			edit: func(d *Data) {
				d.Policies = []Policy{
					{Name: "bad", Document: []byte(`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"],"Condition":{"StringEqualz":{"g:UserName":["a"]}}}]}`), Source: "policies/bad.json"},
					{Name: PolicyECSReadOnlyAccess, Document: []byte(`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"]}]}`)},
				}
			},
			sentinel: ErrUnsupportedCondition,
			want: []string{
				`policies/bad.json: policy "bad", Statement[0].Condition.StringEqualz: unsupported condition: unknown operator "StringEqualz"`,
				`Policies[1]: invalid data: policy name "ECS ReadOnlyAccess" is the name of a built-in system policy`,
			},
		},
		{
			name: "duplicate ids",
			edit: func(d *Data) {
				d.Users = append(d.Users, User{ID: "u-1", DomainID: "d-1"})
				d.Groups = append(d.Groups, Group{ID: "g-1"})
				d.Servers = []Server{{ID: "s-1"}, {ID: "s-1"}}
			},
			sentinel: ErrInvalidData,
			want: []string{
				`Users[1]: invalid data: duplicate user id "u-1"`,
				`Groups[1]: invalid data: duplicate group id "g-1"`,
				`Servers[1]: invalid data: duplicate server id "s-1"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := base()
			tt.edit(data)
			_, _, err := compile(data, testActions(), Config{})
			if err == nil {
				t.Fatalf("compile = nil error, want %q", tt.want)
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("compile error %v does not wrap %v", err, tt.sentinel)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("compile error\n%v\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestCompileWarnings(t *testing.T) {
	data := &Data{Policies: []Policy{{
		Name:     "tagged",
		Document: []byte(`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"],"Condition":{"StringEquals":{"ecs:imageID":["img"]}}}]}`),
	}}}
	_, problems, err := compile(data, testActions(), Config{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if len(problems) != 1 || !problems[0].Warning || !strings.Contains(problems[0].Location, `policy "tagged", Statement[0].Condition.StringEquals.ecs:imageID`) {
		t.Errorf("compile warnings = %v, want one unknown-key warning", problems)
	}
}

func TestConfigValidate(t *testing.T) {
	var conf Config
	conf.SetDefaults()
	if err := conf.Validate(); err != nil {
		t.Fatalf("Validate after SetDefaults = %v, want nil", err)
	}
	if conf.Limits != DefaultLimits() || conf.Limits.Statements != 8 || conf.Limits.DocumentChars != 6144 {
		t.Errorf("SetDefaults limits = %+v", conf.Limits)
	}
	bad := Config{Limits: Limits{Statements: -1, ActionsPerStatement: 1, ResourcesPerStatement: 1, Conditions: -2, DocumentChars: 1}, RootUserIDs: []string{""}}
	err := bad.Validate()
	for _, want := range []string{"evaluator.limits.statements must be positive, got -1", "evaluator.limits.conditions must be positive, got -2", "evaluator.root_user_ids[0] is empty"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to contain %q", err, want)
		}
	}
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Validate error %v does not wrap ErrInvalidConfig", err)
	}
}

// testActions returns a small hand-built action list for tests that do not
// need the catalog.
func testActions() []*catalog.Action {
	names := []string{"ecs:cloudServers:list", "ecs:cloudServers:delete", "vpc:publicIps:create", "iam:users:list"}
	out := make([]*catalog.Action, len(names))
	for i, n := range names {
		out[i] = &catalog.Action{ID: i, Name: n}
	}
	out[1].Aliases = []string{"ecs:cloudServers:deleteServers"}
	return out
}

func TestGlobalScope(t *testing.T) {
	data := &Data{
		Users:    []User{{ID: "u-1", DomainID: "d-1"}},
		Grants:   []Grant{{Policy: "all", UserID: "u-1", Scope: ScopeGlobal}},
		Policies: []Policy{{Name: "all", Document: []byte(`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["*:*:*"]}]}`)}},
	}
	engine, _, err := compile(data, testActions(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		action string
		want   bool
	}{
		{"ecs:cloudServers:list", false},
		{"vpc:publicIps:create", false},
		{"iam:users:list", true},
		{"obs:bucket:ListAllMyBuckets", true},
	} {
		var d Decision
		engine.DecideActions(&ActionsRequest{Principal: Principal{UserID: "u-1", DomainID: "d-1"}, Actions: []string{tt.action}, ProjectID: "p-1"}, &d)
		if d.Allowed != tt.want {
			t.Errorf("global grant, action %s: allowed = %v, want %v", tt.action, d.Allowed, tt.want)
		}
	}
}

func TestConfiguredRoot(t *testing.T) {
	engine, _, err := compile(&Data{}, testActions(), Config{RootUserIDs: []string{"u-root"}})
	if err != nil {
		t.Fatal(err)
	}
	var d Decision
	engine.DecideActions(&ActionsRequest{Principal: Principal{UserID: "u-root", DomainID: "d-1"}, Actions: []string{"ecs:cloudServers:delete"}}, &d)
	if !d.Allowed || d.Reason != ReasonAllowed {
		t.Errorf("configured root: decision %+v, want allowed", d)
	}
}

func TestCompileGrantOfInvalidPolicy(t *testing.T) {
	data := &Data{
		Users:    []User{{ID: "u-1", DomainID: "d-1"}},
		Policies: []Policy{{Name: "bad", Document: []byte(`{"Version":"1.0","Statement":[]}`)}},
		Grants:   []Grant{{Policy: "bad", UserID: "u-1", Scope: ScopeDomain}},
	}
	_, _, err := compile(data, testActions(), Config{})
	if err == nil {
		t.Fatal("compile = nil error, want the policy's errors")
	}
	if strings.Contains(err.Error(), "not found") {
		t.Errorf("compile error repeats the invalid policy as not found:\n%v", err)
	}
	if !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("compile error %v does not wrap ErrInvalidPolicy", err)
	}
}

func TestCompileAfterValidatePolicy(t *testing.T) {
	doc := []byte(`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:cloudServers:list"]},` +
		`{"Effect":"Deny","Action":["ecs:*:*"],"Condition":{"StringEquals":{"ecs:imageID":["img"]}}}]}`)
	data := &Data{
		Users:    []User{{ID: "u-1", DomainID: "d-1"}},
		Policies: []Policy{{Name: "listed", Document: doc, Source: "policies/listed.json"}},
		Grants:   []Grant{{Policy: "listed", UserID: "u-1", Scope: ScopeDomain}},
	}
	var conf Config
	conf.SetDefaults()

	_, fresh, err := compile(data, testActions(), conf)
	if err != nil {
		t.Fatalf("compile without validation: %v", err)
	}
	if err := ValidatePolicy("listed", doc, conf.Limits); err != nil {
		t.Fatalf("ValidatePolicy: %v", err)
	}
	if n := len(parsedPolicies.entries); n != 1 {
		t.Fatalf("parse cache holds %d entries after ValidatePolicy, want 1", n)
	}
	engine, reused, err := compile(data, testActions(), conf)
	if err != nil {
		t.Fatalf("compile after validation: %v", err)
	}
	if n := len(parsedPolicies.entries); n != 0 {
		t.Errorf("parse cache holds %d entries after compile, want 0", n)
	}
	if len(reused) != 1 || len(fresh) != 1 || reused[0] != fresh[0] {
		t.Errorf("warnings after validation = %v, want %v", reused, fresh)
	}
	var d Decision
	engine.DecideActions(&ActionsRequest{Principal: Principal{UserID: "u-1", DomainID: "d-1"},
		Actions: []string{"ecs:cloudServers:list"}, ProjectID: "p-1"}, &d)
	if !d.Allowed {
		t.Errorf("decision after validation = %+v, want allowed", d)
	}

	// A second engine from the same validation must not share statements
	// with the first: each compile binds its own.
	if err := ValidatePolicy("listed", doc, conf.Limits); err != nil {
		t.Fatalf("ValidatePolicy: %v", err)
	}
	second, _, err := compile(data, testActions(), conf)
	if err != nil {
		t.Fatalf("second compile: %v", err)
	}
	if second.policies["listed"] == engine.policies["listed"] {
		t.Error("two compiles share one compiled policy")
	}
}

func TestValidatePolicyOtherLimits(t *testing.T) {
	doc := []byte(`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:cloudServers:list","ecs:cloudServers:get"]}]}`)
	var conf Config
	conf.SetDefaults()
	loose := conf.Limits
	loose.ActionsPerStatement = 5
	if err := ValidatePolicy("two", doc, loose); err != nil {
		t.Fatalf("ValidatePolicy: %v", err)
	}
	conf.Limits.ActionsPerStatement = 1
	data := &Data{Policies: []Policy{{Name: "two", Document: doc}}}
	if _, _, err := compile(data, testActions(), conf); !errors.Is(err, ErrLimitExceeded) {
		t.Errorf("compile under a stricter limit = %v, want ErrLimitExceeded", err)
	}
}

// TestSameGroupsSharePrincipal checks that users in the same groups share
// their bucket lists but keep their own user, root flag and direct grants.
func TestSameGroupsSharePrincipal(t *testing.T) {
	data := &Data{
		Users: []User{
			{ID: "u-a", DomainID: exampleDomain},
			{ID: "u-b", DomainID: exampleDomain},
			{ID: "u-root", DomainID: exampleDomain},
			{ID: "u-direct", DomainID: exampleDomain},
		},
		Groups: []Group{{ID: "g-1", DomainID: exampleDomain}},
		Grants: []Grant{
			{Policy: PolicyECSReadOnlyAccess, GroupID: "g-1", Scope: ScopeProject, ScopeID: exampleProject},
			{Policy: PolicyECSFullAccess, UserID: "u-direct", Scope: ScopeProject, ScopeID: exampleProject},
		},
	}
	for _, u := range data.Users {
		data.Memberships = append(data.Memberships, Membership{GroupID: "g-1", UserID: u.ID})
	}
	engine, _, err := Compile(data, testCatalog(t), Config{RootUserIDs: []string{"u-root"}})
	if err != nil {
		t.Fatal(err)
	}

	a, b := engine.principals["u-a"], engine.principals["u-b"]
	if a == b || a.user.ID != "u-a" || b.user.ID != "u-b" {
		t.Fatalf("principals u-a and u-b: %p %p with users %q and %q, want two principals of their own users", a, b, a.user.ID, b.user.ID)
	}
	if len(a.projects) != 1 || &a.projects[0] != &b.projects[0] {
		t.Errorf("u-a and u-b do not share their project buckets")
	}

	wants := map[string]bool{"u-a": false, "u-b": false, "u-root": true, "u-direct": true}
	for user, allowed := range wants {
		req := &Request{Principal: examplePrincipal(user), Resolution: resolve(t, "POST", "/v1/"+exampleProject+"/cloudservers/delete", `{"servers":[{"id":"s-0001"}]}`)}
		var d Decision
		engine.Decide(req, &d)
		if d.Allowed != allowed {
			t.Errorf("%s: delete decision %+v, want allowed=%v", user, d, allowed)
		}
	}
}
