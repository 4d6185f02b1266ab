package store

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ecsauthz/ecsauthz/catalog"
	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/store/storetest"
)

const (
	exampleProject = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	exampleDomain  = "d0000000000000000000000000000001"
)

var (
	catalogOnce sync.Once
	builtin     *catalog.Catalog
	catalogErr  error
)

// engineCompiler returns the compile function the server uses: the
// evaluator over the built-in catalog.
func engineCompiler(t *testing.T) func(*Snapshot) (*evaluator.Engine, error) {
	t.Helper()
	catalogOnce.Do(func() { builtin, catalogErr = catalog.Load() })
	if catalogErr != nil {
		t.Fatalf("catalog.Load: %v", catalogErr)
	}
	var conf evaluator.Config
	conf.SetDefaults()
	return func(s *Snapshot) (*evaluator.Engine, error) {
		e, _, err := evaluator.Compile(s.Data, builtin, conf)
		return e, err
	}
}

// listServers decides GET /v1/<project>/cloudservers/detail for user.
func listServers(t *testing.T, r *Reloader[*evaluator.Engine], user string) evaluator.Decision {
	t.Helper()
	var res catalog.Resolution
	target := "/v1/" + exampleProject + "/cloudservers/detail"
	if err := builtin.Resolve(&catalog.Request{Method: "GET", Target: target}, &res); err != nil {
		t.Fatalf("Resolve %s: %v", target, err)
	}
	engine, ok := r.Current()
	if !ok {
		return evaluator.Decision{Reason: evaluator.ReasonPolicyUnavailable}
	}
	var d evaluator.Decision
	engine.Decide(&evaluator.Request{
		Principal:  evaluator.Principal{UserID: user, DomainID: exampleDomain, ProjectID: exampleProject, MFAAge: -1},
		Resolution: &res,
		Time:       time.Now(),
	}, &d)
	return d
}

func waitForDecision(t *testing.T, r *Reloader[*evaluator.Engine], user string, want evaluator.Reason) {
	t.Helper()
	waitFor(t, "decision "+string(want)+" for "+user, func() bool { return listServers(t, r, user).Reason == want })
}

// testGrantDecisions adds, changes and revokes a grant through w and waits
// for each change to reach the decisions of a reloader compiling engines.
func testGrantDecisions(t *testing.T, st writableStore) {
	ctx := context.Background()
	if err := st.Replace(ctx, loadExample(t)); err != nil {
		t.Fatal(err)
	}
	r := startReloader(t, st, engineCompiler(t), ReloaderConfig{})
	waitForDecision(t, r, "u-0002", evaluator.ReasonAllowed)
	waitForDecision(t, r, "u-0005", evaluator.ReasonImplicitDeny)

	grant := evaluator.Grant{Policy: "ECS ReadOnlyAccess", UserID: "u-0005", Scope: evaluator.ScopeProject, ScopeID: exampleProject}
	if _, err := st.Put(ctx, Object{Grant: &grant}, 0); err != nil {
		t.Fatal(err)
	}
	waitForDecision(t, r, "u-0005", evaluator.ReasonAllowed)

	// Changed: the grant moves to the other project.
	moved := grant
	moved.ScopeID = "1b2c3d4e5f60718293a4b5c6d7e8f90a"
	if _, err := st.Put(ctx, Object{Grant: &moved}, 0); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, KindGrant, GrantKey(grant), AnyVersion); err != nil {
		t.Fatal(err)
	}
	waitForDecision(t, r, "u-0005", evaluator.ReasonImplicitDeny)

	// A deny policy attached at domain scope wins over the viewer's allow.
	deny := evaluator.Policy{Name: "deny-list", Document: []byte(
		`{"Version":"1.1","Statement":[{"Effect":"Deny","Action":["ecs:cloudServers:list"]}]}`)}
	if _, err := st.Put(ctx, Object{Policy: &deny}, 0); err != nil {
		t.Fatal(err)
	}
	denyGrant := evaluator.Grant{Policy: "deny-list", GroupID: "g-ecs-viewers", Scope: evaluator.ScopeDomain}
	if _, err := st.Put(ctx, Object{Grant: &denyGrant}, 0); err != nil {
		t.Fatal(err)
	}
	waitForDecision(t, r, "u-0002", evaluator.ReasonExplicitDeny)

	// Revoked.
	if err := st.Delete(ctx, KindGrant, GrantKey(denyGrant), AnyVersion); err != nil {
		t.Fatal(err)
	}
	waitForDecision(t, r, "u-0002", evaluator.ReasonAllowed)
}

func TestPostgresGrantDecisions(t *testing.T) {
	testGrantDecisions(t, newPostgresStore(t, storetest.PostgresDSN(t)))
}

func TestEtcdGrantDecisions(t *testing.T) {
	srv := storetest.StartEtcd(t)
	testGrantDecisions(t, newEtcdStore(t, srv.Endpoints()))
}

func TestFileGrantDecisions(t *testing.T) {
	dir := copyExample(t)
	r := startReloader(t, NewFileStore(dir, WithDebounce(20*time.Millisecond)), engineCompiler(t), ReloaderConfig{})
	waitForDecision(t, r, "u-0005", evaluator.ReasonImplicitDeny)

	grants := filepath.Join(dir, "grants.yaml")
	appendFile(t, grants, "  - {policy: ECS ReadOnlyAccess, user: u-0005, scope: project, scope_id: "+exampleProject+"}\n")
	waitForDecision(t, r, "u-0005", evaluator.ReasonAllowed)

	// A grant naming an unknown policy fails to compile: the last good
	// engine keeps deciding.
	appendFile(t, grants, "  - {policy: no-such-policy, user: u-0005, scope: domain}\n")
	waitFor(t, "compile failure", func() bool { return r.Health().Failures > 0 })
	if d := listServers(t, r, "u-0005"); d.Reason != evaluator.ReasonAllowed {
		t.Errorf("decision after a broken change = %s, want allowed from the last good engine", d.Reason)
	}

	// Revoked: the example grants again.
	if err := copyFile(filepath.Join(exampleDir, "grants.yaml"), grants); err != nil {
		t.Fatal(err)
	}
	waitForDecision(t, r, "u-0005", evaluator.ReasonImplicitDeny)
}

func TestPolicyUnavailableBeforeLoad(t *testing.T) {
	r, err := NewReloader(NewFileStore(t.TempDir()), engineCompiler(t), ReloaderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if d := listServers(t, r, "u-0000"); d.Reason != evaluator.ReasonPolicyUnavailable {
		t.Errorf("decision before the first load = %s, want policy_unavailable", d.Reason)
	}
}
