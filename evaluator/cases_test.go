package evaluator

import (
	cmpstd "cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"

	"github.com/ecsauthz/ecsauthz/catalog"
)

// The decision cases are YAML files under testdata/cases. Each file adds
// policies, grants and the like to the shared fixture (testdata/fixture.yaml)
// and lists requests with the expected decision. A request either names an
// HTTP method, target and body, resolved with the built-in catalog and
// decided with Engine.Decide, or lists action names decided with
// Engine.DecideActions.

type caseFile struct {
	Description string      `yaml:"description"`
	Config      Config      `yaml:"config"`
	Data        dataYAML    `yaml:"data"`
	Cases       []*caseYAML `yaml:"cases"`
}

type dataYAML struct {
	Users       []userYAML       `yaml:"users"`
	Groups      []groupYAML      `yaml:"groups"`
	Memberships []membershipYAML `yaml:"memberships"`
	Policies    []policyYAML     `yaml:"policies"`
	Grants      []grantYAML      `yaml:"grants"`
	Servers     []serverYAML     `yaml:"servers"`
}

type userYAML struct {
	ID         string `yaml:"id"`
	Name       string `yaml:"name"`
	DomainID   string `yaml:"domain_id"`
	DomainName string `yaml:"domain_name"`
	Root       bool   `yaml:"root"`
}

type groupYAML struct {
	ID       string `yaml:"id"`
	Name     string `yaml:"name"`
	DomainID string `yaml:"domain_id"`
}

type membershipYAML struct {
	Group string `yaml:"group"`
	User  string `yaml:"user"`
}

type policyYAML struct {
	Name     string `yaml:"name"`
	Document any    `yaml:"document"`
}

type grantYAML struct {
	Policy  string `yaml:"policy"`
	Group   string `yaml:"group"`
	User    string `yaml:"user"`
	Scope   string `yaml:"scope"`
	ScopeID string `yaml:"scope_id"`
}

type serverYAML struct {
	ID                  string            `yaml:"id"`
	ProjectID           string            `yaml:"project_id"`
	EnterpriseProjectID string            `yaml:"enterprise_project_id"`
	Tags                map[string]string `yaml:"tags"`
}

type caseYAML struct {
	Name string `yaml:"name"`
	// Principal is a user id of the data; the principal's fields come from
	// the user record and the fields below.
	Principal   string            `yaml:"principal"`
	DomainID    string            `yaml:"domain_id"`
	ProjectID   string            `yaml:"project_id"`
	ProjectName string            `yaml:"project_name"`
	MFAPresent  bool              `yaml:"mfa_present"`
	MFAAge      *int64            `yaml:"mfa_age"`
	SourceIP    string            `yaml:"source_ip"`
	Time        string            `yaml:"time"`
	RequestTags map[string]string `yaml:"request_tags"`

	// HTTP form.
	Method string `yaml:"method"`
	Target string `yaml:"target"`
	Body   any    `yaml:"body"`

	// Direct form.
	Actions             []string `yaml:"actions"`
	Project             string   `yaml:"project"`
	EnterpriseProject   string   `yaml:"enterprise_project"`
	EnterpriseSupported bool     `yaml:"enterprise_project_supported"`
	Resource            string   `yaml:"resource"`

	// Policy, when set, is a document granted only for this case, directly
	// to the principal at PolicyScope (default domain) and PolicyScopeID.
	Policy        any    `yaml:"policy"`
	PolicyScope   string `yaml:"policy_scope"`
	PolicyScopeID string `yaml:"policy_scope_id"`

	Expect expectYAML `yaml:"expect"`
}

type expectYAML struct {
	Allowed            bool     `yaml:"allowed"`
	Reason             Reason   `yaml:"reason"`
	Action             string   `yaml:"action"`
	Policy             string   `yaml:"policy"`
	Statement          *int     `yaml:"statement"`
	EnterpriseProjects []string `yaml:"granted_enterprise_projects"`
}

const (
	exampleDomain  = "d0000000000000000000000000000001"
	exampleProject = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
)

var loadCatalog = sync.OnceValues(catalog.Load)

func testCatalog(tb testing.TB) *catalog.Catalog {
	tb.Helper()
	cat, err := loadCatalog()
	if err != nil {
		tb.Fatalf("catalog.Load: %v", err)
	}
	return cat
}

func readYAML(tb testing.TB, path string, v any) {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := yaml.UnmarshalWithOptions(raw, v, yaml.DisallowUnknownField()); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// toData converts YAML data to store data, naming each policy's source.
func (d dataYAML) toData(tb testing.TB, file string) *Data {
	tb.Helper()
	out := &Data{}
	for _, u := range d.Users {
		out.Users = append(out.Users, User(u))
	}
	for _, g := range d.Groups {
		out.Groups = append(out.Groups, Group(g))
	}
	for _, m := range d.Memberships {
		out.Memberships = append(out.Memberships, Membership{GroupID: m.Group, UserID: m.User})
	}
	for i, p := range d.Policies {
		doc, err := json.Marshal(p.Document)
		if err != nil {
			tb.Fatalf("%s: policy %q: %v", file, p.Name, err)
		}
		out.Policies = append(out.Policies, Policy{Name: p.Name, Document: doc, Source: fmt.Sprintf("%s policies[%d]", file, i)})
	}
	for _, g := range d.Grants {
		out.Grants = append(out.Grants, Grant{Policy: g.Policy, GroupID: g.Group, UserID: g.User, Scope: parseScope(tb, g.Scope), ScopeID: g.ScopeID})
	}
	for _, s := range d.Servers {
		out.Servers = append(out.Servers, Server(s))
	}
	return out
}

func parseScope(tb testing.TB, s string) ScopeKind {
	for _, k := range []ScopeKind{ScopeDomain, ScopeProject, ScopeEnterpriseProject, ScopeGlobal} {
		if k.String() == s {
			return k
		}
	}
	tb.Fatalf("unknown scope %q", s)
	return 0
}

// merge appends o's records to d.
func (d *Data) merge(o *Data) {
	d.Users = append(d.Users, o.Users...)
	d.Groups = append(d.Groups, o.Groups...)
	d.Memberships = append(d.Memberships, o.Memberships...)
	d.Policies = append(d.Policies, o.Policies...)
	d.Grants = append(d.Grants, o.Grants...)
	d.Servers = append(d.Servers, o.Servers...)
}

func fixtureData(tb testing.TB) *Data {
	var fixture dataYAML
	readYAML(tb, "testdata/fixture.yaml", &fixture)
	return fixture.toData(tb, "fixture.yaml")
}

// loadCaseFile reads one case file and compiles its data on top of the
// fixture.
func loadCaseFile(tb testing.TB, path string) (*caseFile, *Engine, *Data) {
	tb.Helper()
	var cf caseFile
	readYAML(tb, path, &cf)
	data := fixtureData(tb)
	data.merge(cf.Data.toData(tb, filepath.Base(path)))
	engine, _, err := Compile(data, testCatalog(tb), cf.Config)
	if err != nil {
		tb.Fatalf("%s: Compile: %v", path, err)
	}
	return &cf, engine, data
}

// principalFor builds the case's principal from the user record.
func (c *caseYAML) principalFor(data *Data) Principal {
	p := Principal{UserID: c.Principal, DomainID: exampleDomain, ProjectID: exampleProject, ProjectName: "region-1", MFAAge: -1}
	for _, u := range data.Users {
		if u.ID == c.Principal {
			p.UserName, p.DomainID, p.DomainName = u.Name, u.DomainID, u.DomainName
		}
	}
	if c.DomainID != "" {
		p.DomainID = c.DomainID
	}
	if c.ProjectID != "" {
		p.ProjectID = c.ProjectID
	}
	if c.ProjectName != "" {
		p.ProjectName = c.ProjectName
	}
	p.MFAPresent = c.MFAPresent
	if c.MFAAge != nil {
		p.MFAAge = *c.MFAAge
	}
	return p
}

func (c *caseYAML) sourceIP(tb testing.TB) netip.Addr {
	if c.SourceIP == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(c.SourceIP)
	if err != nil {
		tb.Fatalf("case %q: source_ip: %v", c.Name, err)
	}
	return a
}

func (c *caseYAML) time(tb testing.TB) time.Time {
	if c.Time == "" {
		return time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	}
	t, err := time.Parse(time.RFC3339, c.Time)
	if err != nil {
		tb.Fatalf("case %q: time: %v", c.Name, err)
	}
	return t
}

// body returns the case body as JSON: a YAML string is used as is, any other
// value is encoded.
func (c *caseYAML) body(tb testing.TB) []byte {
	switch b := c.Body.(type) {
	case nil:
		return nil
	case string:
		return []byte(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			tb.Fatalf("case %q: body: %v", c.Name, err)
		}
		return raw
	}
}

// httpRequest resolves the case's HTTP request with the catalog.
func (c *caseYAML) httpRequest(tb testing.TB, data *Data) *Request {
	tb.Helper()
	res := &catalog.Resolution{}
	err := testCatalog(tb).Resolve(&catalog.Request{Method: c.Method, Target: c.Target, Body: c.body(tb)}, res)
	if err != nil {
		tb.Fatalf("case %q: Resolve(%s %s): %v", c.Name, c.Method, c.Target, err)
	}
	return &Request{
		Principal:   c.principalFor(data),
		Resolution:  res,
		Region:      "region-1",
		SourceIP:    c.sourceIP(tb),
		Time:        c.time(tb),
		RequestTags: c.RequestTags,
	}
}

func (c *caseYAML) actionsRequest(tb testing.TB, data *Data) *ActionsRequest {
	project := c.Project
	if project == "" {
		project = exampleProject
	}
	return &ActionsRequest{
		Principal:                  c.principalFor(data),
		Actions:                    c.Actions,
		ProjectID:                  project,
		EnterpriseProjectID:        c.EnterpriseProject,
		EnterpriseProjectSupported: c.EnterpriseSupported,
		Resource:                   c.Resource,
		Region:                     "region-1",
		SourceIP:                   c.sourceIP(tb),
		Time:                       c.time(tb),
		RequestTags:                c.RequestTags,
	}
}

// decisionResult is the part of a Decision the cases assert on.
type decisionResult struct {
	Allowed            bool
	Reason             Reason
	Action             string
	Policy             string
	Statement          int
	EnterpriseProjects []string
}

func (e expectYAML) result(got *Decision) decisionResult {
	r := decisionResult{Allowed: e.Allowed, Reason: e.Reason, Action: e.Action, Policy: e.Policy, Statement: got.Statement, EnterpriseProjects: e.EnterpriseProjects}
	if e.Policy == "" {
		r.Policy = got.Policy
	}
	if e.Statement != nil {
		r.Statement = *e.Statement
	}
	return r
}

func resultOf(d *Decision) decisionResult {
	return decisionResult{Allowed: d.Allowed, Reason: d.Reason, Action: d.Action, Policy: d.Policy, Statement: d.Statement, EnterpriseProjects: d.GrantedEnterpriseProjects}
}

func caseFiles(tb testing.TB) []string {
	files, err := filepath.Glob("testdata/cases/*.yaml")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no case files in testdata/cases: %v", err)
	}
	return files
}

func TestDecisionCases(t *testing.T) {
	for _, file := range caseFiles(t) {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			t.Parallel()
			cf, engine, data := loadCaseFile(t, file)
			for _, c := range cf.Cases {
				t.Run(c.Name, func(t *testing.T) {
					engine, data := engine, data
					if c.Policy != nil {
						engine, data = c.withPolicy(t, data, cf.Config)
					}
					runCase(t, engine, data, c)
				})
			}
		})
	}
}

// casePolicyName is the name of the policy a case grants for itself.
const casePolicyName = "case-policy"

// withPolicy compiles data plus the case's own policy and grant.
func (c *caseYAML) withPolicy(tb testing.TB, data *Data, conf Config) (*Engine, *Data) {
	tb.Helper()
	extra := dataYAML{
		Policies: []policyYAML{{Name: casePolicyName, Document: c.Policy}},
		Grants:   []grantYAML{{Policy: casePolicyName, User: c.Principal, Scope: cmpstd.Or(c.PolicyScope, "domain"), ScopeID: c.PolicyScopeID}},
	}
	merged := &Data{}
	merged.merge(data)
	merged.merge(extra.toData(tb, "case "+c.Name))
	engine, _, err := Compile(merged, testCatalog(tb), conf)
	if err != nil {
		tb.Fatalf("case %q: Compile: %v", c.Name, err)
	}
	return engine, merged
}

func runCase(t *testing.T, engine *Engine, data *Data, c *caseYAML) {
	var d Decision
	switch {
	case c.Method != "":
		req := c.httpRequest(t, data)
		engine.Decide(req, &d)
		checkExplainAgrees(t, engine, req, &d)
	case len(c.Actions) > 0:
		engine.DecideActions(c.actionsRequest(t, data), &d)
	default:
		t.Fatalf("case %q names neither method and target nor actions", c.Name)
	}
	if diff := cmp.Diff(c.Expect.result(&d), resultOf(&d), cmpEmptySlices); diff != "" {
		t.Errorf("%s %s%v: decision mismatch (-want +got):\n%s", c.Method, c.Target, c.Actions, diff)
	}
}

var cmpEmptySlices = cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })

// checkExplainAgrees decides req again in explain mode and checks that the
// statement-by-statement evaluation agrees with the bitset tables.
func checkExplainAgrees(t *testing.T, engine *Engine, req *Request, want *Decision) {
	t.Helper()
	explained := *req
	explained.Explain = true
	var d Decision
	engine.Decide(&explained, &d)
	if d.Allowed != want.Allowed || d.Reason != want.Reason || d.Action != want.Action {
		t.Errorf("explain mode changed the decision: got %+v, want %+v", resultOf(&d), resultOf(want))
	}
	if req.Resolution.AllGrantedEPs || len(d.Outcomes) == 0 {
		return
	}
	allAllowed := !slices.ContainsFunc(d.Outcomes, func(o ActionOutcome) bool { return !o.Allowed })
	if allAllowed != want.Allowed {
		t.Errorf("explain outcomes allowed=%v, decision allowed=%v; outcomes: %+v", allAllowed, want.Allowed, d.Outcomes)
	}
}
