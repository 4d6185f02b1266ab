package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

const exampleDir = "../examples/policies"

func TestFileStoreLoadsExample(t *testing.T) {
	snap, err := NewFileStore(exampleDir).Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	d := snap.Data

	if got := len(d.Users); got != 6 {
		t.Errorf("users = %d, want 6", got)
	}
	if got := len(d.Groups); got != 4 {
		t.Errorf("groups = %d, want 4", got)
	}
	if got := len(d.Memberships); got != 4 {
		t.Errorf("memberships = %d, want 4", got)
	}
	if got := len(d.Grants); got != 5 {
		t.Errorf("grants = %d, want 5", got)
	}
	if got := len(d.Servers); got != 3 {
		t.Errorf("servers = %d, want 3", got)
	}
	if len(d.Policies) != 1 || d.Policies[0].Name != "deny-server-delete" {
		t.Fatalf("policies = %+v, want deny-server-delete only", d.Policies)
	}
	if !d.Users[0].Root || d.Users[0].ID != "u-0000" {
		t.Errorf("first user = %+v, want root u-0000", d.Users[0])
	}

	wantServer := evaluator.Server{ID: "s-0002", ProjectID: "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
		EnterpriseProjectID: "ep-dev-0001", Tags: map[string]string{"team": "dev"}}
	if diff := cmp.Diff(wantServer, d.Servers[1]); diff != "" {
		t.Errorf("server s-0002 (-want +got):\n%s", diff)
	}

	wantGrant := evaluator.Grant{Policy: "ECS FullAccess", GroupID: "g-ep-dev",
		Scope: evaluator.ScopeEnterpriseProject, ScopeID: "ep-dev-0001"}
	var found bool
	for _, g := range d.Grants {
		if cmp.Equal(wantGrant, g, cmpopts.IgnoreFields(evaluator.Grant{}, "Source")) {
			found = true
			if !strings.HasSuffix(g.Source, "grants.yaml:20") {
				t.Errorf("grant source = %q, want grants.yaml:20", g.Source)
			}
		}
	}
	if !found {
		t.Errorf("grant %+v not found in %+v", wantGrant, d.Grants)
	}
	if snap.Revision == "" {
		t.Error("empty revision")
	}
}

func TestFileStoreRevisionFollowsContent(t *testing.T) {
	dir := copyExample(t)
	st := NewFileStore(dir)
	a, err := st.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a.Revision != b.Revision {
		t.Errorf("revision changed without a change: %s, %s", a.Revision, b.Revision)
	}
	appendFile(t, filepath.Join(dir, "servers.yaml"), "  - {id: s-0009, project_id: p}\n")
	c, err := st.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Revision == a.Revision {
		t.Error("revision unchanged after a change")
	}
}

func TestFileStoreErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings, each of them in the error
	}{
		{
			name:  "unknown user field",
			files: map[string]string{"u.yaml": "users:\n  - id: u1\n    name: n\n    domain_id: d\n    mail: x\n"},
			want:  []string{"u.yaml:5:", `unknown field "mail"`},
		},
		{
			name:  "unknown section",
			files: map[string]string{"u.yaml": "users: []\npeople: []\n"},
			want:  []string{"u.yaml:2:", `unknown key "people"`},
		},
		{
			name:  "yaml syntax",
			files: map[string]string{"u.yaml": "users:\n  - id: [\n"},
			want:  []string{"u.yaml:"},
		},
		{
			name:  "missing fields",
			files: map[string]string{"u.yaml": "users:\n  - id: u1\n"},
			want:  []string{"u.yaml:2:", "user: missing name, domain_id"},
		},
		{
			name: "duplicate user",
			files: map[string]string{"u.yaml": "users:\n  - {id: u1, name: a, domain_id: d}\n" +
				"  - {id: u1, name: b, domain_id: d}\n"},
			want: []string{"u.yaml:3:", `duplicate user "u1", first defined at`},
		},
		{
			name: "grant scope",
			files: map[string]string{"g.yaml": "groups: [{id: g1, name: g, domain_id: d}]\n" +
				"grants:\n  - {policy: p, group: g1, scope: region}\n"},
			want: []string{"g.yaml:3:", `invalid scope "region"`},
		},
		{
			name: "grant project without id",
			files: map[string]string{"g.yaml": "groups: [{id: g1, name: g, domain_id: d}]\n" +
				"grants:\n  - {policy: p, group: g1, scope: project}\n"},
			want: []string{"g.yaml:3:", "scope project needs scope_id"},
		},
		{
			name: "grant unknown group",
			files: map[string]string{"g.yaml": "grants:\n" +
				"  - {policy: p, group: nope, scope: domain}\n"},
			want: []string{"g.yaml:2:", `group "nope" not found`},
		},
		{
			name: "membership unknown user",
			files: map[string]string{"g.yaml": "groups: [{id: g1, name: g, domain_id: d}]\n" +
				"memberships:\n  - {group: g1, user: ghost}\n"},
			want: []string{"g.yaml:3:", `user "ghost" not found`},
		},
		{
			name:  "policy json syntax",
			files: map[string]string{"policies/p.json": "{\n  \"Version\": \"1.1\",\n  \"Statement\": [\n}\n"},
			want:  []string{"p.json:4:", "invalid character"},
		},
		{
			name:  "policy wrapper unknown field",
			files: map[string]string{"policies/p.json": "{\n  \"name\": \"x\",\n  \"policy\": {},\n  \"color\": 1\n}\n"},
			want:  []string{"p.json:4:", "unknown field"},
		},
		{
			name:  "policy without statement",
			files: map[string]string{"policies/p.json": `{"Version": "1.1"}`},
			want:  []string{"p.json:1:", `policy "p", Statement:`, "missing"},
		},
		{
			name:  "json unknown field",
			files: map[string]string{"u.json": "{\"users\": [\n  {\"id\": \"u1\", \"name\": \"n\", \"domain_id\": \"d\"},\n  {\"id\": \"u2\", \"mail\": \"x\"}\n]}\n"},
			want:  []string{"u.json:3:", `unknown field "mail"`},
		},
		{
			name:  "json unknown key",
			files: map[string]string{"u.json": "{\n\"users\": [],\n\"people\": []}"},
			want:  []string{"u.json:3:", `unknown key "people"`},
		},
		{
			name:  "json syntax",
			files: map[string]string{"u.json": "{\"users\": [\n  {\"id\": }\n]}"},
			want:  []string{"u.json:2:", "invalid character"},
		},
		{
			name:  "json section not a list",
			files: map[string]string{"u.json": `{"users": {"id": "u1"}}`},
			want:  []string{"u.json:1:", "users must be a list"},
		},
		{
			name: "json reference",
			files: map[string]string{"g.json": "{\"grants\": [\n" +
				"  {\"policy\": \"p\", \"group\": \"nope\", \"scope\": \"domain\"}\n]}"},
			want: []string{"g.json:2:", `group "nope" not found`},
		},
		{
			name: "every problem at once",
			files: map[string]string{
				"a.yaml":          "users:\n  - id: u1\n    mail: x\n",
				"policies/p.json": "{",
			},
			want: []string{"a.yaml:3:", "p.json:1:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeFile(t, filepath.Join(dir, name), content)
			}
			_, err := NewFileStore(dir).Load(context.Background())
			if err == nil {
				t.Fatalf("Load succeeded, want error containing %q", tt.want)
			}
			if !errors.Is(err, ErrInvalid) && !strings.Contains(tt.name, "yaml syntax") {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestFileStorePolicyForms(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "policies", "bare.json"),
		`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:get*"]}]}`)
	writeFile(t, filepath.Join(dir, "policies", "wrapped.json"),
		"{\n\"name\": \"ECS get only\",\n\"description\": \"reads\",\n\"policy\": {\"Version\":\"1.1\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"ecs:*:get*\"]}]}\n}")
	writeFile(t, filepath.Join(dir, "policies", ".hidden.json"), "not json")
	writeFile(t, filepath.Join(dir, "README.md"), "# not a document")

	snap, err := NewFileStore(dir).Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []evaluator.Policy{
		{Name: "ECS get only", Description: "reads", Document: []byte(`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:get*"]}]}`),
			Source: filepath.Join(dir, "policies", "wrapped.json") + ":4"},
		{Name: "bare", Document: []byte(`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:get*"]}]}`),
			Source: filepath.Join(dir, "policies", "bare.json") + ":1"},
	}
	if diff := cmp.Diff(want, snap.Data.Policies); diff != "" {
		t.Errorf("policies (-want +got):\n%s", diff)
	}
}

func TestFileStoreValidator(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "policies", "p.json"), `{"Version":"1.0","Statement":[]}`)
	reject := func(name string, doc []byte) error { return errors.New("Version: want 1.1") }
	_, err := NewFileStore(dir, WithValidator(reject)).Load(context.Background())
	if err == nil || !strings.Contains(err.Error(), `p.json:1: Version: want 1.1`) {
		t.Errorf("Load error = %v, want the validator's message located at p.json:1", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

// copyExample copies the example store into a temporary directory.
func copyExample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := os.CopyFS(dir, os.DirFS(exampleDir))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// writeFileAtomic replaces path by renaming a temporary file over it, as
// editors and configuration management tools do.
func writeFileAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func TestFileStoreJSONDocuments(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "store.json"), `{
  "users": [
    {"id": "u1", "name": "alice", "domain_id": "d1", "root": true}
  ],
  "groups": [{"id": "g1", "name": "admins", "domain_id": "d1"}],
  "memberships": [{"group": "g1", "user": "u1"}],
  "grants": [
    {"policy": "ECS ReadOnlyAccess", "group": "g1", "scope": "project", "scope_id": "p1"},
    {"policy": "ECS FullAccess", "user": "u1", "scope": "domain"}
  ],
  "servers": [{"id": "s1", "project_id": "p1", "tags": {"team": "dev"}}]
}`)
	snap, err := NewFileStore(dir).Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	path := filepath.Join(dir, "store.json")
	want := &evaluator.Data{
		Users:       []evaluator.User{{ID: "u1", Name: "alice", DomainID: "d1", Root: true}},
		Groups:      []evaluator.Group{{ID: "g1", Name: "admins", DomainID: "d1"}},
		Memberships: []evaluator.Membership{{GroupID: "g1", UserID: "u1"}},
		Grants: []evaluator.Grant{
			{Policy: "ECS ReadOnlyAccess", GroupID: "g1", Scope: evaluator.ScopeProject, ScopeID: "p1", Source: path + ":8"},
			{Policy: "ECS FullAccess", UserID: "u1", Scope: evaluator.ScopeDomain, Source: path + ":9"},
		},
		Servers: []evaluator.Server{{ID: "s1", ProjectID: "p1", EnterpriseProjectID: "0", Tags: map[string]string{"team": "dev"}}},
	}
	if diff := cmp.Diff(want, snap.Data, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
}
